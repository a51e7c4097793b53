"""The second factor in the browser: a first login enrols an authenticator from the page's QR
code secret and keeps the recovery codes; a later login refuses a wrong code and passes with a
recovery code."""

from __future__ import annotations

import base64

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from conftest import TEST_PASSWORD
from e2e.conftest import go, screenshot
from ejia.demo.second_factor import code_for_key


def password_step(page, live_server, user) -> None:
    page.goto(live_server.url + "/staff/login/?next=/staff/cases/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", TEST_PASSWORD)
    go(page, "button[type=submit]")
    assert "/staff/second-factor/" in page.url


@pytest.mark.e2e
def test_a_clerk_enrols_by_qr_code_then_signs_in_with_a_recovery_code(page, live_server, bob):
    password_step(page, live_server, bob)
    assert page.locator("[data-testid=otp-qr] svg").is_visible()
    box = page.locator("[data-testid=otp-qr] svg").bounding_box()
    assert box["width"] >= 200 and box["height"] >= 200  # large enough for a phone camera
    screenshot(page, "second-factor-enrol")
    # The person's app reads the secret (the QR code carries the same one).
    key = base64.b32decode(page.inner_text("[data-testid=otp-secret]").replace(" ", "")).hex()

    page.fill("#id_code", "000000")
    go(page, "[data-testid=otp-submit]")
    assert "验证码不正确" in page.inner_text("[data-testid=otp-error]")
    assert page.locator("[data-testid=otp-qr] svg").is_visible()  # still enrolling, same secret

    page.fill("#id_code", code_for_key(key))
    go(page, "[data-testid=otp-submit]")
    assert "/staff/second-factor/recovery-codes/" in page.url
    codes = page.locator("[data-testid=recovery-codes] li").all_inner_texts()
    assert len(codes) == 10
    screenshot(page, "second-factor-recovery-codes")
    go(page, "[data-testid=codes-continue]")
    assert page.url.endswith("/staff/cases/")
    assert TOTPDevice.objects.get(user=bob).key == key

    page.click("text=退出登录")
    page.wait_for_url("**/staff/login/")
    password_step(page, live_server, bob)
    assert page.locator("[data-testid=otp-qr]").count() == 0
    page.fill("#id_code", "999999")
    go(page, "[data-testid=otp-submit]")
    assert "验证码不正确" in page.inner_text("[data-testid=otp-error]")
    page.fill("#id_code", codes[0])
    go(page, "[data-testid=otp-submit]")
    assert page.url.endswith("/staff/cases/")
    assert "还剩9个" in page.inner_text("main")
