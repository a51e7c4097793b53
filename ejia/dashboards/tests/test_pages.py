"""The dashboard page: what it shows agrees with the raw rows, it drills down from county to
township to village, a department sees only its programmes, and nobody sees outside their area."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db.models import Sum
from django.utils import timezone

from conftest import _unit, make_staff
from ejia.accounts.models import Division, Role
from ejia.dashboards.refresh import refresh
from ejia.dashboards.selectors import RangeError, dashboard, month_range
from ejia.dashboards.templatetags.dashboards import format_value
from ejia.dashboards.types import Kind
from ejia.disbursement.models import PaymentItem
from ejia.disbursement.tests.conftest import MAY

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 6, 15)


@pytest.fixture
def refreshed(answered):
    refresh(months=[dt.date(2026, 4, 1), MAY, dt.date(2026, 6, 1)], trigger="test")
    return answered


def _board(user, area=None, start="2026-04", end="2026-06"):
    return dashboard(user, area_code=area, start=start, end=end, today=TODAY)


def _row(table, first: str) -> tuple:
    return next(r for r in table.rows if r[0] == first)


def test_the_county_board_agrees_with_the_payment_items(refreshed, dave):
    board = _board(dave)
    assert board.area_code == "371602" and board.child_level == "township"
    trend = board.find_table("money_trend")
    may = _row(trend, "2026年5月")
    raw = PaymentItem.objects.filter(period=MAY).aggregate(t=Sum("amount_fen"))["t"]
    paid = PaymentItem.objects.filter(period=MAY, line__status="paid").aggregate(t=Sum("amount_fen"))["t"]
    assert (may[1], may[2]) == (raw, paid) == (60000 + 22900 + 121200 + 50000, 60000 + 22900)
    assert trend.total[1] == raw
    # 市中街道 holds every household of the fixture; the other townships none.
    areas = board.find_table("money_areas")
    assert _row(areas, "市中街道")[1] == raw and _row(areas, "三河湖镇")[1] == 0
    assert "371602001" in areas.links
    coverage = board.find_table("coverage_trend")
    assert _row(coverage, "2026年5月")[1] == 3  # three households with anything in May


def test_drill_down_from_the_county_to_a_village(refreshed, dave, client):
    client.force_login(dave)
    page = client.get("/staff/dashboards/").content.decode()
    assert "滨城区社会救助统计" in page and "/staff/dashboards/371602001/?from=" in page
    page = client.get("/staff/dashboards/371602001/?from=2026-05&to=2026-05").content.decode()
    assert "市中街道社会救助统计" in page and 'data-testid="breadcrumbs"' in page
    village = re.search(r'href="/staff/dashboards/(\d{12})/\?from=2026-05&amp;to=2026-05"', page).group(1)
    page = client.get(f"/staff/dashboards/{village}/?from=2026-05&to=2026-05").content.decode()
    assert Division.objects.get(code=village).name in page
    # The village is the bottom: no drill-down links below it.
    assert 'data-testid="drill"' not in page


def test_a_department_sees_only_its_programmes(refreshed, org):
    mz = make_staff("mz1", _unit("371602", "department", "mz"), Role.DEPT_APPROVER)
    yb = make_staff("yb1", _unit("371602", "department", "yb"), Role.DEPT_APPROVER)
    assert _board(mz).department == "民政局"
    assert _row(_board(mz).find_table("money_trend"), "2026年5月")[1] == 254100
    # None of the fixture's programmes is 医保's: its board is empty, not the county's totals.
    board = _board(yb)
    assert _row(board.find_table("money_trend"), "2026年5月")[1] == 0
    assert board.find_table("coverage_programmes").rows == ()


def test_nobody_sees_outside_their_area(refreshed, bob, carol, alice, client):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        _board(carol, "371602001")  # another township's window
    with pytest.raises(PermissionDenied):
        _board(bob, "371602")  # the window may not read its county
    with pytest.raises(PermissionDenied):
        _board(alice)  # a village clerk has no dashboard
    client.force_login(bob)
    assert client.get("/staff/dashboards/371602/").status_code == 403
    assert client.get("/staff/dashboards/371602001/").status_code == 200


def test_a_bad_range_is_explained_and_the_default_shown(refreshed, dave, client):
    with pytest.raises(RangeError, match="开始月份不能晚于结束月份"):
        month_range(start="2026-06", end="2026-04", today=TODAY)
    with pytest.raises(RangeError, match="格式不对"):
        month_range(start="2026-13", end=None, today=TODAY)
    with pytest.raises(RangeError, match="最多查看 36 个月"):
        month_range(start="2020-01", end="2026-06", today=TODAY)
    assert len(month_range(start=None, end=None, today=TODAY)) == 12
    client.force_login(dave)
    today = timezone.localdate()
    page = client.get("/staff/dashboards/?from=2026-06&to=2026-04", follow=True).content.decode()
    assert "开始月份不能晚于结束月份" in page
    assert f'value="{today:%Y-%m}"' in page


def test_numbers_are_written_the_chinese_way():
    assert format_value(123456789, Kind.FEN) == "¥1,234,567.89"
    assert format_value(-5, Kind.FEN) == "-¥0.05"
    assert format_value(12345, Kind.COUNT) == "12,345"
    assert format_value(None, Kind.COUNT) == "—"
    assert format_value(2.25, Kind.PERMILLE) == "2.2"
    assert format_value(12.34, Kind.PERCENT) == "12.3%"


def test_a_failed_refresh_stays_visible_until_that_month_is_refreshed(refreshed, dave, client, monkeypatch):
    from ejia.dashboards import refresh as module
    from ejia.dashboards.models import PaymentMonthly

    def broken(month, tree):
        raise RuntimeError("连接中断")

    good = module.PARTS
    monkeypatch.setattr(module, "PARTS", [module.Part("money", (PaymentMonthly,), broken), *good[1:]])
    refresh(months=[MAY], trigger="test")
    monkeypatch.setattr(module, "PARTS", good)
    # Another month passing later does not hide May's failure.
    refresh(months=[dt.date(2026, 6, 1)], trigger="test")
    assert _board(dave).failed_refreshes == 1
    client.force_login(dave)
    home = client.get("/staff/").content.decode()
    assert "统计刷新失败的月份" in home
    assert "1 个月份的统计刷新失败" in client.get("/staff/dashboards/").content.decode()
    refresh(months=[MAY], trigger="test")
    assert _board(dave).failed_refreshes == 0
    assert "统计刷新失败的月份" not in client.get("/staff/").content.decode()


def test_the_home_page_leads_a_reader_to_the_dashboards(refreshed, org, client):
    leader = make_staff("leader1", _unit("371600", "centre"), Role.LEADER)
    client.force_login(leader)
    home = client.get("/staff/").content.decode()
    assert 'href="/staff/dashboards/"' in home
    assert client.get("/staff/dashboards/").status_code == 200
    # The leader reads statistics only: no case queue, no household.
    assert client.get("/staff/cases/").status_code == 403
