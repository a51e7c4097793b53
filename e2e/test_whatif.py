"""影响测算 in the browser: 民政局's catalogue editor raises the 低保 income line in a draft, runs
the what-if, and sees the households and money gained in 市中街道 before publishing."""

from __future__ import annotations

import pytest

from e2e.conftest import go, login, screenshot
from ejia.demo.staff import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


@pytest.fixture
def city(transactional_db, demo_city):
    return demo_city


def test_an_editor_runs_the_what_if_of_a_draft_and_sees_the_table(page, live_server, city):
    login(page, live_server, city["editor_mz"], password=DEMO_PASSWORD)
    page.goto(live_server.url + "/staff/catalogue/dibao/")
    page.locator("#id_criteria-0-expr").fill('income_per_capita_month_fen < 1.5 * standard("dibao")')
    page.locator("#id_amount_expr").fill('round_yuan(1.5 * standard("dibao") * size - income_total_month_fen)')
    go(page, "#run-whatif")
    body = page.get_by_test_id("whatif")
    body.and_(page.locator("[data-status=finished]")).wait_for()
    township = page.get_by_test_id("whatif-township").filter(has_text="市中街道")
    cells = township.locator("td")
    assert int(cells.nth(0).inner_text().replace(",", "")) > 0
    assert cells.nth(3).inner_text().startswith("¥")
    assert "数据导出于" in page.get_by_test_id("whatif-staleness").inner_text()
    screenshot(page, "whatif-table")
    # Back in the editor, the live count reads the same export.
    go(page, page.get_by_role("link", name="返回编辑"))
    assert "全市登记家庭" in page.locator("#count-population").inner_text()
