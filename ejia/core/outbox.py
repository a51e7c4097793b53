"""The outbox: every message to a citizen is a row written in the transaction of the change
it reports, and sent from there at least once.

- `outbox_enqueue` writes the row in the caller's transaction (a crash before commit loses
  the change and its message together; after commit the row waits until it is sent). The
  dedup key makes a second enqueue of the same event a no-op.
- On commit the `send_outbox` task is queued; the task worker sends every due message
  (`outbox_send`, through the retry loop it shares with the DCI callbacks: ejia.core.retry).
  A sender claims a row with a conditional UPDATE, so two workers never send one row at the
  same time. A gateway error leaves the row pending with a backoff; after
  MAX_ATTEMPTS it is failed and shows on the county centre's outbox page, where staff can
  put it back in the queue (`outbox_retry`). `manage.py outbox_send` (cron, every minute)
  sends whatever a crash between commit and queueing left behind.
- A message without a valid mobile number is kept as `no_recipient`: visible, never silent.

Apps register their default texts (`register_templates`) in AppConfig.ready(); the
NotificationTemplate rows seeded from them may be edited.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from ejia.core import retry
from ejia.core.audit import audit_record
from ejia.core.idnumber import mask_in_text
from ejia.core.models import NotificationTemplate, OutboxMessage
from ejia.core.retry import RetryPolicy, SendResult
from ejia.core.sms import normalise_mobile, sms_backend

logger = logging.getLogger("ejia.outbox")

CLAIM_SECONDS = 120
MAX_ATTEMPTS = 5
# Wait after the n-th failed attempt before the next one.
BACKOFF = (dt.timedelta(minutes=1), dt.timedelta(minutes=5), dt.timedelta(minutes=30), dt.timedelta(hours=2))

_DEFAULTS: dict[str, tuple[str, str]] = {}


class OutboxError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def register_templates(templates: Iterable[tuple[str, str, str]]) -> None:
    """Default texts (code, name, text) an app sends; the first registration of a code wins."""
    for code, name, text in templates:
        _DEFAULTS.setdefault(code, (name, text))


def default_templates() -> dict[str, tuple[str, str]]:
    return dict(_DEFAULTS)


def templates_seed() -> int:
    have = set(NotificationTemplate.objects.values_list("code", flat=True))
    new = [NotificationTemplate(code=c, name=n, text=t) for c, (n, t) in _DEFAULTS.items() if c not in have]
    NotificationTemplate.objects.bulk_create(new)
    return len(new)


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def template_text(code: str) -> str:
    template = NotificationTemplate.objects.filter(code=code, active=True).values_list("text", flat=True).first()
    if template is not None:
        return template
    if code in _DEFAULTS:
        return _DEFAULTS[code][1]
    # A programming error, not the citizen's: fail the change loudly rather than drop the message.
    raise OutboxError(f"没有名为“{code}”的短信模板。")


def render(code: str, context: dict, *, text: str | None = None) -> str:
    text = template_text(code) if text is None else text
    return text.format_map(_Blank({k: str(v) for k, v in context.items()}))


@dataclass(frozen=True)
class Message:
    """One message to write (for `outbox_enqueue_many`)."""

    dedup_key: str
    recipient: str
    template: str
    context: dict
    area_path: str = ""
    subject: str = ""


def _row(message: Message, texts: dict[str, str]) -> OutboxMessage:
    if message.template not in texts:
        texts[message.template] = template_text(message.template)
    phone = normalise_mobile(message.recipient)
    row = OutboxMessage(
        dedup_key=message.dedup_key[:120],
        recipient=phone or (message.recipient or "")[:40],
        template=message.template,
        text=mask_in_text(render(message.template, message.context, text=texts[message.template])),
        area_path=message.area_path[:100],
        subject=message.subject[:64],
    )
    if not phone:
        row.status = OutboxMessage.Status.NO_RECIPIENT
        row.last_error = "未登记手机号码" if not (message.recipient or "").strip() else "手机号码格式不正确"
    return row


def outbox_enqueue(
    *, dedup_key: str, recipient: str, template: str, context: dict, area_path: str = "", subject: str = ""
) -> OutboxMessage | None:
    """Write one message in the caller's transaction; the same key twice writes it once (None)."""
    row = _row(Message(dedup_key, recipient, template, context, area_path, subject), {})
    try:
        with transaction.atomic():
            row.save(force_insert=True)
    except IntegrityError:
        return None
    if row.status == OutboxMessage.Status.PENDING:
        wake_after_commit()
    return row


