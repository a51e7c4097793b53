"""Release smoke, the Python half of scripts/release_smoke.sh (which sets the environment).

    release_smoke.py session            a signed-in staff session for the smoke; prints the
                                        cookie that carries it (name=value)
    release_smoke.py check URL COOKIE   the security headers of the server at URL (gunicorn under
                                        production settings), signed out and with that cookie

`session` runs Django under DJANGO_SETTINGS_MODULE (production settings): it makes the smoke's
own window clerk (1 city, 1 county, 1 township of the real division list) and signs them in the
way the login view does, so no password and no browser are needed. When a second factor is
installed (django-otp), the session is marked as having passed it with a device made for the
smoke, as django_otp.login does after a correct code.

`check` is the standard library only: it speaks HTTP to the server as the HTTPS proxy would
(X-Forwarded-Proto: https) and exits 1, listing every problem, if a header is missing or wrong.
"""

from __future__ import annotations

import http.client
import re
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
SMOKE_USERNAME = "release_smoke"
TOWNSHIP = "371602001"  # 滨城区 市中街道


# ---------------------------------------------------------------- session (Django)


def smoke_session() -> str:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import login
    from django.contrib.auth.models import AnonymousUser
    from django.http import HttpRequest

    user = _smoke_user()
    request = HttpRequest()
    request.META["REMOTE_ADDR"] = "127.0.0.1"
    request.session = import_module(settings.SESSION_ENGINE).SessionStore()
    request.user = AnonymousUser()  # as AuthenticationMiddleware leaves it; login() replaces it
    login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
    _second_factor_passed(request, user)
    request.session.save()
    return f"{settings.SESSION_COOKIE_NAME}={request.session.session_key}"


def _smoke_user():
    from django.db import transaction

    from ejia.accounts.models import OrgUnit, Role, User
    from ejia.accounts.services import (
        departments_ensure,
        divisions_upsert,
        orgunits_ensure,
        password_suggest,
        read_base_divisions,
        staff_create,
    )

    existing = User.objects.filter(username=SMOKE_USERNAME).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        rows = [r for r in read_base_divisions() if r.code in ("371600", TOWNSHIP[:6], TOWNSHIP)]
        divisions_upsert(rows)
        departments_ensure()
        orgunits_ensure()
        return staff_create(
            actor=None,
            username=SMOKE_USERNAME,
            password=password_suggest(),  # never used: the session is made directly
            display_name="发布冒烟测试",
            unit=OrgUnit.objects.get(division__code=TOWNSHIP, kind=OrgUnit.Kind.WINDOW),
            roles=[Role.WINDOW_CLERK],
            must_change_password=False,
        )


def _second_factor_passed(request, user) -> None:
    from django.apps import apps

    if not apps.is_installed("django_otp.plugins.otp_totp"):
        return
    from django_otp import login as otp_login
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device, _ = TOTPDevice.objects.get_or_create(user=user, name="release smoke", defaults={"confirmed": True})
    otp_login(request, device)


# ---------------------------------------------------------------- check (standard library)


