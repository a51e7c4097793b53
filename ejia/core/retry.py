"""One retry loop for the rows the platform sends out at least once: the SMS outbox
(ejia.core.outbox) and the DCI callbacks to partner registries (ejia.api.dci.delivery).

Such a row has `status` (pending, sent, failed), `attempts`, `last_error`, `next_attempt_at`,
`claimed_until` and `sent_at`. A sender claims a due row with a conditional UPDATE (so two
workers, or a worker and the cron sweep, never send one row at once), sends it, and records the
outcome: sent; or the error and the next attempt after a backoff; or, after the last attempt,
failed (kept, with its error, for the people who handle it). An operator's retry puts a failed
row back in the queue with fresh attempts (`requeue`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone

PENDING, SENT, FAILED = "pending", "sent", "failed"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff: tuple[dt.timedelta, ...]  # wait after the n-th failed attempt before the next one
    claim_seconds: int

    def wait_after(self, attempts: int) -> dt.timedelta:
        return self.backoff[min(attempts, len(self.backoff)) - 1]


@dataclass
class SendResult:
    due: int = 0  # rows picked up (some may have been claimed by another sender meanwhile)
    sent: int = 0
    waiting: int = 0  # failed this time, to be tried again after the backoff
    failed: int = 0  # failed for the last time: kept as failed, for the people who handle it


def due(model: type[models.Model], now: dt.datetime) -> models.QuerySet:
    return model.objects.filter(status=PENDING).exclude(claimed_until__gt=now).exclude(next_attempt_at__gt=now)


def send_due(
    model: type[models.Model],
    policy: RetryPolicy,
    *,
    limit: int,
    send: Callable[[models.Model], None],
    describe: Callable[[Exception], str] = str,
    gave_up: Callable[[models.Model, str], None] | None = None,
    prepare: Callable[[], None] | None = None,
    log: logging.Logger,
) -> SendResult:
    """Send due rows of `model`, at most `limit`; `send(row)` raises on failure. `gave_up(row,
    error)` runs in the transaction that marks a row failed for good (an audit event, say);
    `prepare()` runs once before the first send, only when something is due. Safe to run in
    several processes at once."""
    candidates = list(due(model, timezone.now()).order_by("pk").values_list("pk", flat=True)[:limit])
    result = SendResult(due=len(candidates))
    if candidates and prepare is not None:
        prepare()
    for pk in candidates:
        now = timezone.now()
        if not due(model, now).filter(pk=pk).update(claimed_until=now + dt.timedelta(seconds=policy.claim_seconds)):
            continue  # another sender has it
        row = model.objects.get(pk=pk)
        try:
            send(row)
        except Exception as exc:
            attempts = row.attempts + 1
            final = attempts >= policy.max_attempts
            error = describe(exc)[:500]
            with transaction.atomic():
                model.objects.filter(pk=pk).update(
                    attempts=attempts,
                    last_error=error,
                    status=FAILED if final else PENDING,
                    next_attempt_at=None if final else timezone.now() + policy.wait_after(attempts),
                    claimed_until=None,
                )
                if final and gave_up is not None:
                    gave_up(row, error)
            log.warning("%s %s attempt %s failed: %s", model._meta.verbose_name, pk, attempts, error)
            if final:
                result.failed += 1
            else:
                result.waiting += 1
            continue
        model.objects.filter(pk=pk).update(
            status=SENT,
            attempts=row.attempts + 1,
            last_error="",
            sent_at=timezone.now(),
            claimed_until=None,
            next_attempt_at=None,
        )
        result.sent += 1
    return result


def next_retry_at(model: type[models.Model]) -> dt.datetime | None:
    """When the earliest row waiting after a failure is due again."""
    return (
        model.objects.filter(status=PENDING, next_attempt_at__isnull=False)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def requeue(row: models.Model) -> list[str]:
    """Put a failed row (locked by the caller) back in the queue with fresh attempts; returns the
    fields changed, for the caller's save(update_fields=...)."""
    row.status = PENDING
    row.attempts = 0
    row.next_attempt_at = None
    row.claimed_until = None
    return ["status", "attempts", "next_attempt_at", "claimed_until"]


def drain(task, *, send: Callable[..., SendResult], model: type[models.Model], batch: int) -> int:
    """The body of a send task: send every due row in batches; when a send failed and will be
    tried again, queue `task` again for that moment (where the task backend can defer; the cron
    sweep covers the others). Returns how many rows went out."""
    from django_tasks import default_task_backend

    sent = waiting = 0
    while True:
        result = send(limit=batch)
        sent += result.sent
        waiting += result.waiting
        if result.due < batch:
            break
    again = next_retry_at(model) if waiting else None
    if again is not None and default_task_backend.supports_defer:
        task.using(run_after=again).enqueue()
    return sent
