"""Browser fixtures for the e2e journeys (Playwright + Debian chromium).

One chromium per test session; every test gets a fresh context (cookies, storage) so tests
never leak state into each other. Tests use pytest-django's `live_server` (a transactional
database), log in through the real login form with `login()`, and save screenshots with
`screenshot()` into test-artifacts/screenshots/.

The pages run under the Content-Security-Policy production sends (no inline script, no eval):
give `page.wait_for_function` a function ("() => …"), never a bare expression, which chromium
would have to eval. A page that breaks the policy (chromium's console says so) fails its test.

    @pytest.mark.e2e
    def test_something(page, live_server, bob):
        login(page, live_server, bob)
        page.goto(live_server.url + "/staff/")
        screenshot(page, "staff-home")
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import TEST_PASSWORD, second_factor_device, totp_code

CHROMIUM = os.environ.get("EJIA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_DIR = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Generous enough for a loaded CI machine, short enough that a broken page fails fast.
TIMEOUT_MS = 20_000


@pytest.fixture(scope="session")
def browser() -> Iterator:
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    if not Path(CHROMIUM).exists():
        pytest.skip(f"chromium not found at {CHROMIUM}")
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


# What chromium says on the console when a page breaks the Content-Security-Policy (a refused
# inline script or style, a load from elsewhere) or names a feature the Permissions-Policy
# header does not know.
POLICY_COMPLAINT = re.compile(r"Content Security Policy|Permissions-Policy|Permissions Policy", re.I)


def _serial_live_server_on_sqlite() -> None:
    """On SQLite the live server shares the test's one in-memory connection with every request
    thread; two requests served at once (a lazy image still loading when the next click posts)
    break each other's transaction ("cannot start a transaction within a transaction"). Serve
    one request at a time there: Django's plain WSGIServer closes each connection after its
    answer, so the browser's parallel requests simply queue."""
    from django.conf import settings
    from django.core.servers.basehttp import WSGIServer
    from django.test.testcases import LiveServerThread

    class SerialWSGIServer(WSGIServer):
        def __init__(self, *args, connections_override=None, **kwargs):
            # Requests are served in the live server's own thread, which already uses the
            # shared connections (LiveServerThread.run installs them).
            super().__init__(*args, **kwargs)

    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        LiveServerThread.server_class = SerialWSGIServer


_serial_live_server_on_sqlite()


def _new_page(browser, request, **context_options):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", **context_options)
    context.set_default_timeout(TIMEOUT_MS)
    complaints: list[str] = []

    def on_console(msg) -> None:
        if POLICY_COMPLAINT.search(msg.text):
            complaints.append(f"{msg.page.url if msg.page else '?'}: {msg.text}")

    context.on("console", on_console)
    page = context.new_page()
    request.node._ejia_page = page
    return context, page, complaints


def _close(context, complaints: list[str]) -> None:
    """Every browser journey is also a check of the security headers: a page that the policy
    broke fails the test that opened it."""
    context.close()
    if complaints:
        pytest.fail("the browser refused something under the security headers:\n" + "\n".join(complaints))


@pytest.fixture
def page(browser, request) -> Iterator:
    """A desktop-sized page in a fresh browser context."""
    context, pg, complaints = _new_page(browser, request, viewport=DESKTOP)
    try:
        yield pg
    finally:
        _close(context, complaints)


@pytest.fixture
def phone_page(browser, request) -> Iterator:
    """A phone-sized page (390×844, touch, mobile layout) in a fresh browser context."""
    context, pg, complaints = _new_page(
        browser, request, viewport=PHONE, is_mobile=True, has_touch=True, device_scale_factor=1
    )
    try:
        yield pg
    finally:
        _close(context, complaints)


@pytest.fixture
def catalogue(transactional_db, org):
    """The seed catalogue (69 programmes, version 1 published, 2023 standards) for a live
    server test. Published versions are frozen by a database trigger; on SQLite the flush
    after a transactional test deletes row by row, so the rows are cleared here first."""
    from ejia.catalogue.seed import catalogue_seed
    from ejia.catalogue.selectors import engine_cache_clear

    engine_cache_clear()
    catalogue_seed()
    yield org
    engine_cache_clear()
    _clear_frozen_versions()


def _clear_frozen_versions() -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        return  # PostgreSQL's flush truncates, which row triggers do not see
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'catalogue_programmeversion'"
        )
        triggers = cursor.fetchall()
        for name, _sql in triggers:
            cursor.execute(f'DROP TRIGGER "{name}"')
        cursor.execute("DELETE FROM catalogue_programmeversion")
        for _name, sql in triggers:
            cursor.execute(sql)


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "page"


def screenshot(page, name: str, *, full_page: bool = True) -> Path:
    """Save a screenshot as test-artifacts/screenshots/<name>.png and return the path."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{_safe(name)}.png"
    page.screenshot(path=str(path), full_page=full_page)
    # A full-page screenshot scrolls lazy images (home-visit photos) into view, and the browser
    # fetches them after the shot. On SQLite the live server shares the test's database
    # connection: a test that writes to the database while such a request is served breaks the
    # transaction ("cannot start a transaction within a transaction"). Wait until it is served.
    page.wait_for_load_state("networkidle")
    return path


def go(page, target) -> None:
    """Click something that loads a new page (a link, or a form posted without htmx) and wait
    until the new page has loaded, so that what follows reads the new page, never the old one
    or a document that has no body yet. ``target`` is a selector or a Locator."""
    with page.expect_navigation():
        if isinstance(target, str):
            page.click(target)
        else:
            target.click()


def login(page, live_server, user, *, password: str = TEST_PASSWORD, next_url: str = "") -> None:
    """Log a staff member in through the real login form, then the second factor page with the
    code their authenticator shows (enrolled beforehand if they have none yet)."""
    second_factor_device(user)
    url = f"{live_server.url}/staff/login/"
    if next_url:
        url += f"?next={next_url}"
    page.goto(url)
    page.fill("#id_username", user.username)
    page.fill("#id_password", password)
    with page.expect_navigation():
        page.click("button[type=submit]")
    if "/staff/login/" in page.url:
        raise AssertionError(f"login failed for {user.username}: {page.inner_text('main')[:200]}")
    if "/staff/second-factor/" in page.url:
        page.fill("#id_code", totp_code(user))
        with page.expect_navigation():
            page.click("[data-testid=otp-submit]")
        if "/staff/second-factor/" in page.url:
            raise AssertionError(f"second factor failed for {user.username}: {page.inner_text('main')[:200]}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing browser test leaves a screenshot named after it, to see what went wrong."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        pg = getattr(item, "_ejia_page", None)
        if pg is not None and not pg.is_closed():
            # A screenshot must never hide the real failure.
            with contextlib.suppress(Exception):
                screenshot(pg, f"FAILED-{item.name}")
