"""The staff session's clock in the browser: two minutes before the idle limit a warning shows
over the page; "继续工作" keeps the session and the warning goes; at the end the page goes to
the login with the reason."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.backends.db import SessionStore

from e2e.conftest import login, screenshot
from ejia.accounts.sessions import ACTIVE_KEY


def server_idle_for(page, seconds: int) -> None:
    key = next(c["value"] for c in page.context.cookies() if c["name"] == "sessionid")
    session = SessionStore(key)
    session[ACTIVE_KEY] = int(time.time()) - seconds
    session.save()


@pytest.mark.e2e
def test_the_warning_shows_before_the_idle_end_and_continue_keeps_the_session(page, live_server, bob):
    login(page, live_server, bob)
    page.clock.install()
    page.goto(live_server.url + "/staff/cases/")
    warning = page.locator("[data-testid=session-clock]")
    assert warning.is_hidden()

    page.clock.fast_forward("27:00")
    assert warning.is_hidden()
    page.clock.fast_forward("01:30")  # 90 seconds left
    warning.wait_for(state="visible")
    assert "自动退出" in warning.inner_text()
    screenshot(page, "session-about-to-end", full_page=False)
    page.click("[data-testid=session-extend]")
    warning.wait_for(state="hidden")

    # Then nobody works: at the end the page asks the server, which ended the session.
    page.clock.fast_forward("28:30")
    warning.wait_for(state="visible")
    server_idle_for(page, 30 * 60 + 5)
    with page.expect_navigation(url="**/staff/login/**"):
        page.clock.fast_forward("02:00")
    assert "您已超过30分钟未操作" in page.inner_text("main")
