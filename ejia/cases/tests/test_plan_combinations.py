"""Boundary scenarios of the seeded combination rules and of what a family already receives:
a 特困 person is never also offered 低保, a recipient is never offered their own programme
again, and the plan adds up."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from ejia.cases.intake import intake_prefill
from ejia.cases.matching import draft_plan
from ejia.cases.models import Channel
from ejia.cases.services import CaseError, case_submit
from ejia.cases.tests.conftest import application, member
from ejia.catalogue.plan import PlanOutcome
from ejia.registry.models import HouseholdStatus, MemberStatus, StatusKind
from ejia.registry.services import household_create, membership_add, person_ensure
from ejia.registry.tests.factories import new_id, village

pytestmark = pytest.mark.django_db

ASSETS = {"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False}
TODAY = timezone.localdate()


def years_ago(n: int) -> dt.date:
    return TODAY.replace(year=TODAY.year - n) - dt.timedelta(days=30)


def elder(name="刘奶奶", *, age=78, income=50000, supporter=False, **facts):
    return member(
        name,
        birth=years_ago(age),
        female=True,
        income_month_fen=income,
        has_capable_supporter=supporter,
        self_care="full",
        **facts,
    )


def plan_of(*members, **extra):
    data = application(*members, **extra)
    data["household_facts"] = dict(ASSETS)
    return data, draft_plan(data, TODAY)


def only(plan, code):
    [entry] = plan.for_code(code)
    return entry


def test_a_tekun_person_alone_is_never_also_offered_dibao(catalogue):
    _, plan = plan_of(elder())
    tekun, dibao = only(plan, "tekun"), only(plan, "dibao")
    assert tekun.outcome == PlanOutcome.LIKELY and tekun.amount_fen == 132000 + 18900
    assert dibao.outcome == PlanOutcome.EXCLUDED and dibao.excluded_by == "tekun"
    assert dibao.notes[0] == "不可同时享受：已按“特困人员救助供养”评估"
    assert tekun.key in plan.default_choice() and dibao.key not in plan.default_choice()
    assert plan.totals().monthly_new_fen == tekun.amount_fen


def test_with_a_capable_supporter_she_is_not_tekun_and_dibao_is_offered(catalogue):
    _, plan = plan_of(elder(supporter=True))
    tekun = only(plan, "tekun")
    assert tekun.outcome == PlanOutcome.UNLIKELY
    # Alone, she is whom the programme would be for: the window may still apply for her.
    assert tekun.person_name == "刘奶奶" and tekun.offered
    assert only(plan, "dibao").outcome == PlanOutcome.LIKELY


def test_in_a_household_of_two_dibao_stays_for_the_others_and_says_who_is_tekun(catalogue):
    son = member("刘强", birth=years_ago(45), relation="20", income_month_fen=30000, has_capable_supporter=False)
    _, plan = plan_of(elder(), son)
    dibao = only(plan, "dibao")
    assert dibao.outcome == PlanOutcome.LIKELY
    assert any("刘奶奶已按“特困人员救助供养”评估" in note for note in dibao.notes)
    # A programme paid to a person that fits nobody here names nobody, so nothing to tick.
    orphan = only(plan, "orphan_allowance")
    assert orphan.outcome == PlanOutcome.UNLIKELY and not orphan.person and not orphan.offered


def test_an_orphan_is_supported_as_an_orphan_not_as_tekun(catalogue):
    child = member(
        "小明", birth=years_ago(10), income_month_fen=0, has_capable_supporter=False, orphan_care="scattered"
    )
    _, plan = plan_of(child)
    assert only(plan, "orphan_allowance").outcome == PlanOutcome.LIKELY
    tekun = only(plan, "tekun")
    assert tekun.outcome == PlanOutcome.EXCLUDED and tekun.excluded_by == "orphan_allowance"


def test_a_disabled_tekun_person_gets_no_disability_living_subsidy_on_top(catalogue):
    _, plan = plan_of(elder(age=70, disability_grade=2, disability_kind="physical"))
    assert only(plan, "tekun").outcome == PlanOutcome.LIKELY
    subsidy = only(plan, "disability_living_subsidy")
    assert subsidy.outcome == PlanOutcome.EXCLUDED and subsidy.excluded_by == "tekun"
    # The severe-disability care subsidy has no such rule: it is still offered.
    assert only(plan, "severe_disability_care_subsidy").outcome == PlanOutcome.LIKELY


def _registered_elder(dave):
    """The issue's 78-year-old: alone, 特困 every month since June, in the registry."""
    from ejia.catalogue.models import Programme
    from ejia.disbursement.services import entitlement_create

    number = new_id(years_ago(78), female=True)
    household = household_create(actor=None, division=village(), address="幸福路9号", facts=ASSETS, source="test")
    person = person_ensure(actor=None, id_number=number, name="刘奶奶", reason="test")
    membership_add(
        actor=None,
        household=household,
        person=person,
        relation="02",
        facts={"income_month_fen": 50000, "has_capable_supporter": False, "self_care": "full"},
    )
    june = TODAY.replace(month=6, day=1) if TODAY.month > 6 else TODAY.replace(year=TODAY.year - 1, month=6, day=1)
    MemberStatus.objects.create(household=household, person=person, kind=StatusKind.TEKUN, start=june)
    HouseholdStatus.objects.create(household=household, kind=StatusKind.TEKUN, start=june)
    tekun = Programme.objects.get(code="tekun")
    entitlement_create(
        actor=dave, household=household, programme=tekun, person=person, amount_fen=150900, start_month=june
    )
    return number, june


