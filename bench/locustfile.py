"""The load scenario of issue 15: the staff mix and the citizen mix against one server.

Run it through bench/bench_load.py (which seeds the demo city on PostgreSQL, starts gunicorn
with production settings on loopback and writes the targets file). By hand:

    EJIA_BENCH_TARGETS=bench/out/load-targets.json .venv-bench/bin/locust -f bench/locustfile.py \
        --host http://127.0.0.1:8765 --headless -u 30 -r 10 -t 60s

Guards: the host must be a loopback address (this drives many requests per second and must
never be pointed at a real deployment), users are capped at MAX_USERS and a run without
`--run-time` is refused.

The server runs with production settings behind no proxy, so the scenario speaks as the
HTTPS proxy would (`X-Forwarded-Proto: https`, an https Origin on posts) and sends the cookies
that the server marks Secure over the plain loopback connection itself.

Staff sign in with the demo password; when the second factor is on, `EJIA_BENCH_TOTP_SECRET`
(base32, the secret the bench accounts are enrolled with; bench_load.py passes the demo's)
gives the code for the page that asks for it (pyotp, or django-otp's totp when installed).
"""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import random
import re
import socket
from urllib.parse import urljoin, urlsplit

from locust import FastHttpUser, between, events, tag, task
from requests.cookies import create_cookie

MAX_USERS = 200
MAX_SECONDS = 30 * 60
TARGETS_FILE = os.environ.get("EJIA_BENCH_TARGETS", "bench/out/load-targets.json")
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM_RE = re.compile(r"<form\b[^>]*>.*?</form>", re.S)
ACTION_RE = re.compile(r'action="([^"]*)"')
INPUT_NAME_RE = re.compile(r'<input\b[^>]*name="([^"]+)"')
CASE_LINK_RE = re.compile(r'href="(/staff/cases/[0-9a-f-]{36}/)"')
PROCEDURE_LINK_RE = re.compile(r'href="(/staff/work/r/[0-9a-f-]{36}/)"')
# Field names a second-factor form may use for its code.
OTP_FIELDS = ("otp_token", "token", "code", "otp")


def is_loopback(host: str) -> bool:
    name = urlsplit(host).hostname or ""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses)


@events.init.add_listener
def refuse_unbounded(environment, **_kwargs):
    options = environment.parsed_options
    if options is None:
        return
    host = options.host or ""
    if not is_loopback(host):
        raise SystemExit(f"refused: {host!r} is not a loopback address; this scenario runs only against 127.0.0.1")
    if not options.run_time or options.run_time > MAX_SECONDS:
        raise SystemExit(f"refused: give --run-time of at most {MAX_SECONDS} s")
    if (options.num_users or 0) > MAX_USERS:
        raise SystemExit(f"refused: at most {MAX_USERS} users")


def load_targets() -> dict:
    with open(TARGETS_FILE, encoding="utf-8") as fh:
        return json.load(fh)


TARGETS = load_targets() if os.path.exists(TARGETS_FILE) else {}


def totp_now(secret: str) -> str:
    """The current 6-digit TOTP code (RFC 6238, 30 s, SHA-1) from an installed library."""
    secret = "".join(secret.split()).upper()
    try:
        import pyotp

        return pyotp.TOTP(secret).now()
    except ImportError:
        pass
    import base64

    from django_otp.oath import totp

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    return f"{totp(key, step=30, digits=6, t0=0):06d}"


