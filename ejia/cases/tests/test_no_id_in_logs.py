"""No valid ID number in any log line (issue 15): everything the configured handlers write at
DEBUG (the root console, Django's request loggers, runserver's request log, the SQL log), and
gunicorn's access log through the class config/gunicorn.conf.py names, while a clerk takes an
application to the end, searches by ID number (also from an old bookmark and a Referer that
still carry one), downloads a receipt, and meets a 403, a 404 and a 500."""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
import runpy
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from urllib.parse import quote, unquote_plus

import pytest
from django.conf import settings
from django.core.servers.basehttp import WSGIRequestHandler
from django.db import connection
from django.urls import reverse

import config.urls
from ejia.cases.models import Case
from ejia.cases.tests.conftest import signature_data_url
from ejia.cases.tests.test_intake_views import household_post, population  # noqa: F401 (fixture)
from ejia.core import idnumber

pytestmark = pytest.mark.django_db

LOGGERS = ("", "django", "django.request", "django.server", "django.security", "django.db.backends", "ejia")


def boom_view(request):
    """A crash whose message quotes the number it was given (as careless code would)."""
    raise RuntimeError(f"lookup of {request.GET.get('id', '')} failed")


urlpatterns = [config.urls.path("staff/boom/", boom_view), *config.urls.urlpatterns]
handler403 = config.urls.handler403
handler404 = config.urls.handler404
handler500 = config.urls.handler500


@dataclass
class Visit:
    method: str
    full_path: str
    status: int
    size: int
    meta: dict
    headers: list[tuple[str, str]]


class Logs:
    """Every configured handler of the platform's loggers, and gunicorn's, writing into one
    buffer; the requests made, to replay through runserver's and gunicorn's request logs."""

    def __init__(self):
        self.buffer = io.StringIO()
        self.visits: list[Visit] = []

    def visit(self, client, method: str, path: str, data=None, **extra):
        response = getattr(client, method)(path, data or {}, **extra)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        request = response.wsgi_request
        self.visits.append(
            Visit(
                method.upper(), request.get_full_path(), response.status_code, len(body), request.META, response.items()
            )
        )
        return response

    def text(self) -> str:
        return self.buffer.getvalue()


def configured_handlers(logger: logging.Logger) -> list[logging.Handler]:
    # pytest's own capture handlers are not the platform's.
    return [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]


@pytest.fixture
def logs(settings):
    captured = Logs()
    restore = []
    for name in LOGGERS:
        logger = logging.getLogger(name)
        restore.append((logger.setLevel, logger.level))
        logger.setLevel(logging.DEBUG)
        for handler in configured_handlers(logger):
            # Every handler writes a stream we can read: none may send text elsewhere unseen
            # (Django's mail_admins handler would mail the request unmasked).
            assert isinstance(handler, logging.StreamHandler), (name, handler)
            restore.append((handler.setStream, handler.setStream(captured.buffer)))
            restore.append((handler.setLevel, handler.level))
            handler.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True  # the SQL log (django.db.backends) too
    settings.ROOT_URLCONF = __name__
    yield captured
    connection.force_debug_cursor = False
    for undo, value in reversed(restore):
        undo(value)


def runserver_log(visits: list[Visit]) -> None:
    """Each request as runserver's request handler logs it (logger "django.server")."""
    for v in visits:
        handler = WSGIRequestHandler.__new__(WSGIRequestHandler)
        handler.requestline = f"{v.method} {v.full_path} HTTP/1.1"
        handler.request = None
        handler.client_address = ("127.0.0.1", 50000)
        handler.log_request(v.status, v.size)


