"""Staff sessions on shared PCs: they end when the browser closes, after
EJIA_SESSION_IDLE_MINUTES (30) without work, and EJIA_SESSION_ABSOLUTE_HOURS (8) after the
login whatever the activity.

"Work" is any request of the signed-in person except those marked `X-Ejia-Background: 1` (htmx
polls of a progress panel, the session clock asking how much time is left): a page left open on
a polling panel still ends. The clock is kept in the session itself (two integers); the last
activity is written at most once a minute, so that a busy person does not cost a session write
per request. `static/ejia/session.js` warns two minutes before the end (ejia/templates/staff_base.html).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.utils.translation import gettext as _

STARTED_KEY = "ejia_session_started"
ACTIVE_KEY = "ejia_session_active"
BACKGROUND_HEADER = "X-Ejia-Background"
LEFT_HEADER = "X-Ejia-Session-Left"
# Activity is recorded with this precision (seconds).
TOUCH_SECONDS = 60


@dataclass(frozen=True)
class SessionClock:
    idle_left: int
    absolute_left: int


def idle_seconds() -> int:
    return settings.EJIA_SESSION_IDLE_MINUTES * 60


def absolute_seconds() -> int:
    return settings.EJIA_SESSION_ABSOLUTE_HOURS * 3600


def session_begin(request) -> None:
    """At the login: the session ends with the browser, and its clock starts."""
    now = int(time.time())
    request.session.set_expiry(0)
    request.session[STARTED_KEY] = now
    request.session[ACTIVE_KEY] = now


def is_background(request) -> bool:
    return request.headers.get(BACKGROUND_HEADER) == "1"


def session_touch(request) -> SessionClock:
    """Count this request as work (the session clock's "继续工作" does that on purpose)."""
    now = int(time.time())
    request.session[ACTIVE_KEY] = now
    return _clock(request, now)


def _clock(request, now: int) -> SessionClock:
    started = request.session.get(STARTED_KEY, now)
    active = request.session.get(ACTIVE_KEY, now)
    return SessionClock(
        idle_left=max(0, active + idle_seconds() - now), absolute_left=max(0, started + absolute_seconds() - now)
    )


class StaffSessionMiddleware:
    """Placed after AuthenticationMiddleware and MessageMiddleware, before the pages' guards.
    An ended session is logged out; a staff page then goes to the login with the reason (htmx:
    by HX-Redirect), any other page is served to the now anonymous visitor."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        now = int(time.time())
        session = request.session
        if STARTED_KEY not in session:
            # A session opened another way (the test client, a release before this one).
            session[STARTED_KEY] = session.get(ACTIVE_KEY, now)
            session[ACTIVE_KEY] = now
        clock = _clock(request, now)
        if clock.absolute_left <= 0 or clock.idle_left <= 0:
            return self._ended(request, absolute=clock.absolute_left <= 0)
        if not is_background(request) and now - session[ACTIVE_KEY] >= TOUCH_SECONDS:
            session[ACTIVE_KEY] = now
            clock = _clock(request, now)
        request.staff_session = clock
        response = self.get_response(request)
        if getattr(request, "user", None) is not None and request.user.is_authenticated:
            response[LEFT_HEADER] = str(getattr(request, "staff_session", clock).idle_left)
        return response

    def _ended(self, request, *, absolute: bool):
        from ejia.accounts.middleware import STAFF_PREFIX, _go
        from ejia.core.audit import audit_record

        audit_record(
            actor=request.user,
            action="staff.session_expired",
            obj=request.user,
            data={"reason": "absolute" if absolute else "idle"},
        )
        logout(request)
        if not request.path.startswith(STAFF_PREFIX):
            return self.get_response(request)
        if absolute:
            text = _("登录已满%(hours)s小时，请重新登录。") % {"hours": settings.EJIA_SESSION_ABSOLUTE_HOURS}
        else:
            text = _("您已超过%(minutes)s分钟未操作，为保护个人信息已自动退出，请重新登录。") % {
                "minutes": settings.EJIA_SESSION_IDLE_MINUTES
            }
        messages.info(request, text)
        from ejia.accounts.views import login_url

        next_url = request.get_full_path() if request.method == "GET" and not is_background(request) else ""
        return _go(request, login_url(next_url))
