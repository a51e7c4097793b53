"""Bob, at the 市中街道 window, opens the 张 household's application and clicks 一键核对: the
departments answer from their imported files and the report fills in — what was found, where
it differs from the declaration, and what it changes in the plan."""

from __future__ import annotations

import pytest

from e2e.conftest import go, login, screenshot
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.cases.tests.test_verification_views import (
    HEAD,
    SPOUSE,
    department_rows,
    import_departments,
    pending_check,
)
from ejia.verification.checks import check_source_run
from ejia.verification.sources import sources_seed

pytestmark = pytest.mark.e2e


@pytest.fixture
def zhang_case(bob, catalogue, tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    sources_seed()
    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="e2e-verify", data=application(HEAD, SPOUSE))
    import_departments(tmp_path / "departments", rows=department_rows(HEAD["id_number"], SPOUSE["id_number"]))
    return case


def test_a_window_clerk_runs_the_one_click_check_and_reads_the_report(page, live_server, bob, zhang_case):
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/staff/cases/{zhang_case.public_id}/")
    card = page.locator("[data-testid=verification-card]")
    assert "尚未核对" in card.inner_text()
    go(page, card.locator("[data-testid=verification-link]"))
    assert "张大山" in page.inner_text("[data-testid=start-members]")
    go(page, "[data-testid=start]")

    page.wait_for_selector("[data-testid=differences]")
    assert page.inner_text("[data-testid=check-status]") == "已完成"
    differences = page.inner_text("[data-testid=differences]")
    assert "家庭金融资产" in differences and "非生活必需机动车辆" in differences
    assert page.locator("[data-testid=sources] tbody tr[data-status=done]").count() == 12
    head = page.locator("[data-testid=member]", has_text="张大山")
    assert "中国工商银行滨州分行" in head.inner_text() and "鲁MA1234" in head.inner_text()
    assert "最低生活保障" in page.inner_text("[data-testid=plan-changes]")
    assert HEAD["id_number"] not in page.content()
    screenshot(page, "verification-report")

    # Ask the bank again: htmx swaps the panel in place, the report stays complete.
    with page.expect_response(lambda r: "/rerun/" in r.url) as rerun:
        page.locator("tr[data-source=bank_deposit] [data-testid=rerun]").click()
    assert rerun.value.status == 200
    page.wait_for_selector("#verification-panel[data-status=complete] tr[data-source=bank_deposit][data-status=done]")
    assert "/verification/" in page.url

    page.goto(f"{live_server.url}/staff/cases/{zhang_case.public_id}/")
    assert "已完成" in page.inner_text("[data-testid=verification-status]")


def test_the_report_fills_in_as_the_departments_answer_and_stops_polling(page, live_server, bob, zhang_case):
    # A check whose sources have not answered yet (in production each is a background task).
    check = pending_check(zhang_case, bob)
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/staff/cases/{zhang_case.public_id}/verification/")
    page.wait_for_selector("#verification-panel[data-status=running]")
    rows = list(check.sources.all())
    for row in rows[:6]:
        check_source_run(check_source_id=row.pk)
    page.wait_for_function("() => document.querySelectorAll('[data-testid=sources] tr[data-status=done]').length == 6")
    assert "鲁MA1234" in page.inner_text("[data-testid=member] >> nth=0")
    assert page.locator("#verification-panel[hx-trigger]").count() == 1
    screenshot(page, "verification-filling-in")
    for row in rows[6:]:
        check_source_run(check_source_id=row.pk)
    page.wait_for_selector("#verification-panel[data-status=complete]")
    assert page.locator("[hx-trigger]").count() == 0
    assert "家庭金融资产" in page.inner_text("[data-testid=facts]")
