"""Log filter: ID numbers never reach a log line in plaintext.

Every handler of the platform carries `MaskIdNumbersFilter` (settings.LOGGING): the root
console, Django's request loggers and runserver's request log (`django.server`); gunicorn's
access and error logs go through `MaskingGunicornLogger` (config/gunicorn.conf.py). A request
line or Referer can carry a number typed with spaces ("3716+0219…" or "3716%200219…"), and a
crash's traceback can quote one, so those are masked as well as the message itself.
"""

import logging
import re

from ejia.core import idnumber
from ejia.core.idnumber import mask_in_text

# Digits, perhaps with spaces between them as typed, and as they look in a URL ("+", "%20").
RUN = re.compile(r"\d(?:(?: |\+|%20)?\d)*(?:(?: |\+|%20)?[Xx])?")
TOKEN = re.compile(r"%20| |\+|([\dXx])")


def _mask_run(match: re.Match) -> str:
    run = match.group(0)
    # Where each digit (or final X) of the run sits in the text, separators skipped.
    spots = [t.start() for t in TOKEN.finditer(run) if t.group(1)]
    if len(spots) < 15:
        return run
    chars = list(run)
    digits = "".join(run[i] for i in spots).upper()
    for size in (18, 15):
        for start in range(len(digits) - size + 1):
            window = digits[start : start + size]
            if "X" in window[:-1] or not idnumber.is_valid(window):
                continue
            # The birth date goes, as idnumber.mask() and mask_in_text() hide it.
            for k in range(start + 6, start + (14 if size == 18 else 12)):
                chars[spots[k]] = "*"
    return "".join(chars)


def mask_log_text(text: str) -> str:
    """`text` with every ID number in it masked: whole (as `mask_in_text` does), typed with
    spaces, or of the old 15-digit kind; the birth date is hidden, as on every page."""
    if not text or not any(c.isdigit() for c in text):
        return text
    return RUN.sub(_mask_run, mask_in_text(text))


_traceback_formatter = logging.Formatter()


class MaskIdNumbersFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_log_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        # A formatter prints the traceback from `exc_text` when it is set: set it, masked.
        if record.exc_info and not record.exc_text:
            record.exc_text = _traceback_formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_log_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_log_text(record.stack_info)
        return True
