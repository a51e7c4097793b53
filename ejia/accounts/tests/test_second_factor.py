"""The staff second factor: a password alone opens no staff page; a person enrols an
authenticator by QR code (or its secret in text), gets ten recovery codes once, types a code at
every login; a code is accepted once; wrong codes are counted per account and per address; a
system administrator resets it with a reason. Every outcome is audited."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import TEST_PASSWORD, _unit, login_with_code, make_staff, totp_code
from ejia.accounts.models import LoginFailure, Role
from ejia.accounts.second_factor import RECOVERY_CODE_COUNT, new_secret, second_factor_enrol
from ejia.api.keys import new_pem
from ejia.core.models import AuditEvent
from ejia.demo.second_factor import code_for_key

SECOND_FACTOR = reverse("accounts:second_factor")


@pytest.fixture
def sam(org):
    """System administrator at the city's assistance centre."""
    return make_staff("sam", _unit("371600", "centre"), Role.SYSADMIN, display_name="马超")


def password_step(client: Client, user, *, password: str = TEST_PASSWORD, next_url: str = "", **extra):
    query = f"?next={next_url}" if next_url else ""
    return client.post(reverse("accounts:login") + query, {"username": user.username, "password": password}, **extra)


def secret_on_page(html: str) -> str:
    """The hex key behind the secret the enrolment page shows in text (as an app would read it)."""
    text = re.search(r'data-testid="otp-secret">([A-Z2-7 ]+)<', html).group(1).replace(" ", "")
    return base64.b32decode(text).hex()


def enrolled(user) -> list[str]:
    """Enrol through the service, as the page does; returns the recovery codes."""
    key = new_secret()
    return second_factor_enrol(user_id=user.pk, key_hex=key, code=code_for_key(key), ip=None).recovery_codes


def page_error(response) -> str:
    assert response.status_code == 200, response.status_code
    found = re.search(r'data-testid="otp-error">(.*?)</div>\s*</div>', response.content.decode(), re.S)
    return found.group(1) if found else ""


# ---------------------------------------------------------------- the password alone