class Server:
    def __init__(self, base: str):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def wait(self, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.get("/staff/login/")
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def get(self, path: str, *, cookie: str = "", https: bool = True) -> tuple[int, http.client.HTTPMessage, str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
        headers = {"Host": self.host}
        if https:
            headers["X-Forwarded-Proto"] = "https"  # as the HTTPS proxy in front of gunicorn says
        if cookie:
            headers["Cookie"] = cookie
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            return response.status, response.headers, response.read().decode("utf-8", "replace")
        finally:
            conn.close()


def policy(headers) -> dict[str, list[str]]:
    directives = {}
    for part in (headers.get("Content-Security-Policy") or "").split(";"):
        if part.strip():
            name, *values = part.split()
            directives[name] = values
    return directives


def document_problems(what: str, headers, *, private: bool) -> list[str]:
    """What every HTML page must carry; `private` pages also no-store."""
    problems = []
    csp = policy(headers)
    raw = headers.get("Content-Security-Policy") or ""
    if not csp:
        problems.append(f"{what}: no Content-Security-Policy")
    else:
        for name, want in {
            "script-src": ["'self'"],
            "style-src": ["'self'"],
            "frame-ancestors": ["'none'"],
            "object-src": ["'none'"],
        }.items():
            if csp.get(name) != want:
                problems.append(f"{what}: CSP {name} is {csp.get(name)}, expected {want}")
        if "unsafe-inline" in raw or "unsafe-eval" in raw:
            problems.append(f"{what}: CSP allows unsafe-inline/unsafe-eval: {raw}")
    permissions = headers.get("Permissions-Policy") or ""
    for feature in ("camera", "microphone", "geolocation", "payment"):
        if f"{feature}=()" not in permissions:
            problems.append(f"{what}: Permissions-Policy does not turn {feature} off: {permissions!r}")
    expected = {
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
    }
    for name, value in expected.items():
        if headers.get(name) != value:
            problems.append(f"{what}: {name} is {headers.get(name)!r}, expected {value!r}")
    if "max-age=" not in (headers.get("Strict-Transport-Security") or ""):
        problems.append(f"{what}: no Strict-Transport-Security")
    cache = headers.get("Cache-Control") or ""
    if private and not ("no-store" in cache and "private" in cache):
        problems.append(f"{what}: Cache-Control is {cache!r}, expected no-store, private")
    if not private and "no-store" in cache:
        problems.append(f"{what}: a public page says no-store ({cache!r})")
    return problems


def check(base: str, session_cookie: str) -> list[str]:
    server = Server(base)
    server.wait()
    problems: list[str] = []

    status, headers, _ = server.get("/staff/login/", https=False)
    if status != 301 or not (headers.get("Location") or "").startswith("https://"):
        problems.append(f"plain HTTP: {status} {headers.get('Location')!r}, expected a 301 to https://")

    # The load balancer's probes answer over plain HTTP (not redirected), the database ready.
    for probe, want in (("/healthz", "ok"), ("/readyz", '"status": "ok"')):
        status, headers, body = server.get(probe, https=False)
        if status != 200 or want not in body:
            problems.append(f"{probe} over plain HTTP: HTTP {status} {body[:80]!r}, expected 200 with {want!r}")

    status, headers, body = server.get("/staff/login/")
    if status != 200:
        problems.append(f"login page: HTTP {status}")
    problems += document_problems("login page", headers, private=True)
    cookies = headers.get_all("Set-Cookie") or []
    csrf = next((c for c in cookies if c.startswith("csrftoken=")), "")
    if not csrf or "Secure" not in csrf or "HttpOnly" not in csrf:
        problems.append(f"login page: the CSRF cookie is not Secure and HttpOnly: {csrf!r}")
    # The collected, hashed static files are what the page links, and the server sends them.
    stylesheet = re.search(r'href="(/static/vendor/bootstrap/bootstrap\.min\.[0-9a-f]{12}\.css)"', body)
    if not stylesheet:
        problems.append("login page: does not link the hashed Bootstrap stylesheet (collectstatic, manifest storage)")
    else:
        status, headers, _ = server.get(stylesheet.group(1))
        if status != 200 or "immutable" not in (headers.get("Cache-Control") or ""):
            problems.append(f"{stylesheet.group(1)}: HTTP {status}, Cache-Control {headers.get('Cache-Control')!r}")

    for what, path in (("staff home", "/staff/"), ("case list", "/staff/cases/")):
        status, headers, body = server.get(path, cookie=session_cookie)
        if status != 200:
            problems.append(
                f"{what} signed in: HTTP {status} {headers.get('Location') or ''} (the session was refused)"
            )
            continue
        if "发布冒烟测试" not in body:
            problems.append(f"{what} signed in: the page does not name the smoke's staff member")
        problems += document_problems(f"{what} (signed in)", headers, private=True)

    status, headers, _ = server.get("/programmes/")
    if status != 200:
        problems.append(f"public catalogue: HTTP {status}")
    problems += document_problems("public catalogue", headers, private=False)
    return problems


def main(argv: list[str]) -> int:
    if argv[1:2] == ["session"]:
        print(smoke_session())
        return 0
    if argv[1:2] == ["check"] and len(argv) == 4:
        problems = check(argv[2], argv[3])
        for problem in problems:
            print(f"FAIL {problem}")
        if not problems:
            print("release smoke: headers as expected on the login page, the signed-in staff pages and the catalogue")
        return 1 if problems else 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
