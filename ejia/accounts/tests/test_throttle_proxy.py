"""Login throttling behind the reverse proxy (issue 15): the client address comes from
X-Forwarded-For only through trusted proxies; many failures from one address slow that address
for a few seconds and never lock another account's correct password; per-account locks stay."""

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.db.models import F
from django.test import RequestFactory
from django.urls import reverse

from conftest import TEST_PASSWORD
from ejia.accounts import throttle
from ejia.accounts.models import LoginFailure
from ejia.core.models import AuditEvent

PROXY = "10.20.0.5"


@pytest.fixture
def behind_proxy(settings):
    settings.EJIA_TRUSTED_PROXIES = ["10.20.0.0/24", "fd00:20::/64"]
    return settings


def ip_of(remote: str, forwarded: str | None = None) -> str | None:
    meta = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    return throttle.client_ip(RequestFactory().get("/", **meta))


def test_without_a_trusted_proxy_the_peer_is_the_client(settings):
    settings.EJIA_TRUSTED_PROXIES = []
    assert ip_of(PROXY, "1.2.3.4") == PROXY
    assert ip_of("::ffff:192.0.2.7") == "192.0.2.7"
    assert ip_of("") is None


def test_behind_a_trusted_proxy_the_right_most_untrusted_address_is_the_client(behind_proxy):
    assert ip_of(PROXY, "203.0.113.9") == "203.0.113.9"
    # The left part is whatever the client sent: a forged entry there changes nothing.
    assert ip_of(PROXY, "198.51.100.1, 203.0.113.9") == "203.0.113.9"
    # Two proxies of ours in a row: skip both.
    assert ip_of(PROXY, "198.51.100.1, 203.0.113.9, 10.20.0.8") == "203.0.113.9"
    assert ip_of("fd00:20::1", "2001:db8::7") == "2001:db8::7"
    # Only our proxies on the way (a health check from inside): the farthest of them.
    assert ip_of(PROXY, "10.20.0.8") == "10.20.0.8"
    assert ip_of(PROXY) == PROXY
    # Something no proxy of ours writes stops the walk at the nearest trusted hop.
    assert ip_of(PROXY, "203.0.113.9, not-an-address") == PROXY
    assert ip_of(PROXY, "203.0.113.9, 10.20.0.8, garbage") == PROXY


def test_a_client_that_is_not_a_proxy_cannot_choose_its_address(behind_proxy):
    assert ip_of("203.0.113.9", "10.20.0.8") == "203.0.113.9"
    assert ip_of("203.0.113.9", "198.51.100.1") == "203.0.113.9"


def test_a_wrong_trusted_proxy_setting_stops_the_start():
    env = {**os.environ, "EJIA_TRUSTED_PROXIES": "10.20.0.0/24, proxy.example"}
    result = subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "EJIA_TRUSTED_PROXIES" in result.stderr and "proxy.example" in result.stderr


def post_login(client, username: str, password: str, client_address: str | None, *, peer: str = PROXY):
    extra = {"REMOTE_ADDR": peer}
    if client_address:
        extra["HTTP_X_FORWARDED_FOR"] = client_address
    return client.post(reverse("accounts:login"), {"username": username, "password": password}, **extra)


def logged_in(response) -> bool:
    return response.status_code == 302 and "/staff/login/" not in response["Location"]


def test_twenty_failures_from_many_clients_behind_the_proxy_lock_nobody_else_out(
    behind_proxy, client, bob, carol, dave
):
    for n in range(20):
        refused = post_login(client, f"nobody{n:02d}", "wrong-password", f"198.51.100.{n + 1}")
        assert "用户名或密码不正确" in refused.content.decode()
    # Each failure is counted under the client's own address, not the proxy's.
    assert set(LoginFailure.objects.values_list("ip_address", flat=True)) == {f"198.51.100.{n + 1}" for n in range(20)}
    for n, user in enumerate((bob, carol, dave)):
        client.logout()
        assert logged_in(post_login(client, user.username, TEST_PASSWORD, f"203.0.113.{n + 1}")), user
    event = AuditEvent.objects.filter(action="staff.login", actor=dave).get()
    assert event.data["ip"] == "203.0.113.3"


def test_twenty_failures_from_one_address_slow_it_and_lock_no_one_out(behind_proxy, client, bob, carol, dave):
    guesser = "198.51.100.66"  # e.g. one township office behind the proxy
    for n in range(20):
        post_login(client, f"nobody{n:02d}", "wrong-password", guesser)
    # Staff elsewhere behind the same proxy: straight in.
    for n, user in enumerate((bob, carol)):
        client.logout()
        assert logged_in(post_login(client, user.username, TEST_PASSWORD, f"203.0.113.{n + 1}"))
    # At the guessing address: a short pause, said plainly; the try is not counted against anyone.
    client.logout()
    paused = post_login(client, dave.username, TEST_PASSWORD, guesser)
    assert paused.status_code == 200 and "此网络地址登录失败次数较多" in paused.content.decode()
    wait = int(re.search(r"请(\d+)秒后再试", paused.content.decode()).group(1))
    assert 0 < wait <= settings.LOGIN_ADDRESS_PAUSE_SECONDS
    assert not LoginFailure.objects.filter(username=dave.username).exists()
    # The pause passes: the right password of another account works from that address too.
    LoginFailure.objects.update(at=F("at") - dt.timedelta(seconds=settings.LOGIN_ADDRESS_PAUSE_SECONDS))
    assert logged_in(post_login(client, dave.username, TEST_PASSWORD, guesser))
    # A guess after the pause is checked (and counted); the next one waits again.
    client.logout()
    LoginFailure.objects.update(at=F("at") - dt.timedelta(seconds=settings.LOGIN_ADDRESS_PAUSE_SECONDS))
    assert "用户名或密码不正确" in post_login(client, "nobody99", "wrong", guesser).content.decode()
    assert "秒后再试" in post_login(client, "nobody98", "wrong", guesser).content.decode()
    assert not LoginFailure.objects.filter(username="nobody98").exists()


def test_with_the_proxy_not_configured_a_correct_password_still_gets_in_after_the_pause(
    settings, client, bob, carol, dave
):
    """The issue's finding: every request came from the proxy's address, and 20 failures
    locked three other staff out for 15 minutes. Now it is a pause of a few seconds."""
    settings.EJIA_TRUSTED_PROXIES = []
    for n in range(20):
        post_login(client, f"nobody{n:02d}", "wrong-password", f"198.51.100.{n + 1}")
    LoginFailure.objects.update(at=F("at") - dt.timedelta(seconds=settings.LOGIN_ADDRESS_PAUSE_SECONDS))
    for user in (bob, carol, dave):
        client.logout()
        assert logged_in(post_login(client, user.username, TEST_PASSWORD, None)), user


def test_the_per_account_lock_stays_and_is_that_accounts_only(behind_proxy, client, bob, carol):
    office = "198.51.100.7"
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        post_login(client, bob.username, "wrong-password", office)
    # Right password, another address: bob's name is locked for the window.
    locked = post_login(client, bob.username, TEST_PASSWORD, "203.0.113.1")
    assert "登录失败次数过多" in locked.content.decode() and "_auth_user_id" not in client.session
    # His colleague at the same desk is not.
    assert logged_in(post_login(client, carol.username, TEST_PASSWORD, office))
