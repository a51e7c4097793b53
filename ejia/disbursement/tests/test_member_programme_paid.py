"""A programme paid to a person is paid to that person: from the window's tick, through the
department's approval, into the county's monthly batch — and a request that names nobody is
never approved, and never silently dropped."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.cases.models import Channel, ProgrammeRequest
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.tests.conftest import procedures  # noqa: F401
from ejia.catalogue.plan import PlanOutcome
from ejia.core.models import AuditEvent
from ejia.disbursement.batches import batch_build
from ejia.disbursement.models import Entitlement, PaymentItem, PaymentLine

pytestmark = pytest.mark.django_db


@pytest.fixture
def mina(org):
    """民政 approver of 滨城区 (困难残疾人生活补贴 is a 民政 programme)."""
    return make_staff("mina", _unit("371602", "department", "mz"), Role.DEPT_APPROVER, display_name="孟娜")


def _disabled_head_case(bob, key="m-1"):
    head = member("张大山", income_month_fen=30000, disability_grade=2, disability_kind="physical")
    spouse = member("李小花", female=True, relation="10", income_month_fen=0)
    data = application(head, spouse, programmes=("dibao", "disability_living_subsidy"))
    return case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key=key, data=data)


def _approve(procedure: RequestProcedure, actor) -> None:
    procedure = wf.procedure_complete(actor=actor, procedure_id=procedure.pk, expected_version=procedure.version)
    assert procedure.step.key == "dept_decision"
    wf.procedure_approve(actor=actor, procedure_id=procedure.pk, expected_version=procedure.version)


def test_a_disability_living_subsidy_from_intake_is_paid_once_to_its_member(bob, dave, mina, procedures):  # noqa: F811
    case = _disabled_head_case(bob)
    request = case.requests.get(programme__code="disability_living_subsidy")
    # The window ticked the programme; the plan named the member, and the request carries it.
    assert request.person.name == "张大山"
    entry = request.plan_entry()
    assert entry.outcome == PlanOutcome.LIKELY and entry.person == str(request.person.public_id)
    assert request.amount_fen_proposed == entry.amount_fen > 0

    procedure = RequestProcedure.objects.get(request=request)
    assert procedure.acting_unit == mina.unit
    _approve(procedure, mina)

    month = timezone.localdate().replace(day=1)
    batch = batch_build(actor=dave, county="371602", period=month)
    assert batch.decision_problems == []
    subsidy = Entitlement.objects.get(request=request)
    assert subsidy.person == request.person and subsidy.amount_fen == entry.amount_fen
    [item] = PaymentItem.objects.filter(line__batch=batch, entitlement__programme__code="disability_living_subsidy")
    assert item.entitlement.person.name == "张大山" and item.amount_fen == entry.amount_fen
    line = PaymentLine.objects.get(batch=batch, household=case.household)
    assert line.amount_fen == entry.amount_fen  # 低保 is still at the township: only the subsidy is paid
    batch_build(actor=dave, county="371602", period=month)  # building again pays nothing twice
    assert PaymentItem.objects.filter(entitlement=subsidy).count() == 1


def test_approval_is_refused_for_a_member_programme_that_names_nobody(bob, mina, procedures):  # noqa: F811
    case = _disabled_head_case(bob, key="m-2")
    request = case.requests.get(programme__code="disability_living_subsidy")
    ProgrammeRequest.objects.filter(pk=request.pk).update(person=None)  # as a request of an old release
    procedure = wf.procedure_complete(
        actor=mina,
        procedure_id=RequestProcedure.objects.get(request=request).pk,
        expected_version=RequestProcedure.objects.get(request=request).version,
    )
    with pytest.raises(wf.WorkflowError, match="未指明享受人"):
        wf.procedure_approve(actor=mina, procedure_id=procedure.pk, expected_version=procedure.version)


def test_an_approved_decision_that_cannot_be_paid_is_shown_not_dropped(bob, dave, mina, procedures):  # noqa: F811
    case = _disabled_head_case(bob, key="m-3")
    request = case.requests.get(programme__code="disability_living_subsidy")
    _approve(RequestProcedure.objects.get(request=request), mina)
    # Old data: an approval of an earlier release whose member was lost and which made no entitlement.
    ProgrammeRequest.objects.filter(pk=request.pk).update(person=None)
    Entitlement.objects.filter(request=request).delete()
    batch = batch_build(actor=dave, county="371602", period=timezone.localdate().replace(day=1))
    [problem] = batch.decision_problems
    assert case.reference in problem and "困难残疾人生活补贴" in problem and "未指明" in problem
    event = AuditEvent.objects.filter(action="disbursement.decision_not_payable").get()
    assert event.data["case"] == case.reference
    assert not Entitlement.objects.filter(request=request).exists()
