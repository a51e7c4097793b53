"""动态管理 through the pages: a change report that carries the change, the 梯度 move the engine
gives, the notice, and what the monthly batches then pay.

- An income rise moves a 低保 household into 渐退期: the batches pay the gradual months at the
  old amount and then stop, with a notice at each step.
- A death registration in a 民政 file raises an alert; confirmed, it ends the member's own
  benefit and recomputes the household's 低保 from the next month.
- A worsening moves a 低保边缘 household into 低保.

The households are set up with the registry's and the money app's services (as a decided
case leaves them); everything after that happens in the browser. Months pass by moving the
platform's date (the pages only offer batches up to next month).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from conftest import _unit, make_staff
from e2e.conftest import go, login, screenshot
from ejia.accounts.models import Division, Role
from ejia.catalogue.models import Programme
from ejia.core import idnumber
from ejia.disbursement.models import Entitlement, Notice, PaymentItem, add_months, period_label
from ejia.disbursement.services import entitlement_create
from ejia.registry.models import HouseholdStatus, StatusKind
from ejia.registry.services import (
    household_account_set,
    household_create,
    membership_add,
    person_ensure,
    status_begin,
)

pytestmark = pytest.mark.e2e
_REAL_LOCALDATE = timezone.localdate


@pytest.fixture
def seeded(catalogue):
    from ejia.core.outbox import templates_seed
    from ejia.verification.sources import sources_seed

    templates_seed()
    sources_seed()


def _family(dave, village, names_incomes, *, status=None, seq=1, account="6228480000009990001"):
    """A household as the registry holds it after a decision: members with their incomes, an
    account for 一卡发放, and (optionally) an assistance status from this year's January."""
    hh = household_create(
        actor=dave,
        division=village,
        address=f"幸福路{seq}号",
        facts={"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False},
    )
    persons = []
    for n, (name, income) in enumerate(names_incomes):
        number = idnumber.make("371602", dt.date(1970 + n, 3, 1), seq * 10 + n)
        p = person_ensure(actor=dave, id_number=number, name=name)
        membership_add(
            actor=dave,
            household=hh,
            person=p,
            relation="02" if n == 0 else "10",
            date_in=dt.date(2020, 1, 1),
            facts={"income_month_fen": income},
        )
        persons.append((p, number))
    household_account_set(
        actor=dave, household=hh, bank_name="滨州农商银行", account_number=account, holder=persons[0][0]
    )
    if status:
        status_begin(actor=dave, household=hh, kind=status, start=_REAL_LOCALDATE().replace(month=1, day=1))
    return hh, persons


def _dibao(dave, hh, amount_fen, start):
    return entitlement_create(
        actor=dave,
        household=hh,
        programme=Programme.objects.get(code="dibao"),
        amount_fen=amount_fen,
        start_month=start,
    )


def _on(monkeypatch, day: dt.date) -> None:
    """The platform's date is `day` from now on (the live server runs in this process)."""

    def localdate(value=None, timezone=None):
        return _REAL_LOCALDATE(value, timezone) if value is not None else day

    monkeypatch.setattr("django.utils.timezone.localdate", localdate)


def _build(page, live_server, month: dt.date) -> None:
    page.goto(live_server.url + "/staff/pay/")
    page.select_option("#id_county", "371602")
    page.select_option("#id_period", period_label(month))
    go(page, "[data-testid=build-form] button[type=submit]")
    page.wait_for_function("() => !document.querySelector('[data-testid=progress]')")


def _report_change(page, live_server, household, kind: str) -> None:
    """From the household's 360° page: 报告变化, then the kind of change."""
    page.goto(f"{live_server.url}/staff/registry/households/{household.public_id}/")
    go(page, "[data-testid=household-dynamic] a:has-text('报告变化')")
    go(page, f"[data-testid=change-kinds] a[data-kind={kind}]")


def test_an_income_rise_moves_dibao_into_gradual_exit_then_batches_stop(
    page, live_server, seeded, bob, dave, monkeypatch
):
    village = Division.objects.filter(parent__code="371602001", level="village").order_by("code").first()
    this = _REAL_LOCALDATE().replace(day=1)
    hh, [(head, _n1), (_spouse, _n2)] = _family(
        dave, village, [("王建国", 0), ("李秀英", 0)], status=StatusKind.DIBAO, seq=1
    )
    dibao = _dibao(dave, hh, 200200, this)
    # Another household of the county keeps its 低保: its months are built after ours stop.
    other, _ = _family(dave, village, [("孙大海", 0)], status=StatusKind.DIBAO, seq=2, account="6228480000009990002")
    _dibao(dave, other, 100100, this)

    login(page, live_server, bob)
    _report_change(page, live_server, hh, "income_change")
    page.select_option("#id_person", str(head.public_id))
    page.fill("#id_effective_on", _REAL_LOCALDATE().isoformat())
    page.select_option("#id_source", "household")
    page.fill("#id_source_detail", "户主本人申报（开发区企业劳动合同）")
    page.fill("#id_fact_income_month_fen", "4800")
    screenshot(page, "dynamic-income-form")
    go(page, "[data-testid=change-form] button[type=submit]")
    table = page.locator("[data-testid=before-after]")
    dibao_row = table.locator("tr[data-code=dibao]")
    assert "进入渐退期" in dibao_row.inner_text() and "6 个月" in dibao_row.inner_text()
    assert "可能符合" in dibao_row.inner_text() and "暂不符合" in dibao_row.inner_text()  # before → after
    assert "个人月收入：¥4,800.00（王建国）" in page.inner_text("[data-testid=report-facts]")
    screenshot(page, "dynamic-income-before-after")
    page.fill("#id_reason", "户主就业，家庭人均收入超过低保标准")
    go(page, "[data-testid=decide-form] button[type=submit]")
    assert "进入渐退期" in page.inner_text("[data-testid=decision]")
    m1 = add_months(this, 1)
    dibao.refresh_from_db()
    assert (dibao.status, dibao.start_month, dibao.end_month) == ("gradual_exit", this, add_months(m1, 5))
    notices = page.inner_text("[data-testid=household-entitlements]")
    assert "渐退告知书" in notices and "继续发放 6 个月" in notices and "行政复议" in notices

    # Month by month, the county reviewer builds the batches: six gradual months, then none.
    login(page, live_server, dave)
    for k in range(0, 8):
        month = add_months(this, k)
        _on(monkeypatch, add_months(month, -1).replace(day=15))
        _build(page, live_server, month)
    paid = sorted(PaymentItem.objects.filter(entitlement__household=hh).values_list("period", "amount_fen"))
    assert paid == [(add_months(this, k), 200200) for k in range(7)]  # this month + six of 渐退
    assert PaymentItem.objects.filter(entitlement__household=other, period=add_months(this, 7)).exists()
    page.goto(f"{live_server.url}/staff/registry/households/{hh.public_id}/")
    panel = page.inner_text("[data-testid=household-entitlements]")
    assert "渐退期届满告知书" in panel and f"自 {period_label(add_months(this, 7))} 起停止发放" in panel
    assert Entitlement.objects.get(pk=dibao.pk).status == "ended"
    screenshot(page, "dynamic-gradual-exit-ended")


def test_a_death_registration_raises_an_alert_that_ends_the_members_benefit(
    page, live_server, seeded, bob, dave, tmp_path
):
    village = Division.objects.filter(parent__code="371602001", level="village").order_by("code").first()
    this = _REAL_LOCALDATE().replace(day=1)
    hh, [(_head, _n1), (elder, elder_number)] = _family(
        dave, village, [("张国庆", 0), ("张老汉", 0)], status=StatusKind.DIBAO, seq=3, account="6228480000009990003"
    )
    dibao = _dibao(dave, hh, 200200, this)
    subsidy = entitlement_create(
        actor=dave,
        household=hh,
        programme=Programme.objects.get(code="disability_living_subsidy"),
        person=elder,
        amount_fen=9000,
        start_month=this,
    )
    died = _REAL_LOCALDATE() - dt.timedelta(days=1)
    operator = make_staff("olga", _unit("371600", "centre"), Role.EXCHANGE_OPERATOR, display_name="杨帆")
    path = tmp_path / "死亡登记.csv"
    path.write_text(
        "证件号码,姓名,事件类型,事件日期,登记机关\n" + f"{elder_number},张老汉,死亡,{died.isoformat()},滨城区民政局\n",
        encoding="utf-8",
    )
    login(page, live_server, operator)
    page.goto(live_server.url + "/staff/exchange/sources/mz_civil/upload/")
    page.set_input_files("#id_file", str(path))
    go(page, "form[enctype='multipart/form-data'] button[type=submit]")
    page.wait_for_selector("[data-testid=commit]")
    go(page, "[data-testid=commit]")
    page.wait_for_selector("[data-testid=committed]")

    login(page, live_server, bob)
    page.goto(live_server.url + "/staff/pay/reviews/")
    row = page.locator("[data-testid=alerts] tr[data-reason=death]")
    assert "张老汉" in row.inner_text() and "民政局" in row.inner_text()
    screenshot(page, "dynamic-queue-death-alert")
    go(page, row.locator("a"))
    assert "已死亡（本年度）：是（张老汉）" in page.inner_text("[data-testid=alert-facts]")
    go(page, "button[name=confirm]")
    # The report carries the department's facts and source; the member is out of the count.
    assert "民政局" in page.inner_text("[data-testid=report-facts]")
    row = page.locator("[data-testid=before-after] tr[data-code=dibao]")
    assert "调整金额：¥2,002.00 → ¥1,001.00" in row.inner_text()
    screenshot(page, "dynamic-death-before-after")
    page.fill("#id_reason", "家庭成员死亡，家庭人口减为1人")
    go(page, "[data-testid=decide-form] button[type=submit]")
    subsidy.refresh_from_db()
    assert (subsidy.status, subsidy.end_month) == ("ended", died.replace(day=1))
    m1 = add_months(this, 1)
    current = Entitlement.objects.get(household=hh, programme__code="dibao", start_month=m1)
    assert current.amount_fen == 100100 and Entitlement.objects.get(pk=dibao.pk).end_month == this
    assert Notice.objects.filter(household=hh, entitlement=subsidy, title__contains="终止").exists()
    page.goto(f"{live_server.url}/staff/registry/households/{hh.public_id}/")
    assert "张老汉" not in page.inner_text("[data-testid=members]")
    screenshot(page, "dynamic-death-household")


def test_a_worsening_moves_an_edge_household_into_dibao(page, live_server, seeded, bob, dave):
    village = Division.objects.filter(parent__code="371602001", level="village").order_by("code").first()
    hh, [(head, _n1), _] = _family(
        dave, village, [("刘卫东", 250000), ("周桂兰", 0)], status=StatusKind.DIBAO_EDGE, seq=4
    )
    login(page, live_server, bob)
    _report_change(page, live_server, hh, "employment")
    page.select_option("#id_person", str(head.public_id))
    page.fill("#id_effective_on", _REAL_LOCALDATE().isoformat())
    page.select_option("#id_source", "visit")
    page.fill("#id_source_detail", "网格员入户核实：企业停产，户主失业")
    page.select_option("#id_fact_employment", "unemployed")
    page.fill("#id_fact_income_month_fen", "0")
    go(page, "[data-testid=change-form] button[type=submit]")
    table = page.inner_text("[data-testid=before-after]")
    assert "转入（梯度调整）" in table and "身份终止" in table
    screenshot(page, "dynamic-edge-to-dibao")
    page.fill("#id_reason", "户主失业，家庭人均收入低于低保标准")
    go(page, "[data-testid=decide-form] button[type=submit]")
    m1 = add_months(_REAL_LOCALDATE().replace(day=1), 1)
    dibao = Entitlement.objects.get(household=hh, programme__code="dibao")
    assert (dibao.start_month, dibao.amount_fen) == (m1, 200200)
    assert HouseholdStatus.objects.get(household=hh, kind=StatusKind.DIBAO).start == m1
    assert HouseholdStatus.objects.get(household=hh, kind=StatusKind.DIBAO_EDGE).end == m1 - dt.timedelta(days=1)
    page.goto(f"{live_server.url}/staff/registry/households/{hh.public_id}/")
    assert "最低生活保障（低保）：自" in page.inner_text("[data-testid=household-entitlements]")