def gunicorn_log(visits: list[Visit], buffer: io.StringIO) -> None:
    """Each request through gunicorn's access log, as config/gunicorn.conf.py sets it up."""
    from gunicorn.config import Config

    cfg = Config()
    for key, value in runpy.run_path(str(settings.BASE_DIR / "config" / "gunicorn.conf.py")).items():
        if key in cfg.settings:
            cfg.set(key, value)
    logger = cfg.logger_class(cfg)
    assert type(logger).__name__ == "MaskingGunicornLogger"
    try:
        for log in (logger.access_log, logger.error_log):
            for handler in log.handlers:
                handler.setStream(buffer)
        for v in visits:
            path, _, query = v.full_path.partition("?")
            environ = {**v.meta, "RAW_URI": v.full_path, "PATH_INFO": path, "QUERY_STRING": query}
            request_headers = [
                (k[5:].replace("_", "-"), str(val)) for k, val in v.meta.items() if k.startswith("HTTP_")
            ]
            response = SimpleNamespace(status=f"{v.status} X", sent=v.size, headers=v.headers)
            logger.access(response, SimpleNamespace(headers=request_headers), environ, dt.timedelta(milliseconds=12))
        logger.error("Error handling request %s", visits[0].full_path)
    finally:
        for log in (logger.access_log, logger.error_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            for f in list(log.filters):
                log.removeFilter(f)


def valid_id_numbers(text: str, typed: list[str]) -> set[str]:
    """Valid ID numbers in `text` (idnumber's own pattern and check), and any of the numbers
    the test typed, also spelt with spaces, "+" or "%20" between the digits."""
    # One number whatever the case of its check letter (a trailing x is the same number as X).
    found = {m.group(0).upper() for m in idnumber.ID_PATTERN.finditer(text) if idnumber.is_valid(m.group(0))}
    squeezed = re.sub(r"(?:\s|\+|%20)", "", text)
    decoded = unquote_plus(text)
    for number in typed:
        if number in squeezed or number in decoded or number.lower() in squeezed:
            found.add(number)
    return found


def test_no_log_line_holds_an_id_number(client, bob, carol, population, catalogue, logs):  # noqa: F811
    head, wife = population
    client.raise_request_exception = False
    client.force_login(bob)
    # An intake from the ID number to the receipt.
    logs.visit(client, "post", reverse("cases:intake_start"), {"id_number": head})
    household_post(client)
    logs.visit(client, "post", reverse("cases:intake_needs"), {"needs": ["illness"], "needs_note": f"身份证{head}"})
    client.post(reverse("cases:intake_plan"), {"programmes": ["dibao"]})
    adults = client.get(reverse("cases:intake_authorise")).context["rows"]
    client.post(reverse("cases:intake_authorise"), {f"sig_{a['m']['key']}": signature_data_url() for a in adults})
    key = client.get(reverse("cases:intake_materials")).context["draft"].idempotency_key
    submitted = logs.visit(client, "post", reverse("cases:intake_submit"), {"idempotency_key": key})
    case = Case.objects.get()
    assert submitted.status_code == 302
    # Searches by ID number: the forms, an old bookmark, a number typed with spaces, a Referer.
    spaced = " ".join(wife[i : i + 4] for i in range(0, 18, 4))
    found = logs.visit(client, "post", reverse("registry:household_search"), {"q": wife})
    logs.visit(client, "get", found["Location"])
    logs.visit(client, "post", reverse("cases:queue"), {"q": head}, headers={"HX-Request": "true"})
    bookmark = reverse("registry:household_search") + f"?q={head}"
    logs.visit(client, "get", bookmark, HTTP_REFERER=f"http://testserver{bookmark}")
    logs.visit(client, "get", reverse("cases:queue") + "?q=" + quote(spaced), HTTP_REFERER=f"http://x/?q={wife}")
    logs.visit(client, "get", reverse("registry:household_search") + "?q=" + spaced.replace(" ", "+"))
    # The receipt.
    receipt = logs.visit(client, "get", reverse("cases:case_receipt", args=[case.public_id]))
    assert receipt.status_code == 200 and receipt["Content-Type"] == "application/pdf"
    # A 404 with the number in the path and the query, a 403, a 500 that quotes the number.
    assert logs.visit(client, "get", f"/staff/cases/{head}/?q={wife}").status_code == 404
    assert logs.visit(client, "get", reverse("cases:case_detail", args=[uuid.uuid4()])).status_code == 404
    client.force_login(carol)
    refused = logs.visit(client, "get", reverse("cases:case_detail", args=[case.public_id]) + f"?q={head}")
    assert refused.status_code == 403
    assert logs.visit(client, "get", f"/staff/boom/?id={head}").status_code == 500
    # The citizen's tracker (the last six characters are no ID number, and are posted).
    logs.visit(client, "post", reverse("citizen:track"), {"reference": case.reference, "id_last6": head[-6:]})

    runserver_log(logs.visits)
    gunicorn_log(logs.visits, logs.buffer)
    text = logs.text()
    # The numbers did reach the logs, masked: the capture saw what it had to see.
    assert f'"GET /staff/cases/{head[:6]}********{head[-4:]}/?q={wife[:6]}********{wife[-4:]} HTTP/1.1" 404' in text
    assert "Internal Server Error: /staff/boom/" in text and f"RuntimeError: lookup of {head[:6]}****" in text
    assert "Forbidden" in text and "Not Found" in text and "SELECT" in text
    assert f"http://testserver/staff/registry/households/?q={head[:6]}********" in text  # the Referer
    assert valid_id_numbers(text, [head, wife]) == set()


def test_the_detector_sees_a_number_in_every_spelling(population):  # noqa: F811
    head, _ = population
    spaced = " ".join(head[i : i + 4] for i in range(0, 18, 4))
    for line in (head, f"q={spaced.replace(' ', '+')}", f"q={quote(spaced)}", f"x {head.lower()} y"):
        assert valid_id_numbers(f"GET /?{line} 200", [head]) == {head}, line
    assert valid_id_numbers(f"GET /?q={head} 200", []) == {head}
