"""Background tasks of the dashboards: thin wrappers over ejia/dashboards/refresh.py."""

from __future__ import annotations

import datetime as dt

from django_tasks import task


@task(queue_name="bulk")
def refresh_dashboards(
    trigger: str = "nightly", months: list[str] | None = None, parts: list[str] | None = None
) -> int:
    """Refresh the given months (ISO dates), or the last twelve, of the given parts (all when
    None); returns how many failed."""
    from ejia.dashboards.refresh import recent_months, refresh

    chosen = [dt.date.fromisoformat(m) for m in months] if months else recent_months()
    return sum(run.status == "failed" for run in refresh(months=chosen, trigger=trigger, parts=parts))


def enqueue_after_commit(*, trigger: str, months: list[dt.date] | None = None, parts: list[str] | None = None) -> None:
    """Queue a refresh (of `parts` only, when given) once the caller's transaction commits; a
    queueing error is logged only."""
    import logging

    from django.db import transaction

    def _enqueue() -> None:
        try:
            refresh_dashboards.enqueue(
                trigger=trigger,
                months=[m.isoformat() for m in months] if months else None,
                parts=list(parts) if parts else None,
            )
        except Exception:
            logging.getLogger(__name__).exception("could not queue the dashboards refresh")

    transaction.on_commit(_enqueue)


def enqueue_current_after_commit(*, trigger: str, parts: list[str]) -> None:
    """Queue a refresh of this month's `parts` once the caller's transaction commits (a business
    action that changed what they count); the nightly run covers anything missed."""
    from django.utils import timezone

    enqueue_after_commit(trigger=trigger, months=[timezone.localdate().replace(day=1)], parts=parts)
