"""Text messages to citizens through a pluggable backend (settings.EJIA_SMS_BACKEND).

The default writes each message to the console log and appends it to var/sms.log, so a
demo needs no SMS gateway; production names a class with the same `send` method.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

from ejia.core.idnumber import mask_in_text

logger = logging.getLogger("ejia.sms")


class ConsoleFileBackend:
    def send(self, phone: str, text: str) -> None:
        line = f"{timezone.localtime():%Y-%m-%d %H:%M:%S} → {phone}: {mask_in_text(text)}"
        logger.info("SMS %s", line)
        path = Path(settings.EJIA_SMS_LOG_FILE)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


class MemoryBackend:
    """For tests: messages land in `MemoryBackend.outbox`."""

    outbox: list[tuple[str, str, dt.datetime]] = []

    def send(self, phone: str, text: str) -> None:
        type(self).outbox.append((phone, mask_in_text(text), timezone.now()))


def sms_send(*, phone: str, text: str) -> None:
    import_string(settings.EJIA_SMS_BACKEND)().send(phone, text)
