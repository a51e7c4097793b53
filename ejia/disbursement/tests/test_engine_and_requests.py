"""Re-evaluation with the real catalogue engine, the workflow hand-over, and deliveries."""

from __future__ import annotations

import datetime as dt

import pytest

from ejia.catalogue.models import Programme
from ejia.catalogue.plan import PlanOutcome
from ejia.disbursement.dynamic import change_report_create, change_report_decide, change_report_evaluate
from ejia.disbursement.models import ChangeReport, Delivery, Entitlement, Outcome
from ejia.disbursement.services import delivery_record, entitlement_create, entitlement_create_from_request
from ejia.disbursement.tests.conftest import MAY, household, person
from ejia.registry.models import BenefitRecord, HouseholdStatus, Membership, StatusKind
from ejia.registry.services import status_begin

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(org):
    from ejia.catalogue.seed import catalogue_seed
    from ejia.catalogue.selectors import engine_cache_clear

    engine_cache_clear()
    catalogue_seed()
    yield
    engine_cache_clear()


def test_income_above_the_line_moves_dibao_to_the_edge_tier_by_the_engine(bob, dave, seeded):
    head = person("赵建国", dt.date(1975, 2, 1))
    hh = household(head=head)
    hh.facts = {"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False}
    hh.save()
    spouse = person("钱秀英", dt.date(1977, 3, 1))
    Membership.objects.create(household=hh, person=spouse, relation="10", date_in=dt.date(2020, 1, 1))
    Membership.objects.filter(household=hh).update(facts={"income_month_fen": 30000})
    dibao = Programme.objects.get(code="dibao")
    entitlement_create(actor=dave, household=hh, programme=dibao, amount_fen=100000, start_month=MAY)
    status_begin(actor=dave, household=hh, kind=StatusKind.DIBAO, start=MAY)
    report = change_report_create(
        actor=bob,
        household=hh,
        kind=ChangeReport.Kind.INCOME_CHANGE,
        effective_on=dt.date(2026, 6, 1),
        person=head,
        details={"facts": {"members": {str(head.public_id): {"income_month_fen": 210000}}}},
    )
    report = change_report_evaluate(actor=bob, report=report)
    assert report.evaluation_before.get("dibao").outcome == PlanOutcome.LIKELY
    assert report.evaluation.get("dibao").outcome == PlanOutcome.UNLIKELY
    assert report.evaluation.get("dibao_edge").outcome == PlanOutcome.LIKELY
    report = change_report_decide(actor=bob, report=report, from_month=dt.date(2026, 7, 1), reason="户主收入增加")
    # 低保 sets a six-month 渐退期 (programme data); the edge tier begins when it has run out.
    assert report.outcome == Outcome.GRADUAL_EXIT
    ent = Entitlement.objects.get(programme=dibao)
    assert ent.status == Entitlement.Status.GRADUAL_EXIT and ent.end_month == dt.date(2026, 12, 1)
    edge = HouseholdStatus.objects.get(household=hh, kind=StatusKind.DIBAO_EDGE)
    assert edge.start == dt.date(2027, 1, 1) and edge.end is None
    assert HouseholdStatus.objects.get(household=hh, kind=StatusKind.DIBAO).end == dt.date(2026, 12, 31)


def test_an_approved_request_becomes_an_entitlement_once(bob, dave, seeded):
    from ejia.cases.models import ProgrammeRequest
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application, member

    head = member("张大山", income_month_fen=30000, disability_grade=2, disability_kind="physical")
    spouse = member("李小花", female=True, relation="10", income_month_fen=0)
    data = application(head, spouse, programmes=("dibao", "disability_living_subsidy"))
    case = case_submit(actor=bob, channel="window", idempotency_key="k-1", data=data, on=dt.date(2026, 4, 28))
    ProgrammeRequest.objects.filter(case=case).update(status="approved", is_open=False)
    request = case.requests.get(programme__code="dibao")
    proposed = case.plan.get("dibao").amount_fen
    first = entitlement_create_from_request(actor=dave, request=request, amount_fen=proposed, start_month=MAY)
    again = entitlement_create_from_request(actor=dave, request=request, amount_fen=proposed, start_month=MAY)
    assert first.pk == again.pk and first.facts["plan"]["amount_fen"] == proposed
    assert first.rule_date == dt.date(2026, 4, 28) and first.county_code == "371602"
    # A member programme: the member the intake plan named receives it.
    member_request = case.requests.get(programme__code="disability_living_subsidy")
    assert member_request.person.name == "张大山"
    subsidy = entitlement_create_from_request(
        actor=dave, request=member_request, amount_fen=member_request.amount_fen_proposed, start_month=MAY
    )
    assert subsidy.person == member_request.person and subsidy.facts["plan"]["person_name"] == "张大山"


def test_a_delivery_enters_the_benefit_history(bob, dave, programmes):
    care = Programme.objects.create(
        code="tekun_care",
        name="特困人员照料护理",
        department=programmes["dibao"].department,
        category="basic_living",
        target="member",
        benefit_form="service",
        summary="照料",
    )
    hh = household()
    member = hh.memberships.get().person
    ent = entitlement_create(actor=dave, household=hh, programme=care, person=member, amount_fen=0, start_month=MAY)
    delivery_record(
        actor=bob,
        entitlement=ent,
        kind=Delivery.Kind.MEALS,
        delivered_on=dt.date(2026, 5, 12),
        description="助餐服务 30 餐",
        quantity="30餐",
        value_fen=45000,
        provider="市中街道长者食堂",
    )
    record = BenefitRecord.objects.get(household=hh)
    assert record.form == "service" and record.amount_fen == 45000 and record.person == member
