"""Text messages to citizens: one backend, named by `settings.EJIA_SMS_BACKEND`.

The default (`ConsoleFileBackend`) writes each message to the log and appends it to
`EJIA_SMS_LOG_FILE`, so the demo needs no gateway; tests use `MemoryBackend`; production
names its gateway adapter, a class with the same `send(phone, text)` method that raises on
failure.

Messages reach the backend from the outbox (`ejia.core.outbox`), written in the transaction
of the change they report. Only the one-time login code is handed to `sms_send` directly:
it is a secret (only its hash is stored) and worthless after five minutes, so it must not
sit readable in the outbox table or be re-sent later.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from ejia.core.idnumber import mask_in_text

logger = logging.getLogger("ejia.sms")

MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def normalise_mobile(raw: str) -> str:
    """The 11-digit mainland mobile number in `raw` (spaces, dashes and +86 dropped), or ""."""
    phone = re.sub(r"[\s-]", "", raw or "").removeprefix("+86")
    return phone if MOBILE_RE.match(phone) else ""


def mask_phone(phone: str) -> str:
    """13812345678 → 138****5678: what staff pages show of a citizen's number."""
    phone = phone or ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 7 else "****" if phone else ""


class ConsoleFileBackend:
    def send(self, phone: str, text: str) -> None:
        line = f"{timezone.localtime():%Y-%m-%d %H:%M:%S} → {phone}: {mask_in_text(text)}"
        logger.info("SMS %s", line)
        path = Path(settings.EJIA_SMS_LOG_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class MemoryBackend:
    """For tests: what was handed to the gateway lands in `MemoryBackend.sent`."""

    sent: list[tuple[str, str, dt.datetime]] = []

    def send(self, phone: str, text: str) -> None:
        type(self).sent.append((phone, mask_in_text(text), timezone.now()))


def sms_backend():
    return import_string(settings.EJIA_SMS_BACKEND)()


def sms_send(*, phone: str, text: str) -> None:
    """Hand one message to the gateway now; raises whatever the gateway raises."""
    sms_backend().send(phone, text)