def test_the_tekun_she_already_gets_is_shown_with_its_amount_and_never_offered_again(catalogue, bob, dave):
    number, june = _registered_elder(dave)
    data = intake_prefill(user=bob, id_number=number)
    plan = draft_plan(data, TODAY)
    tekun, dibao = only(plan, "tekun"), only(plan, "dibao")
    assert tekun.outcome == PlanOutcome.ALREADY_RECEIVED and not tekun.offered
    assert tekun.received.amount_fen == 150900 and tekun.received.since == june
    assert tekun.person_name == "刘奶奶"
    assert dibao.outcome == PlanOutcome.EXCLUDED and dibao.excluded_by == "tekun"
    assert not ({tekun.key, dibao.key} & plan.default_choice())
    assert plan.totals().monthly_received_fen == 150900
    # Neither goes to a department, whatever is ticked.
    data.update(programmes=["dibao"], auth={}, materials_received=[])
    for m in data["members"]:
        data["auth"][m["key"]] = application(m)["auth"][m["key"]]
    with pytest.raises(CaseError, match="不可同时享受：已按“特困人员救助供养”评估"):
        case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="again", data=data)
    data["programmes"] = [tekun.key]
    with pytest.raises(CaseError, match="已享受"):
        case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="again-2", data=data)


def test_a_dibao_household_is_not_offered_dibao_again_nor_the_edge_tier(catalogue, bob, dave):
    from ejia.catalogue.models import Programme
    from ejia.disbursement.services import entitlement_create

    number = new_id(years_ago(50))
    household = household_create(actor=None, division=village(), address="幸福路10号", facts=ASSETS, source="test")
    person = person_ensure(actor=None, id_number=number, name="赵大哥", reason="test")
    # Income between 1 and 1.5 times the standard: the engine alone would say 低保边缘.
    membership_add(actor=None, household=household, person=person, relation="02", facts={"income_month_fen": 120000})
    HouseholdStatus.objects.create(household=household, kind=StatusKind.DIBAO, start=dt.date(2025, 1, 1))
    entitlement_create(
        actor=dave,
        household=household,
        programme=Programme.objects.get(code="dibao"),
        amount_fen=30000,
        start_month=dt.date(2025, 1, 1),
    )
    plan = draft_plan(intake_prefill(user=bob, id_number=number), TODAY)
    dibao = only(plan, "dibao")
    assert dibao.outcome == PlanOutcome.ALREADY_RECEIVED and dibao.received.since == dt.date(2025, 1, 1)
    edge = only(plan, "dibao_edge")
    assert edge.outcome == PlanOutcome.EXCLUDED and edge.excluded_by == "dibao"
    assert plan.totals().monthly_received_fen == 30000


def test_an_urban_elder_with_1100_of_her_own_is_not_tekun(catalogue):
    # Below the 特困 standard (¥1,320) but above 滨城区's urban 低保 standard (¥1,001).
    _, plan = plan_of(elder(income=110000))
    tekun = only(plan, "tekun")
    assert tekun.outcome == PlanOutcome.UNLIKELY
    income = next(c for c in tekun.reasons if c.label.startswith("无生活来源"))
    assert income.result is False


def test_the_window_sees_what_she_gets_what_cannot_be_combined_and_the_totals(client, catalogue, bob, dave):
    from django.urls import reverse

    from ejia.cases import drafts

    number, _june = _registered_elder(dave)
    data = intake_prefill(user=bob, id_number=number)
    drafts.draft_start(user=bob, channel=Channel.WINDOW, data=data)
    drafts.draft_save(draft=drafts.draft_get(user=bob), data=data, step="plan")
    client.force_login(bob)
    page = client.get(reverse("cases:intake_plan"))
    html = page.content.decode()
    held = page.context["groups"][0]
    assert held[0] == "already_received" and [e.code for e in held[2]] == ["tekun"]
    assert "已享受" in html and "¥1,509.00" in html and "为 刘奶奶" in html
    assert "不可同时享受：已按“特困人员救助供养”评估" in html
    assert 'value="dibao"' not in html and 'value="tekun:' not in html  # nothing to tick for either
    assert page.context["totals"].monthly_received_fen == 150900
    assert 'data-testid="total-monthly">¥1,509.00' in html


def test_a_member_programme_is_ticked_for_its_member_at_the_window(client, catalogue, bob):
    from django.urls import reverse

    from ejia.cases import drafts

    head = member("张大山", income_month_fen=30000, disability_grade=2, disability_kind="physical")
    data = application(head, member("李小花", female=True, relation="10", income_month_fen=0))
    data["household_facts"] = dict(ASSETS)
    data["programmes"] = []
    drafts.draft_start(user=bob, channel=Channel.WINDOW, data=data)
    drafts.draft_save(draft=drafts.draft_get(user=bob), data=data, step="plan")
    client.force_login(bob)
    html = client.get(reverse("cases:intake_plan")).content.decode()
    key = f"disability_living_subsidy:{head['key']}"
    assert f'value="{key}"' in html and "为 张大山" in html
    assert f'value="{key}" id="p_{key}" checked' in html  # likely: pre-ticked, for him