def outbox_enqueue_many(messages: Iterable[Message], *, batch_size: int = 2000) -> int:
    """Write many messages at once (a batch's payment notices); keys already written are skipped."""
    texts: dict[str, str] = {}
    rows = [_row(m, texts) for m in messages]
    if not rows:
        return 0
    keys = [r.dedup_key for r in rows]
    have: set[str] = set()
    for start in range(0, len(keys), batch_size):
        have.update(
            OutboxMessage.objects.filter(dedup_key__in=keys[start : start + batch_size]).values_list(
                "dedup_key", flat=True
            )
        )
    rows = [r for r in rows if r.dedup_key not in have]
    OutboxMessage.objects.bulk_create(rows, batch_size=batch_size, ignore_conflicts=True)
    if any(r.status == OutboxMessage.Status.PENDING for r in rows):
        wake_after_commit()
    return len(rows)


def wake_after_commit() -> None:
    """`wake_sender` once the caller's transaction commits, once per transaction: a submission
    writes its receipt and its first step's message, and one send task sends both. A wake
    already registered stands for this one only if no rollback can drop it and keep this one
    (it was registered under no savepoint that this one is not also under)."""
    connection = transaction.get_connection()
    if connection.in_atomic_block:
        current = set(connection.savepoint_ids)
        if any(func is wake_sender and sids <= current for sids, func, _ in connection.run_on_commit):
            return
    transaction.on_commit(wake_sender)


def wake_sender() -> None:
    """Queue the send task (after commit). If even that fails, the row waits for the cron sweep."""
    from ejia.core.tasks import send_outbox

    try:
        send_outbox.enqueue()
    except Exception:  # the user's change is committed; never fail their request for this
        logger.exception("could not queue the outbox sender; `manage.py outbox_send` will send later")


POLICY = RetryPolicy(max_attempts=MAX_ATTEMPTS, backoff=BACKOFF, claim_seconds=CLAIM_SECONDS)


def outbox_send(*, limit: int = 500) -> SendResult:
    """Send due messages, at most `limit`. Safe to run in several processes at once."""
    backend = None

    def connect() -> None:
        nonlocal backend
        backend = sms_backend()

    def send(message: OutboxMessage) -> None:
        backend.send(message.recipient, message.text)

    return retry.send_due(
        OutboxMessage,
        POLICY,
        limit=limit,
        send=send,
        describe=lambda exc: f"{type(exc).__name__}: {exc}",
        prepare=connect,
        log=logger,
    )


def next_retry_at() -> dt.datetime | None:
    """When the earliest message waiting after a failure is due again."""
    return retry.next_retry_at(OutboxMessage)


def outbox_retry(*, actor, message: OutboxMessage) -> OutboxMessage:
    """重新发送: a failed message goes back in the queue with fresh attempts. The caller has
    checked that `actor` may see the message (scope lives above core)."""
    with transaction.atomic():
        locked = OutboxMessage.objects.select_for_update().get(pk=message.pk)
        if locked.status != OutboxMessage.Status.FAILED:
            raise OutboxError(
                f"该短信当前为“{locked.get_status_display()}”，只有发送失败的短信可以重新发送，请刷新后再试。"
            )
        fields = retry.requeue(locked)
        locked.retries += 1
        locked.retried_by = actor
        locked.retried_at = timezone.now()
        locked.save(update_fields=[*fields, "retries", "retried_by", "retried_at"])
        audit_record(
            actor=actor,
            action="core.outbox_retry",
            obj=locked,
            data={"template": locked.template, "subject": locked.subject, "retries": locked.retries},
        )
        transaction.on_commit(wake_sender)
    return locked
