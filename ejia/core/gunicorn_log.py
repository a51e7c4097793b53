"""Gunicorn's access and error logs, with ID numbers masked (config/gunicorn.conf.py names it).

Gunicorn writes its own logs, outside Django's LOGGING: the access log line holds the request
line, the query string and the Referer, any of which can carry an ID number (an old bookmark,
a typed address). Every value the access log format can name is masked before formatting, and
both loggers carry the platform's masking filter as well, for whatever else gunicorn logs.
"""

from __future__ import annotations

from gunicorn.glogging import Logger

from ejia.core.logging import MaskIdNumbersFilter, mask_log_text


class MaskingGunicornLogger(Logger):
    def setup(self, cfg) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, MaskIdNumbersFilter) for f in log.filters):
                log.addFilter(MaskIdNumbersFilter())

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: mask_log_text(value) if isinstance(value, str) else value for key, value in atoms.items()}