def test_the_password_alone_opens_no_staff_page(client, bob):
    response = password_step(client, bob, next_url="/staff/cases/")
    assert response["Location"] == SECOND_FACTOR + "?next=%2Fstaff%2Fcases%2F"
    for url in ("/staff/", "/staff/cases/", "/staff/registry/households/", "/staff/password/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(SECOND_FACTOR), url
    response = client.get("/staff/cases/", headers={"HX-Request": "true"})
    assert response.status_code == 204 and response["HX-Redirect"].startswith(SECOND_FACTOR)
    # A POST to a staff action is turned back too, without doing anything.
    assert client.post("/staff/cases/", {}).status_code == 302


def test_without_the_setting_the_password_is_enough(client, bob, settings):
    settings.EJIA_STAFF_SECOND_FACTOR = False
    response = password_step(client, bob)
    assert response["Location"] == reverse("accounts:home")
    assert client.get("/staff/").status_code == 200


def test_production_refuses_to_start_with_the_second_factor_off_and_keeps_admin_off():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "EJIA_"))}
    env.update(
        DJANGO_SECRET_KEY="p" * 20 + "-production-secret-for-this-test-0123456789",
        EJIA_FIELD_KEYS="k1:ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc=",
        EJIA_BLIND_INDEX_KEY="x",
        EJIA_AUDIT_KEY="y",
        EJIA_API_SIGNING_KEY=new_pem().decode("ascii"),
    )
    probe = "import config.settings_production as s; print(s.EJIA_STAFF_SECOND_FACTOR, s.EJIA_ADMIN_ENABLED)"

    def run(**extra):
        return subprocess.run(
            [sys.executable, "-c", probe],
            cwd=settings.BASE_DIR,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert run().stdout.split() == ["True", "False"]
    refused = run(EJIA_STAFF_SECOND_FACTOR="0")
    assert refused.returncode != 0 and "EJIA_STAFF_SECOND_FACTOR" in refused.stderr


# ---------------------------------------------------------------- enrolment


def test_a_first_login_enrols_by_qr_code_and_shows_ten_recovery_codes_once(client, bob):
    password_step(client, bob, next_url="/staff/cases/")
    html = client.get(SECOND_FACTOR + "?next=/staff/cases/").content.decode()
    assert "<svg" in html and 'data-testid="otp-qr"' in html
    assert "style=" not in html.split('data-testid="otp-qr"')[1].split("</svg>")[0]
    key = secret_on_page(html)
    # The same secret on a reload (the person may scan slowly); nothing in the database yet.
    assert secret_on_page(client.get(SECOND_FACTOR).content.decode()) == key
    assert not TOTPDevice.objects.filter(user=bob).exists()

    assert "验证码不正确" in page_error(client.post(SECOND_FACTOR, {"code": "000000"}))
    assert "验证码不正确" in page_error(client.post(SECOND_FACTOR, {"code": "abc"}))
    assert AuditEvent.objects.filter(action="staff.otp_failed", object_id=str(bob.pk)).count() == 2
    assert not TOTPDevice.objects.filter(user=bob).exists()

    response = client.post(SECOND_FACTOR + "?next=/staff/cases/", {"code": code_for_key(key), "next": "/staff/cases/"})
    assert response["Location"] == reverse("accounts:second_factor_codes") + "?next=%2Fstaff%2Fcases%2F"
    html = client.get(response["Location"]).content.decode()
    codes = re.findall(r"<li>([a-z0-9]+)</li>", html.split('data-testid="recovery-codes"')[1])
    assert len(codes) == RECOVERY_CODE_COUNT == len(set(codes))
    assert 'href="/staff/cases/"' in html
    # Shown once: a reload no longer has them.
    again = client.get(reverse("accounts:second_factor_codes")).content.decode()
    assert 'data-testid="codes-gone"' in again and codes[0] not in again

    device = TOTPDevice.objects.get(user=bob)
    assert device.confirmed and device.key == key
    assert AuditEvent.objects.filter(action="staff.otp_enrolled", actor=bob).count() == 1
    assert LoginFailure.objects.filter(username="otp:bob").count() == 0  # cleared by the success
    assert client.get("/staff/cases/").status_code == 200
    # The page now says the session passed, and a double post changes nothing.
    assert 'data-testid="otp-verified"' in client.get(SECOND_FACTOR).content.decode()
    assert client.post(SECOND_FACTOR, {"code": code_for_key(key)})["Location"] == reverse("accounts:home")
    assert AuditEvent.objects.filter(action="staff.otp_failed").count() == 2


def test_a_new_account_enrols_then_changes_its_password(client, sam, bob):
    bob.must_change_password = True
    bob.save(update_fields=["must_change_password"])
    password_step(client, bob)
    # The change-password page waits behind the second factor.
    assert client.get(reverse("accounts:password_change"))["Location"].startswith(SECOND_FACTOR)
    key = secret_on_page(client.get(SECOND_FACTOR).content.decode())
    response = client.post(SECOND_FACTOR, {"code": code_for_key(key)})
    html = client.get(response["Location"]).content.decode()
    assert f'href="{reverse("accounts:password_change")}"' in html
    assert client.get("/staff/cases/")["Location"].startswith(reverse("accounts:password_change"))


# ---------------------------------------------------------------- every login


def test_every_login_asks_for_a_code_and_a_code_passes_once(client, bob):
    enrolled(bob)
    password_step(client, bob)
    html = client.get(SECOND_FACTOR).content.decode()
    assert 'data-testid="otp-qr"' not in html and "恢复码" in html
    code = totp_code(bob)
    response = client.post(SECOND_FACTOR, {"code": code})
    assert response["Location"] == reverse("accounts:home")
    assert client.get("/staff/").status_code == 200
    assert AuditEvent.objects.filter(action="staff.otp_verified", actor=bob).count() == 1

    # The same code again, in another session: refused (replay).
    other = Client()
    password_step(other, bob)
    assert "已使用过" in page_error(other.post(SECOND_FACTOR, {"code": code}))
    assert other.get("/staff/")["Location"].startswith(SECOND_FACTOR)
    assert AuditEvent.objects.filter(action="staff.otp_failed", actor=bob).count() == 1
    # Spaces typed inside the code do not matter.
    next_code = totp_code(bob)
    assert other.post(SECOND_FACTOR, {"code": f"{next_code[:3]} {next_code[3:]}"}).status_code == 302
    assert other.get("/staff/").status_code == 200


def test_a_recovery_code_passes_once_and_says_how_many_are_left(client, bob):
    codes = enrolled(bob)
    password_step(client, bob)
    response = client.post(SECOND_FACTOR, {"code": codes[0].upper()}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("accounts:home")
    assert f"还剩{RECOVERY_CODE_COUNT - 1}个" in response.content.decode()
    event = AuditEvent.objects.get(action="staff.otp_recovery_used")
    assert event.actor == bob and event.data["left"] == RECOVERY_CODE_COUNT - 1

    other = Client()
    password_step(other, bob)
    assert "验证码不正确" in page_error(other.post(SECOND_FACTOR, {"code": codes[0]}))
    assert other.post(SECOND_FACTOR, {"code": codes[1]}).status_code == 302


def test_wrong_codes_lock_the_account_even_for_the_right_code(client, bob, settings):
    enrolled(bob)
    password_step(client, bob)
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(SECOND_FACTOR, {"code": "123456"})
    assert (
        LoginFailure.objects.filter(username="otp:bob", ip_address="127.0.0.1").count() == settings.LOGIN_FAILURE_LIMIT
    )
    assert "错误次数过多" in page_error(client.post(SECOND_FACTOR, {"code": totp_code(bob)}))
    assert client.get("/staff/")["Location"].startswith(SECOND_FACTOR)
    # The password's own count is apart: bob's password still passes.
    assert password_step(Client(), bob)["Location"].startswith(SECOND_FACTOR)


def test_many_wrong_codes_from_one_address_pause_that_address(settings, alice, bob, carol, dave, erin):
    settings.LOGIN_FAILURE_LIMIT = 1  # the address pauses after 4 failures in the window
    enrolled(erin)
    same_address = Client(REMOTE_ADDR="10.9.8.7")
    password_step(same_address, erin)
    for user in (alice, bob, carol, dave):
        enrolled(user)
        client = Client(REMOTE_ADDR="10.9.8.7")
        password_step(client, user)
        client.post(SECOND_FACTOR, {"code": "123456"})
    assert "此网络地址验证失败次数较多" in page_error(same_address.post(SECOND_FACTOR, {"code": totp_code(erin)}))
    elsewhere = Client(REMOTE_ADDR="10.9.8.8")
    password_step(elsewhere, erin)
    assert elsewhere.post(SECOND_FACTOR, {"code": totp_code(erin)}).status_code == 302


# ---------------------------------------------------------------- the administrator's reset


def test_the_administrator_resets_with_a_reason_and_the_person_enrols_again(sam, bob):
    enrolled(bob)
    bobs = Client()
    login_with_code(bobs, bob)
    assert bobs.get("/staff/").status_code == 200

    admin = Client()
    admin.force_login(sam)
    page = admin.get(reverse("accounts:staff_edit", args=[bob.pk])).content.decode()
    assert "已绑定，剩余恢复码10个" in page and "重置双因素认证" in page
    reset = reverse("accounts:staff_second_factor_reset", args=[bob.pk])
    html = admin.post(reset, {"reason": "丢"}).content.decode()
    assert "请用4至300字说明重置原因" in html and 'value="丢"' in html
    assert TOTPDevice.objects.filter(user=bob).exists()

    response = admin.post(reset, {"reason": "本人手机丢失，已当面核实身份"})
    assert response["Location"] == reverse("accounts:staff_edit", args=[bob.pk])
    assert not TOTPDevice.objects.filter(user=bob).exists() and not StaticDevice.objects.filter(user=bob).exists()
    event = AuditEvent.objects.get(action="staff.otp_reset")
    assert event.actor == sam and event.object_id == str(bob.pk) and event.reason == "本人手机丢失，已当面核实身份"
    # A double post is harmless: it says there is nothing to reset.
    again = admin.post(reset, {"reason": "本人手机丢失，已当面核实身份"}, follow=True)
    assert "无需重置" in again.content.decode()
    assert AuditEvent.objects.filter(action="staff.otp_reset").count() == 1

    # Bob's open session no longer counts as verified; his next login enrols a new authenticator.
    assert bobs.get("/staff/")["Location"].startswith(SECOND_FACTOR)
    assert 'data-testid="otp-qr"' in bobs.get(SECOND_FACTOR).content.decode()


def test_an_administrator_cannot_reset_their_own_second_factor(sam):
    enrolled(sam)
    admin = Client()
    admin.force_login(sam)
    html = admin.post(
        reverse("accounts:staff_second_factor_reset", args=[sam.pk]), {"reason": "自己的手机丢了"}, follow=True
    ).content.decode()
    assert "不能重置自己的双因素认证" in html
    assert TOTPDevice.objects.filter(user=sam).exists()


def test_only_an_administrator_resets(client, bob, carol):
    enrolled(carol)
    client.force_login(bob)
    response = client.post(reverse("accounts:staff_second_factor_reset", args=[carol.pk]), {"reason": "手机丢失了"})
    assert response.status_code == 403
    assert TOTPDevice.objects.filter(user=carol).exists()


# ---------------------------------------------------------------- /admin/


@pytest.fixture
def root(org):
    user = make_staff("root", _unit("371600", "centre"), Role.SYSADMIN, display_name="超级管理员")
    user.is_superuser = user.is_staff = True
    user.save(update_fields=["is_superuser", "is_staff"])
    return user


def test_the_admin_answers_only_a_superuser_past_the_second_factor(client, root, bob):
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
    # Its login is the staff login (with its throttle and second factor), never a form of its own.
    assert client.get(response["Location"])["Location"] == "/staff/login/?next=%2Fadmin%2F"
    password_step(client, root)
    assert client.get("/admin/login/?next=/admin/")["Location"] == SECOND_FACTOR + "?next=%2Fadmin%2F"
    assert client.get("/admin/")["Location"].startswith("/admin/login/")
    assert client.post(SECOND_FACTOR, {"code": totp_code(root)}).status_code == 302
    assert client.get("/admin/").status_code == 200

    other = Client()
    other.force_login(bob)
    assert other.get("/admin/login/?next=/admin/").status_code == 403


def test_the_admin_is_not_routed_when_off(settings):
    import importlib

    from django.urls import Resolver404, clear_url_caches, resolve

    import config.urls

    settings.EJIA_ADMIN_ENABLED = False
    try:
        importlib.reload(config.urls)
        clear_url_caches()
        with pytest.raises(Resolver404):
            resolve("/admin/")
    finally:
        settings.EJIA_ADMIN_ENABLED = True
        importlib.reload(config.urls)
        clear_url_caches()
