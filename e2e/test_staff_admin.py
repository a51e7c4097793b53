"""The system administrator creates a window clerk in the browser; the clerk logs in with the
initial password, is made to change it, and lands on the staff home."""

from __future__ import annotations

import pytest

from e2e.conftest import go, login, screenshot
from ejia.accounts.models import Role, User

pytestmark = pytest.mark.e2e

CLERK_PASSWORD = "Willow-Harbour-37"


@pytest.fixture
def sam(org):
    from conftest import _unit, make_staff

    return make_staff("sam", _unit("371600", "centre"), Role.SYSADMIN, display_name="马超")


def pick_unit(page, search: str, name: str) -> None:
    page.fill("[data-testid=unit-search]", search)
    option = page.locator("#id_unit option", has_text=name)
    option.wait_for(state="attached")
    page.select_option("#id_unit", value=option.get_attribute("value"))


def test_the_sysadmin_creates_a_window_clerk_who_changes_the_password_and_gets_to_work(page, live_server, sam, bob):
    login(page, live_server, sam)
    go(page, "[data-testid=nav-staff]")
    assert page.locator("h1").inner_text() == "账号管理"
    assert page.locator("[data-testid=staff-bob]").is_visible()
    screenshot(page, "accounts-staff-list")

    go(page, "[data-testid=staff-create]")
    page.fill("#id_username", "lin")
    page.fill("#id_display_name", "林静")
    page.fill("#id_phone", "13905431234")
    pick_unit(page, "市中街道", "市中街道社会救助工作平台")
    # A village role at a township window is refused with a plain sentence.
    page.check("#role-village_clerk")
    go(page, "[data-testid=save]")
    assert "须在社会救助工作站任职" in page.locator("[data-testid=roles]").inner_text()
    screenshot(page, "accounts-create-refused")

    page.uncheck("#role-village_clerk")
    page.check("#role-window_clerk")
    initial = page.input_value("[data-testid=initial-password]")
    assert len(initial) >= 12
    screenshot(page, "accounts-create")
    go(page, "[data-testid=save]")
    assert "已创建账号“lin”" in page.locator(".alert-success").inner_text()
    assert "待本人修改密码" in page.locator("[data-testid=account-state]").inner_text()
    screenshot(page, "accounts-edit")
    go(page, page.get_by_role("button", name="退出登录"))

    clerk = User.objects.get(username="lin")
    login(page, live_server, clerk, password=initial)
    assert "/staff/password/" in page.url
    assert page.locator("[data-testid=must-change]").is_visible()
    screenshot(page, "accounts-must-change-password")
    # No other page opens before the password is changed.
    page.goto(live_server.url + "/staff/cases/")
    assert "/staff/password/" in page.url
    page.fill("#id_old_password", initial)
    page.fill("#id_new_password1", CLERK_PASSWORD)
    page.fill("#id_new_password2", CLERK_PASSWORD)
    go(page, "[data-testid=change-password]")
    assert page.url.endswith("/staff/cases/")
    page.goto(live_server.url + "/staff/")
    assert page.inner_text("[data-testid=unit]") == "市中街道社会救助工作平台"
    assert page.inner_text("[data-testid=roles]") == "乡镇（街道）窗口受理员"
    assert not User.objects.get(username="lin").must_change_password


def test_the_account_pages_on_a_phone(phone_page, live_server, sam, bob, carol, dave):
    page = phone_page
    login(page, live_server, sam)
    page.goto(live_server.url + "/staff/accounts/")
    assert page.locator("[data-testid=staff-card-bob]").is_visible()
    screenshot(page, "accounts-staff-list-phone")
    page.goto(live_server.url + "/staff/accounts/new/")
    pick_unit(page, "三河湖", "三河湖镇社会救助工作平台")
    screenshot(page, "accounts-create-phone")
    page.goto(live_server.url + "/staff/accounts/units/?staffed=1")
    assert "三河湖镇社会救助工作平台" in page.locator("[data-testid=unit-cards]").inner_text()
    screenshot(page, "accounts-units-phone")
    page.goto(live_server.url + f"/staff/accounts/{bob.pk}/")
    screenshot(page, "accounts-edit-phone")


def test_the_units_page_on_a_desktop(page, live_server, sam, bob, erin):
    login(page, live_server, sam)
    page.goto(live_server.url + "/staff/accounts/units/")
    page.check("#f-staffed")
    page.wait_for_function("() => document.querySelector('[data-testid=unit-count]').innerText.includes('共 3 个单位')")
    screenshot(page, "accounts-units")
