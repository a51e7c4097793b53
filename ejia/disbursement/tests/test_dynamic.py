"""动态管理: gradual exit, tier moves, deaths, suspension, reviews — each with written outcomes."""

from __future__ import annotations

import datetime as dt

import pytest

from ejia.catalogue.plan import Plan, PlanOutcome
from ejia.catalogue.planning import entry_for
from ejia.disbursement.batches import batch_build
from ejia.disbursement.dynamic import change_report_create, change_report_decide, review_complete
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import ChangeReport, Entitlement, Notice, Outcome, PaymentItem, add_months
from ejia.disbursement.selectors import household_entitlements_panel, reviews_due_for_user
from ejia.disbursement.services import entitlement_create, entitlement_suspend, entitlements_close_elapsed
from ejia.disbursement.tests.conftest import MAY, household, person
from ejia.registry.models import HouseholdStatus, Membership, StatusKind

pytestmark = pytest.mark.django_db


def _months_paid(entitlement) -> list[dt.date]:
    return sorted(
        PaymentItem.objects.filter(
            entitlement__programme=entitlement.programme, entitlement__household=entitlement.household
        ).values_list("period", flat=True)
    )


def _evaluated(report: ChangeReport, *entries) -> ChangeReport:
    """What change_report_evaluate stores from the engine's results (the engine has its own
    tests): a plan made of the given entries, built through the plan type."""
    report.evaluation = Plan(on=report.effective_on, entries=entries)
    report.status = ChangeReport.Status.EVALUATED
    report.save()
    return report


def test_gradual_exit_pays_six_more_months_then_ends(bob, dave, programmes):
    programmes["dibao"].gradual_exit, programmes["dibao"].gradual_exit_months = True, 6
    programmes["dibao"].save()
    hh = household()
    dibao = entitlement_create(
        actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY
    )
    report = change_report_create(
        actor=bob,
        household=hh,
        kind=ChangeReport.Kind.EMPLOYMENT,
        effective_on=dt.date(2026, 6, 10),
        person=hh.memberships.get().person,
    )
    report = _evaluated(report, entry_for(programmes["dibao"], PlanOutcome.UNLIKELY))
    report = change_report_decide(
        actor=bob, report=report, from_month=dt.date(2026, 6, 1), reason="儿子在开发区就业，月工资3500元"
    )
    assert report.outcome == Outcome.GRADUAL_EXIT
    dibao.refresh_from_db()
    assert dibao.status == Entitlement.Status.GRADUAL_EXIT and dibao.end_month == dt.date(2026, 11, 1)
    for n in range(9):
        batch_build(actor=dave, county="371602", period=add_months(MAY, n))
    assert _months_paid(dibao) == [add_months(MAY, n) for n in range(7)]  # May + six months of 渐退
    assert entitlements_close_elapsed(on=dt.date(2026, 12, 1)) == 1
    dibao.refresh_from_db()
    assert dibao.status == Entitlement.Status.ENDED
    notice = Notice.objects.get(kind=Outcome.GRADUAL_EXIT, entitlement=dibao)
    assert "继续发放 6 个月" in notice.body and "2026-12 起停发" in notice.body


def test_tier_move_keeps_the_special_assistance_the_engine_still_grants(bob, dave, programmes):
    from ejia.catalogue.models import Programme

    heating = Programme.objects.create(
        code="dibao_heating",
        name="低保家庭冬季取暖补贴",
        department=programmes["dibao"].department,
        category="basic_living",
        target="household",
        benefit_form="monthly_cash",
        amount_period="month",
        summary="取暖",
    )
    hh = household()
    member = hh.memberships.get().person
    HouseholdStatus.objects.create(household=hh, kind=StatusKind.DIBAO, start=dt.date(2025, 1, 1))
    entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    entitlement_create(actor=dave, household=hh, programme=heating, amount_fen=5000, start_month=MAY)
    disability = entitlement_create(
        actor=dave,
        household=hh,
        programme=programmes["disability_living_subsidy"],
        person=member,
        amount_fen=9000,
        start_month=MAY,
    )
    report = change_report_create(
        actor=bob, household=hh, kind=ChangeReport.Kind.OTHER, effective_on=dt.date(2026, 6, 3)
    )
    report = _evaluated(
        report,
        entry_for(programmes["dibao"], PlanOutcome.UNLIKELY),
        entry_for(programmes["dibao_edge"], PlanOutcome.LIKELY),
        entry_for(heating, PlanOutcome.UNLIKELY),
        entry_for(programmes["disability_living_subsidy"], PlanOutcome.LIKELY, amount_fen=9000, person=member),
    )
    report = change_report_decide(
        actor=bob, report=report, from_month=dt.date(2026, 7, 1), reason="家庭人均收入超过低保标准但低于1.5倍"
    )
    assert report.outcome == Outcome.TIER_MOVE
    batch_build(actor=dave, county="371602", period=MAY)
    batch_build(actor=dave, county="371602", period=dt.date(2026, 6, 1))
    july = batch_build(actor=dave, county="371602", period=dt.date(2026, 7, 1))
    [item] = PaymentItem.objects.filter(line__batch=july)
    assert item.entitlement == disability and item.amount_fen == 9000
    assert HouseholdStatus.objects.get(household=hh, kind=StatusKind.DIBAO).end == dt.date(2026, 6, 30)
    assert HouseholdStatus.objects.filter(household=hh, kind=StatusKind.DIBAO_EDGE, end__isnull=True).exists()
    notice = Notice.objects.get(kind=Outcome.TIER_MOVE)
    assert "低保边缘" in notice.body and "困难残疾人生活补贴（李四）：继续享受" in notice.body