class Browser(FastHttpUser):
    """Cookies and headers as a browser behind the HTTPS proxy would send them."""

    abstract = True

    def on_start(self):
        self.origin = "https://" + (urlsplit(self.host).netloc)

    def _plain_cookies(self) -> None:
        # The server marks its cookies Secure (production settings); this client reaches it
        # over plain loopback, as the TLS-terminating proxy does.
        for cookie in self.client.cookiejar:
            cookie.secure = False

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"X-Forwarded-Proto": "https", "Host": urlsplit(self.host).netloc}
        headers.update(extra or {})
        return headers

    def page(self, path: str, *, name: str | None = None, expect: str = "") -> str:
        """GET a page; anything but 200 (a redirect to the login page too) is a failure."""
        with self.client.get(
            path, name=name or path, headers=self._headers(), allow_redirects=False, catch_response=True
        ) as response:
            self._plain_cookies()
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code} {response.headers.get('Location', '')}")
                return ""
            text = response.text or ""
            if expect and expect not in text:
                response.failure(f"page without {expect!r}")
            return text

    def post(
        self, path: str, data: dict, *, name: str | None = None, referer: str = "", ok=(200, 302), expect: str = ""
    ):
        """POST a form with the page's CSRF token; returns the response (redirects not followed)."""
        headers = self._headers({"Origin": self.origin, "Referer": self.origin + (referer or path)})
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        with self.client.post(
            path, data=data, name=name or path, headers=headers, allow_redirects=False, catch_response=True
        ) as response:
            self._plain_cookies()
            if response.status_code not in ok:
                response.failure(f"HTTP {response.status_code} {response.headers.get('Location', '')}")
            elif expect and expect not in (response.text or ""):
                response.failure(f"answer without {expect!r}")
            return response

    def csrf(self, html: str) -> str:
        match = CSRF_RE.search(html or "")
        return match.group(1) if match else ""


# Signed-in sessions, kept between runs (SESSIONS_FILE): a staff member signs in once a day,
# not once per measured minute, and a password check is built to be slow (PBKDF2). The
# warm-up run of bench_load.py signs everyone in; the measured runs reuse the sessions (and
# sign in again only if one has ended).
SESSIONS_FILE = os.environ.get("EJIA_BENCH_SESSIONS", "")
SESSIONS: dict[str, list[dict]] = {}
if SESSIONS_FILE and os.path.exists(SESSIONS_FILE):
    with open(SESSIONS_FILE, encoding="utf-8") as fh:
        SESSIONS = json.load(fh)
SLOTS = itertools.count()
STAFF_USERS: list[Staff] = []


