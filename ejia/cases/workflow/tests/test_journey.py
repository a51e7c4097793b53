"""Issue #7's acceptance: one case with 低保, a medical and an education programme flows to
the township, the 医保 and 教育 approvers and the county centre, is noticed publicly,
reviewed jointly and gets one decision notice; overdue steps show for the unit above."""

import datetime as dt

import pytest

from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import DecisionNotice, RequestProcedure
from ejia.cases.workflow.selectors import joint_review_queue, work_queue
from ejia.cases.workflow.tests.test_procedures import walk_dibao_to_decision
from ejia.core.audit import audit_verify
from ejia.core.models import OutboxMessage

pytestmark = pytest.mark.django_db


def test_three_programmes_three_approvers_one_decision_notice(procedures, finished_check, bob, bob2, dave, erin, jy):
    data = application(
        member("张大山", income_month_fen=30000, serious_illness=True),
        member("李小花", female=True, relation="10", income_month_fen=0),
        member("张小明", birth=dt.date(2015, 5, 1), relation="20", school_stage="primary", boarding=True),
        programmes=("dibao", "medical_aid", "edu_compulsory"),
        household_facts={
            "financial_assets_fen": 100000,
            "vehicles": 0,
            "housing_units": 1,
            "medical_oop_year_fen": 600000,
        },
    )
    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="journey-1", data=data)
    procs = {p.request.programme.code: p for p in RequestProcedure.objects.filter(case=case)}
    assert procs["dibao"].acting_unit == bob.unit
    assert procs["medical_aid"].acting_unit == erin.unit
    assert procs["edu_compulsory"].acting_unit == jy.unit
    for user, code in ((bob, "dibao"), (erin, "medical_aid"), (jy, "edu_compulsory")):
        assert {r.pk for r in work_queue(user=user).rows} == {procs[code].pk}

    # Nobody acts in time: every overdue step shows on the county centre's queue.
    late = max(p.step_due for p in procs.values()) + dt.timedelta(days=1)
    assert wf.procedures_escalate_overdue(on=late) == 3
    overdue = {r.pk for r in work_queue(user=dave, tab="overdue", today=late).rows}
    assert overdue == {p.pk for p in procs.values()}

    today = dt.date(2026, 3, 2)
    p, _ = walk_dibao_to_decision(case, bob, bob2, dave, today, finished_check)
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    assert p.acting_unit == dave.unit
    # The husband's illness leaves the engine without a 低保 amount: the county sets one.
    assert wf.proposed_amount(p) is None
    with pytest.raises(wf.WorkflowError, match="须核定发放金额"):
        wf.procedure_approve(actor=dave, procedure_id=p.pk, expected_version=p.version)
    wf.procedure_approve(
        actor=dave, procedure_id=p.pk, expected_version=p.version, amount_fen=57800, amount_change_reason="核对后核定"
    )
    for user, code in ((erin, "medical_aid"), (jy, "edu_compulsory")):
        q = RequestProcedure.objects.get(pk=procs[code].pk)
        q = wf.procedure_complete(actor=user, procedure_id=q.pk, expected_version=q.version)
        wf.procedure_approve(actor=user, procedure_id=q.pk, expected_version=q.version)
    assert joint_review_queue(user=dave).filter(pk=case.pk).exists()

    notice = wf.joint_review_issue(actor=dave, case_id=case.pk, opinion="三项均符合条件")
    assert DecisionNotice.objects.filter(case=case).count() == 1
    assert {row["outcome"] for row in notice.content} == {"approved"} and len(notice.content) == 3
    assert OutboxMessage.objects.filter(template="decision_issued").count() == 1
    case.refresh_from_db()
    assert case.status == "closed"
    assert audit_verify(check_anchor=False).ok
