"""Staff sessions on shared PCs: they end with the browser, after 30 minutes without work and 8
hours after the login whatever the activity; background polls are not work; the session clock
tells the page how long is left and its "继续工作" keeps the session."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.urls import reverse

from conftest import login_with_code
from ejia.accounts.sessions import ACTIVE_KEY, STARTED_KEY
from ejia.core.models import AuditEvent

BACKGROUND = {"X-Ejia-Background": "1"}


def shift(client: Client, *, active_ago: int | None = None, started_ago: int | None = None) -> None:
    """Move the session's clock back, as if that much time had passed."""
    session = client.session
    now = int(time.time())
    if active_ago is not None:
        session[ACTIVE_KEY] = now - active_ago
    if started_ago is not None:
        session[STARTED_KEY] = now - started_ago
    session.save()


@pytest.fixture
def bobs(bob) -> Client:
    client = Client()
    login_with_code(client, bob)
    return client


def test_a_staff_session_ends_with_the_browser(bobs):
    cookie = bobs.cookies["sessionid"]
    assert cookie["max-age"] == "" and cookie["expires"] == ""
    assert bobs.session.get_expire_at_browser_close()


def test_thirty_minutes_without_work_end_the_session(bobs, bob, settings):
    assert settings.EJIA_SESSION_IDLE_MINUTES == 30
    shift(bobs, active_ago=29 * 60)
    assert bobs.get("/staff/cases/").status_code == 200  # work: the idle time starts again
    shift(bobs, active_ago=30 * 60 + 1)
    response = bobs.get("/staff/cases/")
    assert response.status_code == 302 and response["Location"] == "/staff/login/?next=%2Fstaff%2Fcases%2F"
    page = bobs.get(response["Location"]).content.decode()
    assert "您已超过30分钟未操作" in page
    assert "_auth_user_id" not in bobs.session
    event = AuditEvent.objects.get(action="staff.session_expired")
    assert event.actor == bob and event.data == {"reason": "idle"}


def test_the_idle_time_is_a_setting(bobs, settings):
    settings.EJIA_SESSION_IDLE_MINUTES = 5
    shift(bobs, active_ago=5 * 60 + 1)
    assert bobs.get("/staff/")["Location"].startswith("/staff/login/")


def test_background_polls_are_not_work(bobs):
    shift(bobs, active_ago=20 * 60)
    for _ in range(3):
        assert bobs.get("/staff/cases/", headers=BACKGROUND).status_code == 200
    assert time.time() - bobs.session[ACTIVE_KEY] >= 20 * 60
    shift(bobs, active_ago=30 * 60 + 1)
    # An htmx poll of an ended session asks htmx to load the login page.
    response = bobs.get("/staff/cases/", headers={**BACKGROUND, "HX-Request": "true"})
    assert response.status_code == 204 and response["HX-Redirect"] == "/staff/login/"


def test_eight_hours_end_the_session_whatever_the_activity(bobs):
    shift(bobs, started_ago=8 * 3600 - 60, active_ago=0)
    assert bobs.get("/staff/").status_code == 200
    shift(bobs, started_ago=8 * 3600 + 1, active_ago=0)
    response = bobs.get("/staff/", follow=True)
    assert "登录已满8小时" in response.content.decode()
    assert AuditEvent.objects.get(action="staff.session_expired").data == {"reason": "absolute"}


def test_the_session_clock_says_what_is_left_and_continue_keeps_the_session(bobs):
    shift(bobs, active_ago=28 * 60, started_ago=60 * 60)
    left = bobs.get(reverse("accounts:session"), headers=BACKGROUND).json()
    assert 100 <= left["idle_left"] <= 120 and 7 * 3600 - 5 <= left["absolute_left"] <= 7 * 3600
    assert bobs.get(reverse("accounts:session")).status_code == 405  # a plain GET is not the clock
    kept = bobs.post(reverse("accounts:session")).json()
    assert kept["idle_left"] >= 30 * 60 - 5
    assert time.time() - bobs.session[ACTIVE_KEY] < 5
    # Pages carry the clock, and every answer says what is left.
    response = bobs.get("/staff/")
    html = response.content.decode()
    assert 'data-testid="session-clock"' in html and "继续工作" in html and "ejia/session.js" in html
    assert int(response["X-Ejia-Session-Left"]) >= 30 * 60 - 5


def test_an_ended_session_on_a_citizen_page_just_signs_out(bobs):
    shift(bobs, active_ago=31 * 60)
    assert bobs.get("/").status_code == 200
    assert "_auth_user_id" not in bobs.session