class Staff(Browser):
    """A staff member at a township window or the county centre: home, queues, case pages,
    a household search by ID number (posted), the catalogue."""

    weight = 3
    wait_time = between(0.2, 1.0)  # a clerk working through a queue, tabs open

    def on_start(self):
        super().on_start()
        self.slot = str(next(SLOTS))
        accounts = TARGETS.get("staff") or []
        self.account = accounts[int(self.slot) % len(accounts)]
        self.cases: list[str] = []
        self.procedures: list[str] = []
        STAFF_USERS.append(self)
        if not self.resume():
            self.sign_in()

    def resume(self) -> bool:
        """Take up this slot's session of an earlier run, if it is still signed in."""
        saved = SESSIONS.get(self.slot)
        if not saved or saved[0].get("account") != self.account["username"]:
            return False
        for cookie in saved[1:]:
            self.client.cookiejar.set_cookie(
                create_cookie(cookie["name"], cookie["value"], domain=cookie["domain"], path=cookie["path"])
            )
        with self.client.get(
            "/staff/", name="session check", headers=self._headers(), allow_redirects=False, catch_response=True
        ) as response:
            response.success()  # not part of the mix either way
            if response.status_code == 200:
                return True
        self.client.cookiejar.clear()
        return False

    def saved(self) -> list[dict]:
        cookies = [
            {"name": c.name, "value": c.value, "domain": c.domain, "path": c.path} for c in self.client.cookiejar
        ]
        return [{"account": self.account["username"]}, *cookies]

    def sign_in(self) -> None:
        login = self.page("/staff/login/", name="/staff/login/")
        response = self.post(
            "/staff/login/",
            {
                "csrfmiddlewaretoken": self.csrf(login),
                "username": self.account["username"],
                "password": self.account["password"],
            },
            name="/staff/login/ [POST]",
            ok=(302,),
        )
        target = response.headers.get("Location") or "/staff/"
        if "/login/" in target:
            raise RuntimeError(f"sign-in of {self.account['username']} refused")
        self.second_factor(target)

    def second_factor(self, target: str) -> None:
        """If the landing page asks for a one-time code, give the TOTP code."""
        path = urlsplit(urljoin(self.origin, target)).path
        html = self.page(path, name="sign-in landing")
        for form in FORM_RE.findall(html):
            fields = set(INPUT_NAME_RE.findall(form))
            field = next((f for f in OTP_FIELDS if f in fields), None)
            if field is None:
                continue
            secret = os.environ.get("EJIA_BENCH_TOTP_SECRET", "")
            if not secret:
                raise RuntimeError("the server asks for a second factor: set EJIA_BENCH_TOTP_SECRET")
            action = ACTION_RE.search(form)
            form_path = urlsplit(urljoin(self.origin + path, action.group(1) if action else path)).path
            response = self.post(
                form_path,
                {"csrfmiddlewaretoken": self.csrf(form), field: totp_now(secret)},
                name="second factor [POST]",
                referer=path,
                ok=(302,),
            )
            if "/login/" in (response.headers.get("Location") or ""):
                raise RuntimeError("second factor refused")
            return

    @tag("staff")
    @task(3)
    def home(self):
        self.page("/staff/", name="staff home")

    @tag("staff")
    @task(3)
    def work_queue(self):
        html = self.page("/staff/work/", name="work queue")
        self.procedures = PROCEDURE_LINK_RE.findall(html)[:20] or self.procedures
        tab = random.choice(["unit", "due_soon", "overdue"])
        self.page(f"/staff/work/?tab={tab}", name="work queue (tab)")

    @tag("staff")
    @task(3)
    def case_list(self):
        html = self.page("/staff/cases/", name="case list")
        self.cases = CASE_LINK_RE.findall(html)[:50] or self.cases

    @tag("staff")
    @task(3)
    def case_pages(self):
        if not self.cases:
            self.case_list()
        if self.cases:
            self.page(random.choice(self.cases), name="case page")
        if self.procedures:
            self.page(random.choice(self.procedures), name="procedure page")

    @tag("staff")
    @task(2)
    def household_search(self):
        numbers = self.account.get("id_numbers") or []
        if not numbers:
            return
        number, household = random.choice(numbers)
        html = self.page("/staff/registry/households/", name="household search")
        response = self.post(
            "/staff/registry/households/",
            {"csrfmiddlewaretoken": self.csrf(html), "q": number},
            name="household search [POST]",
            ok=(302,),
        )
        location = urlsplit(urljoin(self.origin, response.headers.get("Location") or ""))
        if location.path == "/staff/registry/households/":
            # The result names the household found (a link to its page).
            self.page(f"{location.path}?{location.query}", name="household search result", expect=household)

    @tag("staff")
    @task(2)
    def catalogue(self):
        self.page("/programmes/", name="catalogue")


class Citizen(Browser):
    """A citizen on a phone: the programme catalogue, the self-check, the tracker."""

    weight = 1
    wait_time = between(2, 5)

    @tag("citizen")
    @task(3)
    def catalogue(self):
        html = self.page("/programmes/", name="catalogue")
        codes = re.findall(r'href="(/programmes/[a-z0-9_-]+/)"', html)
        if codes:
            self.page(random.choice(codes), name="programme page")

    @tag("citizen")
    @task(2)
    def self_check(self):
        html = self.page("/check/", name="self-check start")
        first = re.search(r'href="(/check/q/[a-z0-9_-]+/)"', html)
        if first:
            self.page(first.group(1), name="self-check question")

    @tag("citizen")
    @task(2)
    def tracker(self):
        tracked = TARGETS.get("tracker") or []
        if not tracked:
            return
        case = random.choice(tracked)
        html = self.page("/track/", name="tracker")
        self.post(
            "/track/",
            {"csrfmiddlewaretoken": self.csrf(html), "reference": case["reference"], "id_last6": case["id_last6"]},
            name="tracker [POST]",
            ok=(200,),
            expect=case["reference"],
        )


@events.test_stop.add_listener
def keep_sessions(environment, **_kwargs):
    if not SESSIONS_FILE:
        return
    kept = dict(SESSIONS)
    kept.update({user.slot: user.saved() for user in STAFF_USERS})
    with open(SESSIONS_FILE, "w", encoding="utf-8") as fh:
        json.dump(kept, fh)