def test_amount_change_through_a_report(bob, dave, programmes):
    hh = household()
    entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    report = change_report_create(
        actor=bob,
        household=hh,
        kind=ChangeReport.Kind.INCOME_CHANGE,
        effective_on=dt.date(2026, 5, 20),
        person=hh.memberships.get().person,
    )
    _evaluated(report, entry_for(programmes["dibao"], PlanOutcome.LIKELY, amount_fen=42000))
    change_report_decide(actor=bob, report=report, from_month=dt.date(2026, 6, 1), reason="务工收入增加")
    batch_build(actor=dave, county="371602", period=MAY)
    june = batch_build(actor=dave, county="371602", period=dt.date(2026, 6, 1))
    assert june.lines.get().amount_fen == 42000
    assert Entitlement.objects.filter(household=hh, status=Entitlement.Status.ACTIVE).get().previous is not None


def test_a_death_ends_the_members_entitlements_from_the_next_month(bob, dave, programmes):
    hh = household()
    elder = person("王大爷", dt.date(1940, 1, 1))
    Membership.objects.create(household=hh, person=elder, relation="50", date_in=dt.date(2020, 1, 1))
    tekun = entitlement_create(
        actor=dave, household=hh, programme=programmes["tekun"], person=elder, amount_fen=132000, start_month=MAY
    )
    dibao = entitlement_create(
        actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY
    )
    change_report_create(
        actor=None,
        household=hh,
        kind=ChangeReport.Kind.DEATH,
        person=elder,
        effective_on=dt.date(2026, 6, 15),
        channel=ChangeReport.Channel.DEPARTMENT,
    )
    tekun.refresh_from_db()
    assert tekun.status == Entitlement.Status.ENDED and tekun.end_month == dt.date(2026, 6, 1)
    batch_build(actor=dave, county="371602", period=MAY)
    june = batch_build(actor=dave, county="371602", period=dt.date(2026, 6, 1))
    july = batch_build(actor=dave, county="371602", period=dt.date(2026, 7, 1))
    assert june.lines.get().amount_fen == 192000  # the month of death is paid
    assert list(july.lines.get().items.values_list("entitlement", flat=True)) == [dibao.pk]
    assert Notice.objects.filter(entitlement=tekun, kind=Outcome.TERMINATE).exists()


def test_suspension_needs_a_written_reason(bob, dave, programmes):
    hh = household()
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    with pytest.raises(DisbursementError, match="书面理由"):
        entitlement_suspend(actor=bob, entitlement=ent, reason=" ")


def test_a_clerk_of_another_township_cannot_decide(carol, dave, programmes):
    from django.core.exceptions import PermissionDenied

    hh = household()
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    with pytest.raises(PermissionDenied):
        entitlement_suspend(actor=carol, entitlement=ent, reason="测试")


def test_reviews_due_appear_for_the_township_window_by_schedule(bob, carol, dave, programmes):
    from ejia.disbursement.models import ReviewSchedule

    ReviewSchedule.objects.create(programme=programmes["dibao"], household_type="working_age", interval_months=6)
    young = household(head=person("青年", dt.date(1990, 1, 1)))
    old = household(head=person("老人", dt.date(1940, 1, 1)))
    a = entitlement_create(actor=dave, household=young, programme=programmes["dibao"], amount_fen=1, start_month=MAY)
    b = entitlement_create(actor=dave, household=old, programme=programmes["dibao"], amount_fen=1, start_month=MAY)
    assert (a.next_review_on, b.next_review_on) == (dt.date(2026, 11, 1), dt.date(2027, 5, 1))
    due = reviews_due_for_user(user=bob, on=dt.date(2026, 11, 1))
    assert [e.pk for e in due] == [a.pk]
    assert reviews_due_for_user(user=carol, on=dt.date(2027, 6, 1)) == []
    review_complete(
        actor=bob, entitlement=a, outcome=Outcome.CONTINUE, note="入户核查，情况无变化", on=dt.date(2026, 11, 3)
    )
    a.refresh_from_db()
    assert a.next_review_on == dt.date(2027, 5, 1)
    panel = household_entitlements_panel(user=bob, household=young)
    assert panel.entitlements[0].pk == a.pk and panel.monthly_total_fen == 1
