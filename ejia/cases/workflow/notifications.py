"""SMS to applicants through the outbox: written inside the mover's transaction, sent after
commit, at least once. The dedup key makes a second enqueue of the same event a no-op, and
the claim (a conditional UPDATE) keeps two senders from sending one row at the same time.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from ejia.cases.workflow.models import NotificationTemplate, OutboxMessage
from ejia.core.idnumber import mask_in_text

logger = logging.getLogger("ejia.workflow.outbox")

DEFAULT_TEMPLATES: list[tuple[str, str, str]] = [
    (
        "step_moved",
        "办理进度",
        "【e家大救助】您的申请（受理号{reference}）中的{programme}已进入“{step}”环节，请留意后续通知。",
    ),
    ("returned", "退回补充", "【e家大救助】您的申请（受理号{reference}）中的{programme}需补充办理：{reason}。"),
    ("notice_published", "公示开始", "【e家大救助】您申请的{programme}已在{village}公示，公示期至{end_date}。"),
    ("withdrawn", "撤回确认", "【e家大救助】您已撤回申请（受理号{reference}）中的{programme}。"),
    (
        "decision_issued",
        "决定通知",
        "【e家大救助】您的申请（受理号{reference}）已办结：{summary}。决定通知书编号{number}，"
        "如有异议可在60日内申请复核或行政复议。",
    ),
]

CLAIM_SECONDS = 120
MAX_ATTEMPTS = 5


def templates_seed() -> int:
    have = set(NotificationTemplate.objects.values_list("code", flat=True))
    new = [NotificationTemplate(code=c, name=n, text=t) for c, n, t in DEFAULT_TEMPLATES if c not in have]
    NotificationTemplate.objects.bulk_create(new)
    return len(new)


class _Default(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render(code: str, context: dict) -> str | None:
    template = NotificationTemplate.objects.filter(code=code, active=True).first()
    if template is None:
        text = next((t for c, _, t in DEFAULT_TEMPLATES if c == code), None)
        if text is None:
            return None
    else:
        text = template.text
    return text.format_map(_Default({k: str(v) for k, v in context.items()}))


def outbox_enqueue(*, dedup_key: str, recipient: str, template: str, context: dict) -> OutboxMessage | None:
    """Write one message in the caller's transaction; the same key twice writes it once."""
    if not recipient:
        return None
    text = render(template, context)
    if text is None:
        return None
    try:
        with transaction.atomic():
            message = OutboxMessage.objects.create(
                dedup_key=dedup_key[:120], recipient=recipient, template=template, text=mask_in_text(text)
            )
    except IntegrityError:
        return None
    transaction.on_commit(_send_soon)
    return message


def _send_soon() -> None:
    try:
        outbox_send()
    except Exception:  # the command retries; a gateway error must not fail the user's request
        logger.exception("outbox send after commit failed")


class FileBackend:
    """Used when the cases app's backend setting is absent: log and append to a file."""

    def send(self, phone: str, text: str) -> None:
        path = Path(getattr(settings, "EJIA_SMS_LOG_FILE", Path(settings.VAR_DIR) / "sms.log"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{timezone.localtime():%Y-%m-%d %H:%M:%S} → {phone}: {text}\n")


def _backend():
    name = getattr(settings, "EJIA_SMS_BACKEND", "ejia.cases.workflow.notifications.FileBackend")
    return import_string(name)()


def outbox_send(*, limit: int = 200) -> int:
    """Send due messages; returns how many were sent. Safe to run in several processes."""
    now = timezone.now()
    sent = 0
    candidates = list(
        OutboxMessage.objects.filter(status=OutboxMessage.Status.PENDING)
        .exclude(claimed_until__gt=now)
        .values_list("pk", flat=True)[:limit]
    )
    backend = _backend()
    for pk in candidates:
        claimed = (
            OutboxMessage.objects.filter(pk=pk, status=OutboxMessage.Status.PENDING)
            .exclude(claimed_until__gt=now)
            .update(claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
        )
        if not claimed:
            continue
        message = OutboxMessage.objects.get(pk=pk)
        try:
            backend.send(message.recipient, message.text)
        except Exception as exc:
            attempts = message.attempts + 1
            status = OutboxMessage.Status.FAILED if attempts >= MAX_ATTEMPTS else OutboxMessage.Status.PENDING
            OutboxMessage.objects.filter(pk=pk).update(
                attempts=attempts, last_error=str(exc)[:500], status=status, claimed_until=None
            )
            continue
        OutboxMessage.objects.filter(pk=pk).update(
            status=OutboxMessage.Status.SENT, attempts=message.attempts + 1, sent_at=timezone.now()
        )
        sent += 1
    return sent
