"""A cash programme is never approved without an amount: the approval is refused with a
clear message and nothing changes; the decision notice states every approved benefit."""

import datetime as dt

import pytest

from ejia.cases.models import Channel, ProgrammeRequest
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import Decision, RequestProcedure
from ejia.cases.workflow.services.notices import decision_amount_text
from ejia.cases.workflow.tests.test_procedures import proc, walk_dibao_to_decision
from ejia.core.models import AuditEvent, OutboxMessage
from ejia.disbursement.models import Entitlement
from ejia.disbursement.services import entitlements_from_decisions

pytestmark = pytest.mark.django_db


def _unchanged(p: RequestProcedure) -> bool:
    now = RequestProcedure.objects.get(pk=p.pk)
    return (
        (now.state, now.version, now.step_id) == (p.state, p.version, p.step_id)
        and not Decision.objects.filter(procedure=p).exists()
        and ProgrammeRequest.objects.get(pk=p.request_id).status == ProgrammeRequest.Status.SUBMITTED
        and not AuditEvent.objects.filter(action="workflow.approve").exists()
    )


def test_a_dibao_without_a_computed_amount_cannot_be_approved_blank(procedures, finished_check, bob, bob2, dave):
    # The husband's income is unknown at intake: the engine computes no amount.
    data = application(member("张大山"), member("李小花", female=True, relation="10", income_month_fen=0))
    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="blank-1", data=data)
    today = dt.date(2026, 3, 2)
    p, _ = walk_dibao_to_decision(case, bob, bob2, dave, today, finished_check)
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    assert wf.proposed_amount(p) is None
    with pytest.raises(wf.WorkflowError) as exc:
        wf.procedure_approve(actor=dave, procedure_id=p.pk, expected_version=p.version)
    assert exc.value.message.startswith("“最低生活保障（低保）”是现金救助，批准时须核定发放金额（大于0元）")
    assert _unchanged(p)
    with pytest.raises(wf.WorkflowError, match="须核定发放金额"):
        wf.procedure_approve(
            actor=dave, procedure_id=p.pk, expected_version=p.version, amount_fen=0, amount_change_reason="无"
        )
    assert _unchanged(p)
    decision = wf.procedure_approve(
        actor=dave, procedure_id=p.pk, expected_version=p.version, amount_fen=78900, amount_change_reason="核对后核定"
    )
    assert decision.amount_fen == 78900


def test_a_non_cash_benefit_is_approved_without_an_amount_and_the_notice_names_its_form(submit_case, bob, erin):
    case = submit_case(programmes=("medical_aid",))
    m = proc(case, "medical_aid")
    m = wf.procedure_complete(actor=erin, procedure_id=m.pk, expected_version=m.version)
    wf.procedure_approve(actor=erin, procedure_id=m.pk, expected_version=m.version, amount_fen=None)
    [row] = wf.decision_content(case)
    assert decision_amount_text(row) == "费用减免或报销"


def test_the_decision_sms_states_each_approved_amount(submit_case, bob, dave):
    case = submit_case(programmes=("linshi",))
    p = proc(case, "linshi")
    wf.procedure_approve(
        actor=bob, procedure_id=p.pk, expected_version=p.version, amount_fen=80000, amount_change_reason="先行救助"
    )
    wf.joint_review_issue(actor=dave, case_id=case.pk)
    text = OutboxMessage.objects.get(template="decision_issued").text
    assert "临时救助已批准（一次性¥800.00）" in text and "—" not in text


def test_an_old_approval_without_an_amount_is_reported_not_dropped(submit_case, bob):
    case = submit_case(programmes=("linshi",))
    p = proc(case, "linshi")
    decision = wf.procedure_approve(
        actor=bob, procedure_id=p.pk, expected_version=p.version, amount_fen=80000, amount_change_reason="先行救助"
    )
    # As approvals were recorded before this rule existed (and before approval made the entitlement).
    Decision.objects.filter(pk=decision.pk).update(amount_fen=None)
    Entitlement.objects.filter(request__case=case).delete()
    created, problems = entitlements_from_decisions(actor=None, county_code="371602")
    assert created == []
    assert problems == [f"{case.reference} 临时救助：批准决定未核定发放金额，无法发放，请复核该决定。"]
