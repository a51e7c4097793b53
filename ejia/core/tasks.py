"""Background tasks of the platform core: thin wrappers over services."""

from __future__ import annotations

from django_tasks import task

BATCH = 500


@task()
def send_outbox() -> int:
    """Send every due outbox message; returns how many went out. When a send failed and will
    be tried again, this task is queued for that moment (where the backend can defer; the
    cron sweep `manage.py outbox_send` covers the others)."""
    from ejia.core.models import OutboxMessage
    from ejia.core.outbox import outbox_send
    from ejia.core.retry import drain

    return drain(send_outbox, send=outbox_send, model=OutboxMessage, batch=BATCH)


@task()
def seal_access_events() -> int:
    """Seal the access events recorded since the last seal into the audit chain (the task form
    of `manage.py ejia_audit_seal`); returns how many were sealed."""
    from ejia.core.audit import access_seal

    return access_seal().sealed


@task()
def purge_access_events() -> int:
    """Delete the access events past their retention, whole sealed batches (the task form of
    `manage.py ejia_access_purge`); returns how many were deleted. Fails when a seal is found
    broken, so that the worker's log shows it."""
    from ejia.core.health import access_purge_recorded

    result = access_purge_recorded()
    if result.broken:
        raise RuntimeError(f"access seals kept, their rows do not match them: {result.broken[:20]}")
    return result.rows
