"""Log filter: ID numbers never reach a log line in plaintext."""

import logging

from ejia.core.idnumber import mask_in_text


class MaskIdNumbersFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_in_text(message)
        if masked != message:
            record.msg, record.args = masked, ()
        return True
