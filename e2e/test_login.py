"""A new user can log in as each demo role and see their unit and scope."""

import pytest

from e2e.conftest import login, screenshot
from ejia.accounts.models import Role
from ejia.accounts.scope import scope_for
from ejia.demo.staff import demo_staff_ensure

PASSWORD = "demo-password-for-e2e"


@pytest.mark.e2e
def test_every_demo_role_logs_in_and_sees_unit_and_scope(page, live_server, org):
    users = demo_staff_ensure(password=PASSWORD)
    assert {code for u in users for code in u.role_codes} == set(Role.values)  # every role has a demo login
    seen_roles: set[str] = set()
    for user in users:
        if user.role_codes <= seen_roles:
            continue  # one login per role keeps the journey short
        seen_roles |= user.role_codes
        login(page, live_server, user, password=PASSWORD)
        assert page.inner_text("[data-testid=unit]") == user.unit.name
        assert page.inner_text("[data-testid=scope]") == scope_for(user).describe()
        if user.username == "window_clerk":
            screenshot(page, "staff-home-window-clerk")
        page.click("text=退出登录")
        page.wait_for_url("**/staff/login/")


@pytest.mark.e2e
def test_the_login_page_in_chinese_and_english(page, live_server, db):
    page.goto(live_server.url + "/staff/login/")
    assert page.inner_text("h1") == "e家大救助"
    screenshot(page, "staff-login")
    page.click("button[lang=en]")
    page.wait_for_load_state("domcontentloaded")
    assert page.get_attribute("html", "lang") == "en"
