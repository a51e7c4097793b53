"""Plans stored in the old shapes still open after the data migrations (cases 0005, disbursement 0003)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from ejia.catalogue.plan import Plan, PlanOutcome

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("cases", "0003_intakedraft_phone_alter_intakedraft_user_and_more"), ("disbursement", "0002_fewer_indexes")]
AFTER = [("cases", "0006_programmerequest_one_open_per_person"), ("disbursement", "0004_plan_typed")]

# The repr an early release stored instead of the criterion's fields.
REPR = "CriterionResult(label='家庭人均月收入低于低保标准', result='pass', explanation='家庭人均月收入 ¥150.00 < 低保标准 ¥1,001.00 ✔')"


def _migrate(targets=None):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    targets = targets or executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.fixture
def back_to_latest():
    yield
    _migrate()  # whatever happened, later tests find the database fully migrated


def test_old_plans_open_after_the_migration(org, bob, client, back_to_latest):
    from ejia.catalogue.seed import catalogue_seed
    from ejia.registry.services import household_create, membership_add, person_ensure
    from ejia.registry.tests.factories import new_id, village

    catalogue_seed()
    division = village()
    household = household_create(actor=None, division=division, address="幸福路1号", source="test")
    head = person_ensure(actor=None, id_number=new_id(dt.date(1960, 1, 1)), name="王老汉", reason="test")
    son = person_ensure(actor=None, id_number=new_id(dt.date(1990, 1, 1)), name="王小二", reason="test")
    membership_add(actor=None, household=household, person=head, relation="02")
    membership_add(actor=None, household=household, person=son, relation="20")

    apps = _migrate(BEFORE)
    Case = apps.get_model("cases", "Case")
    ProgrammeRequest = apps.get_model("cases", "ProgrammeRequest")
    ChangeReport = apps.get_model("disbursement", "ChangeReport")
    Entitlement = apps.get_model("disbursement", "Entitlement")
    Programme = apps.get_model("catalogue", "Programme")
    old_plan = [
        {
            "code": "dibao",
            "name": "最低生活保障（低保）",
            "outcome": "eligible",
            "outcome_label": "可能符合",
            "amount_fen": 120000,
            "criteria": [{"label": REPR}],
            "unknown_facts": [],
            "members": [],
            "materials": ["申请人身份证或户口簿"],
        },
        {
            "code": "disability_living_subsidy",
            "outcome": "eligible",
            "amount_fen": 15000,
            "criteria": [{"label": "持有残疾人证", "result": True, "explanation": "残疾等级 2 级 ≥ 1 ✔"}],
            "members": [
                {"index": 0, "outcome": "not_eligible", "amount_fen": None},
                {"index": 1, "outcome": "eligible", "amount_fen": 15000},
            ],
        },
        {"code": "tekun", "result": "not_eligible", "amount_fen": None},
    ]
    case = Case.objects.create(
        reference="371602-20260501-0001",
        channel="window",
        household_id=household.pk,
        division_id=division.pk,
        applicant_id=head.pk,
        declared_facts={
            "household": {},
            "members": [
                {"person": str(head.public_id), "name": head.name, "facts": {}},
                {"person": str(son.public_id), "name": son.name, "facts": {}},
            ],
        },
        plan=old_plan,
        rule_date=dt.date(2026, 5, 1),
        idempotency_key="old-1",
        submitted_at=timezone.now(),
    )
    subsidy = ProgrammeRequest.objects.create(
        case=case,
        household_id=household.pk,
        programme=Programme.objects.get(code="disability_living_subsidy"),
        outcome_at_intake="eligible",
        amount_fen_proposed=15000,
    )
    Entitlement.objects.create(
        household_id=household.pk,
        person_id=son.pk,
        programme=Programme.objects.get(code="disability_living_subsidy"),
        request=subsidy,
        county_code="371602",
        amount_fen=15000,
        facts={"plan": old_plan[1]},
        start_month=dt.date(2026, 5, 1),
    )
    report = ChangeReport.objects.create(
        household_id=household.pk,
        kind="income_change",
        channel="clerk",
        effective_on=dt.date(2026, 6, 1),
        evaluation={
            "on": "2026-06-01",
            "programmes": {
                "dibao": {"result": "eligible", "amount_fen": 90000},
                "disability_living_subsidy": {
                    "result": "eligible",
                    "amount_fen": 15000,
                    "members": {str(son.pk): {"result": "eligible", "amount_fen": 15000}},
                },
            },
        },
    )
    ChangeReport.objects.create(
        household_id=household.pk, kind="income_change", channel="clerk", effective_on=dt.date(2026, 6, 1)
    )

    _migrate(AFTER)
    _migrate()
    from ejia.cases.models import Case as CaseNow
    from ejia.cases.models import ProgrammeRequest as RequestNow
    from ejia.disbursement.models import ChangeReport as ReportNow
    from ejia.disbursement.models import Entitlement as EntitlementNow

    plan = CaseNow.objects.get(pk=case.pk).plan
    assert isinstance(plan, Plan) and plan.on == dt.date(2026, 5, 1)
    dibao = plan.get("dibao")
    assert dibao.outcome == PlanOutcome.LIKELY and dibao.amount_fen == 120000
    assert dibao.reasons[0].label == "家庭人均月收入低于低保标准" and dibao.reasons[0].result is True
    member_entry = plan.get(f"disability_living_subsidy:{son.public_id}")
    assert member_entry.person_name == "王小二" and member_entry.amount_fen == 15000
    assert plan.get("tekun").outcome == PlanOutcome.UNLIKELY
    request = RequestNow.objects.get(pk=subsidy.pk)
    assert request.person_id == son.pk and request.outcome_at_intake == "likely"
    assert request.plan_entry() == member_entry
    ent = EntitlementNow.objects.get(request_id=subsidy.pk)
    assert ent.facts["plan"]["person"] == str(son.public_id) and ent.facts["plan"]["outcome"] == "likely"
    evaluation = ReportNow.objects.get(pk=report.pk).evaluation
    assert evaluation.get(f"disability_living_subsidy:{son.public_id}").outcome == PlanOutcome.LIKELY
    assert ReportNow.objects.exclude(pk=report.pk).get().evaluation is None

    # The case page and the receipt open.
    from ejia.cases.receipt import receipt_pdf

    assert receipt_pdf(CaseNow.objects.get(pk=case.pk)).getvalue().startswith(b"%PDF")
    client.force_login(bob)
    response = client.get(reverse("cases:case_detail", args=[case.public_id]))
    assert response.status_code == 200 and "王小二" in response.content.decode()
