"""Background tasks of the dashboards: thin wrappers over ejia/dashboards/refresh.py."""

from __future__ import annotations

import datetime as dt

from django_tasks import task


@task(queue_name="bulk")
def refresh_dashboards(
    trigger: str = "nightly", months: list[str] | None = None, parts: list[str] | None = None
) -> int:
    """Refresh the given months (ISO dates), or the nightly months (the last three), of the given
    parts (all when None); returns how many failed."""
    from ejia.dashboards.refresh import NIGHTLY_MONTHS, recent_months, refresh

    chosen = [dt.date.fromisoformat(m) for m in months] if months else recent_months(count=NIGHTLY_MONTHS)
    return sum(run.status == "failed" for run in refresh(months=chosen, trigger=trigger, parts=parts))


def enqueue_after_commit(*, trigger: str, months: list[dt.date] | None = None, parts: list[str] | None = None) -> None:
    """Queue a refresh (of `parts` only, when given) once the caller's transaction commits; a
    queueing error is logged only."""
    import logging

    from django.db import transaction

    def _enqueue() -> None:
        try:
            if _same_refresh_waiting(months=months, parts=parts):
                return
            refresh_dashboards.enqueue(
                trigger=trigger,
                months=[m.isoformat() for m in months] if months else None,
                parts=list(parts) if parts else None,
            )
        except Exception:
            logging.getLogger(__name__).exception("could not queue the dashboards refresh")

    transaction.on_commit(_enqueue)


def _same_refresh_waiting(*, months: list[dt.date] | None, parts: list[str] | None) -> bool:
    """True when a refresh of the same months and parts is queued and not started yet: a busy day
    of decisions then costs one refresh per wait, not one per decision (it will see them all)."""
    from django.conf import settings

    if settings.TASKS["default"]["BACKEND"] != "django_tasks_db.DatabaseBackend":
        return False
    from django_tasks.base import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    wanted = (sorted(m.isoformat() for m in months) if months else None, sorted(parts) if parts else None)
    waiting = DBTaskResult.objects.filter(
        status=TaskResultStatus.READY, task_path=refresh_dashboards.module_path
    ).values_list("args_kwargs", flat=True)
    for args_kwargs in waiting[:50]:
        kwargs = (args_kwargs or {}).get("kwargs", {})
        months_q, parts_q = kwargs.get("months"), kwargs.get("parts")
        if (sorted(months_q) if months_q else None, sorted(parts_q) if parts_q else None) == wanted:
            return True
    return False


def enqueue_current_after_commit(*, trigger: str, parts: list[str]) -> None:
    """Queue a refresh of this month's `parts` once the caller's transaction commits (a business
    action that changed what they count); the nightly run covers anything missed."""
    from django.utils import timezone

    enqueue_after_commit(trigger=trigger, months=[timezone.localdate().replace(day=1)], parts=parts)
