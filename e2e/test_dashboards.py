"""统计看板 in the browser: the city's leader, 滨城区's centre director and 市中街道's window clerk
each open their area's dashboard; the numbers agree with the raw payment and entitlement rows
(recomputed here); the leader drills down from the city to a village; the window clerk cannot
open the county's."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.db.models import Q, Sum
from django.utils import timezone

from e2e.conftest import go, login, screenshot
from ejia.catalogue.models import Programme
from ejia.dashboards.refresh import refresh
from ejia.demo.staff import DEMO_PASSWORD
from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.models import Entitlement, PaymentItem
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import bank_answer, household

pytestmark = pytest.mark.e2e


@pytest.fixture
def paid(transactional_db, demo_city):
    """This month in 市中街道, paid through the real services: two households on 低保 (one with a
    disability subsidy too), one paid and one failed by the bank, one held without an account."""
    reviewer, director = demo_city["county_reviewer"], demo_city["centre_director"]
    month = timezone.localdate().replace(day=1)
    dibao, disability = Programme.objects.get(code="dibao"), Programme.objects.get(code="disability_living_subsidy")
    first, second, third = household(), household(), household(account=None)
    entitlement_create(actor=reviewer, household=first, programme=dibao, amount_fen=60000, start_month=month)
    entitlement_create(
        actor=reviewer,
        household=first,
        programme=disability,
        person=first.memberships.get().person,
        amount_fen=22900,
        start_month=month,
    )
    entitlement_create(actor=reviewer, household=second, programme=dibao, amount_fen=121200, start_month=month)
    entitlement_create(actor=reviewer, household=third, programme=dibao, amount_fen=50000, start_month=month)
    batch = batch_release(actor=director, batch=batch_build(actor=reviewer, county="371602", period=month))
    bank_file_export(actor=director, batch=batch)
    one, two = batch.lines.get(household=first), batch.lines.get(household=second)
    bank_return_import(
        actor=director,
        batch=batch,
        data=bank_answer(
            [one.reference, "829.00", "成功", "B1", ""], [two.reference, "1212.00", "失败", "", "账户冻结"]
        ),
    )
    refresh(months=[month], trigger="test")
    return {"month": month, "village": first.division}


def _cell(page, table: str, row: str, key: str) -> str:
    return (
        page.get_by_test_id(f"table-{table}")
        .locator("tr", has=page.locator("th", has_text=row))
        .locator(f"td[data-key={key}]")
        .inner_text()
    )


def _yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def test_leader_director_and_window_clerk_read_their_dashboards(page, live_server, paid, demo_city):
    month = paid["month"]
    label = f"{month.year}年{month.month}月"
    due = PaymentItem.objects.filter(period=month).aggregate(t=Sum("amount_fen"))["t"]
    arrived = PaymentItem.objects.filter(period=month, line__status="paid").aggregate(t=Sum("amount_fen"))["t"]
    households = (
        Entitlement.objects.filter(start_month__lte=month)
        .filter(Q(end_month__isnull=True) | Q(end_month__gte=month))
        .values("household")
        .distinct()
        .count()
    )

    # The city's leader: the city, then down to the county, the township and the village.
    login(page, live_server, demo_city["leader"], password=DEMO_PASSWORD)
    go(page, page.get_by_test_id("nav-dashboards"))
    assert "滨州市社会救助统计" in page.get_by_test_id("dashboard-title").inner_text()
    page.locator("[data-testid=chart-money_trend][data-drawn]").wait_for()
    assert _cell(page, "money_trend", label, "due") == _yuan(due)
    assert _cell(page, "money_trend", label, "paid") == _yuan(arrived)
    assert _cell(page, "coverage_trend", label, "households") == str(households)
    screenshot(page, "dashboard-city")
    go(page, page.get_by_test_id("table-coverage_areas").get_by_role("link", name="滨城区"))
    assert "滨城区社会救助统计" in page.get_by_test_id("dashboard-title").inner_text()
    go(page, page.get_by_test_id("table-money_areas").get_by_role("link", name="市中街道"))
    assert _cell(page, "money_areas", paid["village"].name, "due") == _yuan(due)
    go(page, page.get_by_test_id("table-money_areas").get_by_role("link", name=paid["village"].name))
    assert paid["village"].name in page.get_by_test_id("dashboard-title").inner_text()
    assert _cell(page, "money_trend", label, "due") == _yuan(due)
    # The breadcrumbs lead back to the city.
    go(page, page.get_by_test_id("breadcrumbs").get_by_role("link", name="滨州市"))
    assert "滨州市社会救助统计" in page.get_by_test_id("dashboard-title").inner_text()

    # 滨城区's centre director: the county's board, with every township.
    page.context.clear_cookies()
    login(page, live_server, demo_city["centre_director"], password=DEMO_PASSWORD)
    go(page, page.get_by_test_id("nav-dashboards"))
    assert "滨城区社会救助统计" in page.get_by_test_id("dashboard-title").inner_text()
    assert _cell(page, "money_areas", "市中街道", "paid") == _yuan(arrived)
    assert _cell(page, "money_areas", "三河湖镇", "paid") == "¥0.00"
    screenshot(page, "dashboard-county")
    # The same table downloads as CSV, with the same numbers (in 元).
    with page.expect_download() as got:
        page.get_by_test_id("export-money_areas").get_by_role("link", name="CSV").click()
    text = Path(got.value.path()).read_bytes().decode("utf-8-sig")
    row = next(line for line in text.splitlines() if line.startswith("市中街道,"))
    assert row.split(",")[1:3] == [f"{due / 100:.2f}", f"{arrived / 100:.2f}"]
    # The monthly report prints as a PDF naming the county and the month.
    with page.expect_download() as got:
        page.get_by_test_id("report-pdf").click()
    pdf = Path(got.value.path())
    assert pdf.read_bytes().startswith(b"%PDF")
    words = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "滨城区" in words and "月度社会救助工作报告" in words and label in words

    # 市中街道's window clerk: the township's board; the county's is refused.
    page.context.clear_cookies()
    login(page, live_server, demo_city["window_clerk"], password=DEMO_PASSWORD)
    go(page, page.get_by_test_id("nav-dashboards"))
    assert "市中街道社会救助统计" in page.get_by_test_id("dashboard-title").inner_text()
    assert _cell(page, "coverage_trend", label, "households") == str(households)
    screenshot(page, "dashboard-township")
    response = page.goto(live_server.url + "/staff/dashboards/371602/")
    assert response.status == 403 and "不在范围内" in page.inner_text("main")
