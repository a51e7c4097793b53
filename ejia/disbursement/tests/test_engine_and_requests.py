"""Re-evaluation with the real catalogue engine, the workflow hand-over, and deliveries."""

from __future__ import annotations

import datetime as dt

import pytest

from ejia.catalogue.models import Programme
from ejia.disbursement.dynamic import change_report_create, change_report_decide, change_report_evaluate
from ejia.disbursement.models import ChangeReport, Delivery, Entitlement, Outcome
from ejia.disbursement.services import delivery_record, entitlement_create, entitlement_create_from_request
from ejia.disbursement.tests.conftest import MAY, household, person
from ejia.registry.models import BenefitRecord, Membership

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
    report = change_report_create(
        actor=bob,
        household=hh,
        kind=ChangeReport.Kind.INCOME_CHANGE,
        effective_on=dt.date(2026, 6, 1),
        details={"facts": {"members": {str(head.public_id): {"income_month_fen": 210000}}}},
    )
    report = change_report_evaluate(actor=bob, report=report)
    programmes = report.evaluation["programmes"]
    assert programmes["dibao"]["result"] == "not_eligible"
    assert programmes["dibao_edge"]["result"] == "eligible"
    report = change_report_decide(actor=bob, report=report, from_month=dt.date(2026, 7, 1), reason="户主收入增加")
    assert report.outcome == Outcome.TIER_MOVE
    assert Entitlement.objects.get(programme=dibao).end_month == dt.date(2026, 6, 1)


def test_an_approved_request_becomes_an_entitlement_once(bob, dave, programmes):
    from django.utils import timezone

    from ejia.cases.models import Case, ProgrammeRequest

    hh = household()
    head = hh.memberships.get().person
    case = Case.objects.create(
        reference="371602-20260501-0001",
        channel="window",
        household=hh,
        division=hh.division,
        applicant=head,
        declared_facts={"household": {}},
        plan=[{"code": "dibao", "result": "eligible", "amount_fen": 61000}],
        rule_date=dt.date(2026, 4, 28),
        idempotency_key="k-1",
        submitted_by=bob,
        submitted_at=timezone.now(),
    )
    request = ProgrammeRequest.objects.create(
        case=case, household=hh, programme=programmes["dibao"], status="approved", is_open=False
    )
    first = entitlement_create_from_request(actor=dave, request=request, amount_fen=61000, start_month=MAY)
    again = entitlement_create_from_request(actor=dave, request=request, amount_fen=61000, start_month=MAY)
    assert first.pk == again.pk and first.facts["plan"]["amount_fen"] == 61000
    assert first.rule_date == dt.date(2026, 4, 28) and first.county_code == "371602"
    one_off = ProgrammeRequest.objects.create(
        case=case, household=hh, programme=programmes["linshi"], status="approved", is_open=False
    )
    linshi = entitlement_create_from_request(actor=dave, request=one_off, amount_fen=200000, start_month=MAY)
    assert linshi.end_month == MAY
    # A member programme: the member the intake plan found eligible receives it.
    case.plan = [
        {"code": "disability_living_subsidy", "members": [{"index": 0, "result": "eligible", "amount_fen": 9000}]}
    ]
    case.declared_facts = {"members": [{"person": str(head.public_id), "name": head.name}]}
    case.save()
    member_request = ProgrammeRequest.objects.create(
        case=case, household=hh, programme=programmes["disability_living_subsidy"], status="approved", is_open=False
    )
    subsidy = entitlement_create_from_request(actor=dave, request=member_request, amount_fen=9000, start_month=MAY)
    assert subsidy.person == head


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
