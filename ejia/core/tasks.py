"""Background tasks of the platform core: thin wrappers over services."""

from __future__ import annotations

from django_tasks import default_task_backend, task

BATCH = 500


@task()
def send_outbox() -> int:
    """Send every due outbox message; returns how many went out. When a send failed and will
    be tried again, this task is queued for that moment (where the backend can defer; the
    cron sweep `manage.py outbox_send` covers the others)."""
    from ejia.core.outbox import next_retry_at, outbox_send

    sent = waiting = 0
    while True:
        result = outbox_send(limit=BATCH)
        sent += result.sent
        waiting += result.waiting
        if result.due < BATCH:
            break
    due = next_retry_at() if waiting else None
    if due is not None and default_task_backend.supports_defer:
        send_outbox.using(run_after=due).enqueue()
    return sent


@task()
def seal_access_events() -> int:
    """Seal the access events recorded since the last seal into the audit chain (the task form
    of `manage.py ejia_audit_seal`); returns how many were sealed."""
    from ejia.core.audit import access_seal

    return access_seal().sealed
