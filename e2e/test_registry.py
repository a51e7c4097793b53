"""The household page (360° view) with statuses and benefits from several departments."""

from __future__ import annotations

import pytest

from e2e.conftest import go, login, screenshot
from ejia.core.models import AuditEvent
from ejia.demo.registry_load import registry_load_city
from ejia.demo.tests.test_registry_load import write_city
from ejia.registry.models import Household
from ejia.registry.tests.factories import village

pytestmark = pytest.mark.e2e


def test_the_household_page_shows_members_statuses_and_every_departments_benefits(page, live_server, bob, tmp_path):
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()
    ids = write_city(tmp_path, village().code)
    registry_load_city(directory=tmp_path)
    household = Household.objects.get(hukou_number="1602000000001")
    login(page, live_server, bob)
    page.goto(live_server.url + "/staff/registry/households/")
    page.fill("#q", ids[1])  # any member's number finds the household (blind index)
    go(page, page.get_by_role("button", name="查找"))
    go(page, page.get_by_test_id("results").get_by_role("link"))
    page.wait_for_url(f"**/households/{household.public_id}/")
    assert "低保" in page.inner_text("main")
    benefits = page.inner_text("[data-testid=benefits]")
    assert "民政" in benefits and "医保" in benefits and "红十字会" in benefits
    assert ids[0] not in page.content()
    page.once("dialog", lambda dialog: dialog.accept("填写银行代发表"))
    page.get_by_role("button", name="查看").first.click()
    page.wait_for_selector("[data-testid=revealed]")
    assert AuditEvent.objects.filter(action="registry.id_number_reveal", reason="填写银行代发表").exists()
    screenshot(page, "registry-household-benefits")
