"""Change reports carry the change: each kind's form comes from the fact registry, the report's
facts reach the engine, and the 梯度 moves follow from the engine's before and after."""

from __future__ import annotations

import datetime as dt

import pytest

from ejia.catalogue.models import Programme
from ejia.catalogue.plan import PlanOutcome
from ejia.disbursement.batches import batch_build
from ejia.disbursement.change_facts import CHANGE_KINDS, ChangeFactsForm, facts_for_report
from ejia.disbursement.departures import recovery_close
from ejia.disbursement.dynamic import change_report_create, change_report_decide, change_report_evaluate
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import ChangeReport, Entitlement, Notice, Outcome, PaymentItem, Recovery
from ejia.disbursement.moves import MoveAction, planned_moves
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import MAY, household, person
from ejia.registry.models import HouseholdStatus, Membership, StatusKind
from ejia.registry.services import status_begin
from ejia.rules.facts import FACTS

pytestmark = pytest.mark.django_db
TODAY = dt.date(2026, 12, 4)


@pytest.fixture
def seeded(org):
    from ejia.catalogue.seed import catalogue_seed
    from ejia.catalogue.selectors import engine_cache_clear

    engine_cache_clear()
    catalogue_seed()
    yield
    engine_cache_clear()


def _family(*incomes_fen: int):
    """An urban household of 市中街道 with no property; one member per income."""
    heads = [person(f"成员{n}", dt.date(1975 + n, 2, 1)) for n in range(len(incomes_fen))]
    hh = household(head=heads[0])
    hh.facts = {"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False}
    hh.save()
    for p in heads[1:]:
        Membership.objects.create(household=hh, person=p, relation="10", date_in=dt.date(2020, 1, 1))
    for p, income in zip(heads, incomes_fen, strict=True):
        Membership.objects.filter(household=hh, person=p).update(facts={"income_month_fen": income})
    return hh, heads


def test_each_kind_has_a_form_made_from_the_fact_registry():
    for kind in CHANGE_KINDS.values():
        form = ChangeFactsForm(kind=kind, members=[], today=TODAY)
        for name in kind.facts:
            assert str(form.fields[f"fact_{name}"].label).startswith(FACTS[name].label)
    form = ChangeFactsForm(
        {
            "effective_on": "2026-11-20",
            "source": "household",
            "source_detail": "户主本人申报",
            "fact_vehicles": "1",
        },
        kind=CHANGE_KINDS["vehicle"],
        members=[],
        today=TODAY,
    )
    assert form.is_valid(), form.errors
    assert facts_for_report(form.kind, form.new_facts(), None) == {"household": {"vehicles": 1}, "members": {}}


def test_a_money_fact_is_entered_in_yuan_and_kept_in_fen_and_a_future_date_is_refused(org):
    head = person("张三")
    data = {"person": str(head.public_id), "source": "household", "source_detail": "本人申报"}
    form = ChangeFactsForm(
        {**data, "effective_on": "2026-11-01", "fact_income_month_fen": "3500.50"},
        kind=CHANGE_KINDS["income_change"],
        members=[head],
        today=TODAY,
    )
    assert form.is_valid(), form.errors
    assert form.new_facts() == {"income_month_fen": 350050}
    late = ChangeFactsForm(
        {**data, "effective_on": "2026-12-30", "fact_income_month_fen": "1"},
        kind=CHANGE_KINDS["income_change"],
        members=[head],
        today=TODAY,
    )
    assert not late.is_valid() and "不能晚于今天" in str(late.errors)
    empty = ChangeFactsForm(
        {**data, "effective_on": "2026-11-01"}, kind=CHANGE_KINDS["income_change"], members=[head], today=TODAY
    )
    assert not empty.is_valid() and "至少填写一项" in str(empty.errors)


def test_an_income_report_without_the_member_is_refused(bob, org):
    hh, _ = _family(0)
    with pytest.raises(DisbursementError, match="家庭成员"):
        change_report_create(actor=bob, household=hh, kind="income_change", effective_on=dt.date(2026, 11, 1))


def test_worsening_moves_an_edge_household_into_dibao_from_the_decided_month(bob, dave, seeded):
    hh, (head, _spouse) = _family(250000, 0)
    status_begin(actor=dave, household=hh, kind=StatusKind.DIBAO_EDGE, start=dt.date(2026, 1, 1))
    report = change_report_create(
        actor=bob,
        household=hh,
        kind="employment",
        person=head,
        effective_on=dt.date(2026, 11, 10),
        details={"facts": {"members": {str(head.public_id): {"employment": "unemployed", "income_month_fen": 0}}}},
        source="household",
        source_detail="户主本人申报（企业裁员）",
    )
    report = change_report_evaluate(actor=bob, report=report)
    assert report.evaluation_before.get("dibao").outcome == PlanOutcome.UNLIKELY
    assert report.evaluation.get("dibao").outcome == PlanOutcome.LIKELY
    moves = {m.code: m for m in planned_moves(report)}
    assert moves["dibao"].action == MoveAction.START
    assert moves["dibao_edge"].action == MoveAction.STATUS_END
    amount = report.evaluation.get("dibao").amount_fen
    report = change_report_decide(actor=bob, report=report, from_month=dt.date(2027, 1, 1), reason="户主失业，无收入")
    assert report.outcome == Outcome.TIER_MOVE
    dibao = Entitlement.objects.get(household=hh, programme__code="dibao")
    assert (dibao.amount_fen, dibao.start_month, dibao.status) == (amount, dt.date(2027, 1, 1), "active")
    assert HouseholdStatus.objects.get(household=hh, kind=StatusKind.DIBAO).start == dt.date(2027, 1, 1)
    assert HouseholdStatus.objects.get(household=hh, kind=StatusKind.DIBAO_EDGE).end == dt.date(2026, 12, 31)
    notice = Notice.objects.get(household=hh, title="救助待遇变更决定书")
    assert "最低生活保障（低保）：自 2027-01 起纳入" in notice.body and "行政复议" in notice.body
    # The decided facts are the registry's now: the next report starts from them.
    assert Membership.objects.get(person=head).facts["employment"] == "unemployed"


def test_a_death_ends_the_members_benefit_recomputes_the_household_and_lists_paid_months(bob, dave, seeded):
    hh, (_head, spouse) = _family(0, 0)
    dibao_programme = Programme.objects.get(code="dibao")
    status_begin(actor=dave, household=hh, kind=StatusKind.DIBAO, start=MAY)
    dibao = entitlement_create(actor=dave, household=hh, programme=dibao_programme, amount_fen=200200, start_month=MAY)
    subsidy = entitlement_create(
        actor=dave,
        household=hh,
        programme=Programme.objects.get(code="disability_living_subsidy"),
        person=spouse,
        amount_fen=9000,
        start_month=MAY,
    )
    for month in (MAY, dt.date(2026, 6, 1), dt.date(2026, 7, 1)):
        batch_build(actor=dave, county="371602", period=month)
    report = change_report_create(
        actor=bob,
        household=hh,
        kind="death",
        person=spouse,
        effective_on=dt.date(2026, 5, 20),
        channel=ChangeReport.Channel.DEPARTMENT,
        source="department",
        source_detail="民政局婚姻及死亡登记",
    )
    spouse.refresh_from_db()
    assert spouse.deceased_on == dt.date(2026, 5, 20)
    assert not Membership.objects.filter(person=spouse, date_out__isnull=True).exists()
    subsidy.refresh_from_db()
    assert subsidy.status == Entitlement.Status.ENDED and subsidy.end_month == MAY
    # June and July were paid already: listed for recovery, not ignored.
    recoveries = Recovery.objects.filter(person=spouse).order_by("period")
    assert [(r.period, r.amount_fen) for r in recoveries] == [(dt.date(2026, 6, 1), 9000), (dt.date(2026, 7, 1), 9000)]
    report = change_report_evaluate(actor=bob, report=report)
    alone = report.evaluation.get("dibao").amount_fen
    assert report.evaluation_before.get("dibao").amount_fen == 2 * alone  # one member fewer
    report = change_report_decide(actor=bob, report=report, from_month=dt.date(2026, 8, 1), reason="家庭成员死亡")
    assert report.outcome == Outcome.CHANGE_AMOUNT
    august = batch_build(actor=dave, county="371602", period=dt.date(2026, 8, 1))
    assert [i.amount_fen for i in PaymentItem.objects.filter(line__batch=august)] == [alone]
    dibao.refresh_from_db()
    assert dibao.end_month == dt.date(2026, 7, 1)
    with pytest.raises(DisbursementError, match="书面理由"):
        recovery_close(actor=bob, recovery=recoveries[0], note=" ")
    closed = recovery_close(actor=bob, recovery=recoveries[0], note="家属已退回")
    assert closed.status == Recovery.Status.CLOSED and closed.closed_by == bob
