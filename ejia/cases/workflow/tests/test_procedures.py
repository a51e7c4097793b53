import datetime as dt

import pytest

from ejia.cases.models import ProgrammeRequest
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import (
    DecisionNotice,
    ProcedureState,
    ProcedureTemplate,
    RequestProcedure,
    self_care_level,
)
from ejia.cases.workflow.procedures import procedures_seed
from ejia.core.audit import audit_verify
from ejia.core.models import AuditEvent, OutboxMessage

pytestmark = pytest.mark.django_db


def steps(code):
    template = ProcedureTemplate.objects.get(programme__code=code)
    return [(s.key, s.unit_level, s.role, s.decides) for s in template.steps.all()]


def proc(case, code) -> RequestProcedure:
    return RequestProcedure.objects.select_related("step").get(case=case, request__programme__code=code)


def test_every_programme_has_a_template_and_seeding_twice_adds_nothing(procedures):
    from ejia.catalogue.models import Programme

    assert ProcedureTemplate.objects.count() == Programme.objects.count() == 69
    assert procedures_seed() == {"templates": 0, "steps": 0}


def test_dibao_goes_township_to_county_with_visit_and_notice(procedures):
    assert steps("dibao") == [
        ("accept", "township", "window_clerk", False),
        ("verify", "township", "window_clerk", False),
        ("home_visit", "township", "window_clerk", False),
        ("township_review", "township", "window_clerk", False),
        ("public_notice", "township", "window_clerk", False),
        ("county_decision", "county_centre", "county_reviewer", True),
    ]


def test_tekun_adds_the_self_care_assessment(procedures):
    keys = [k for k, *_ in steps("tekun")]
    assert keys == [
        "accept",
        "verify",
        "home_visit",
        "self_care",
        "township_review",
        "public_notice",
        "county_decision",
    ]


def test_urgent_temporary_aid_is_decided_by_the_township_at_once(procedures):
    assert steps("linshi") == [("urgent_decision", "township", "window_clerk", True)]


def test_a_department_programme_is_reviewed_and_decided_by_the_department(procedures):
    assert steps("medical_aid") == [
        ("dept_review", "department", "dept_approver", False),
        ("dept_decision", "department", "dept_approver", True),
    ]


def test_self_care_levels():
    assert [self_care_level(n) for n in range(7)] == ["full"] + ["partial"] * 3 + ["none"] * 3


def test_a_department_request_lands_at_the_county_office_of_that_department(submit_case, erin):
    case = submit_case(programmes=("dibao", "medical_aid"))
    medical = proc(case, "medical_aid")
    assert medical.acting_unit == erin.unit
    assert proc(case, "dibao").acting_unit.kind == "window"
    # Starting again is a no-op.
    assert wf.procedures_start_for_case(case) == []


def walk_dibao_to_decision(case, bob, bob2, dave, today, finished_check):
    p = proc(case, "dibao")
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today)
    with pytest.raises(wf.WorkflowError, match="尚未发起一键核对"):
        wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today)
    check = finished_check(case)
    p = wf.procedure_complete(
        actor=bob, procedure_id=p.pk, expected_version=p.version, check_id=check.public_id, on=today
    )
    assert p.step.key == "home_visit"
    with pytest.raises(wf.WorkflowError, match="两名"):
        wf.home_visit_record(
            actor=bob, procedure_id=p.pk, visit_date=today, staff_1=bob, staff_2=bob, findings="家中困难"
        )
    wf.home_visit_record(actor=bob, procedure_id=p.pk, visit_date=today, staff_1=bob, staff_2=bob2, findings="家中困难")
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today)
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today)
    assert p.step.key == "public_notice"
    notice = wf.notice_publish(actor=bob, versions={p.pk: p.version}, on=today)
    assert notice.end_date == today + dt.timedelta(days=7)
    p.refresh_from_db()
    assert p.state == ProcedureState.IN_NOTICE
    return p, notice


def test_the_public_notice_objection_path(submit_case, bob, bob2, dave, finished_check):
    today = dt.date(2026, 3, 2)
    case = submit_case()
    p, notice = walk_dibao_to_decision(case, bob, bob2, dave, today, finished_check)
    entry = notice.entries.get()
    assert "*" in entry.masked_name and entry.household_size == 2
    assert case.applicant.name not in entry.masked_name
    with pytest.raises(wf.WorkflowError, match="期满"):
        wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=3))
    objection = wf.objection_record(actor=bob, notice_id=notice.pk, procedure_id=p.pk, text="邻居反映其有车")
    later = today + dt.timedelta(days=7)
    with pytest.raises(wf.WorkflowError, match="异议"):
        wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=later)
    wf.objection_resolve(actor=bob, objection_id=objection.pk, resolution="经核实车辆已于去年报废")
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=later)
    assert p.step.key == "county_decision" and p.acting_unit == dave.unit
    notice.refresh_from_db()
    assert notice.status == "closed"


def test_joint_review_issues_exactly_one_notice(submit_case, bob, bob2, dave, erin, finished_check):
    today = dt.date(2026, 3, 2)
    case = submit_case(programmes=("dibao", "medical_aid"))
    p, _ = walk_dibao_to_decision(case, bob, bob2, dave, today, finished_check)
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    with pytest.raises(wf.WorkflowError, match="尚未办结"):
        wf.joint_review_issue(actor=dave, case_id=case.pk)
    decision = wf.procedure_approve(actor=dave, procedure_id=p.pk, expected_version=p.version)
    assert decision.amount_fen == wf.proposed_amount(p) and decision.amount_fen
    m = proc(case, "medical_aid")
    m = wf.procedure_complete(actor=erin, procedure_id=m.pk, expected_version=m.version)
    with pytest.raises(wf.WorkflowError, match="理由"):
        wf.procedure_refuse(actor=erin, procedure_id=m.pk, expected_version=m.version, reasons=" ")
    wf.procedure_refuse(actor=erin, procedure_id=m.pk, expected_version=m.version, reasons="本年度未发生医疗费用")
    assert set(ProgrammeRequest.objects.filter(case=case).values_list("status", "is_open")) == {
        ("approved", False),
        ("rejected", False),
    }
    notice = wf.joint_review_issue(actor=dave, case_id=case.pk, opinion="同意")
    with pytest.raises(wf.StaleScreen):
        wf.joint_review_issue(actor=dave, case_id=case.pk)
    assert DecisionNotice.objects.filter(case=case).count() == 1
    assert {row["outcome"] for row in notice.content} == {"approved", "refused"}
    assert OutboxMessage.objects.filter(dedup_key=f"decision:{case.public_id}").count() == 1
    case.refresh_from_db()
    assert case.status == "closed"
    assert audit_verify(check_anchor=False).ok


def test_a_stale_screen_is_refused_with_a_clear_message_and_no_second_move(submit_case, bob):
    case = submit_case()
    p = proc(case, "dibao")
    old = p.version
    wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=old)
    events = AuditEvent.objects.count()
    with pytest.raises(wf.StaleScreen, match="该事项已被他人处理（当前状态：办理中·家庭经济状况核对），请刷新后再试"):
        wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=old)
    assert AuditEvent.objects.count() == events
    assert proc(case, "dibao").step.key == "verify"


def test_another_township_and_another_county_cannot_act(submit_case, carol, frank, erin):
    case = submit_case(programmes=("dibao", "medical_aid"))
    p, m = proc(case, "dibao"), proc(case, "medical_aid")
    with pytest.raises(wf.WorkflowError, match="数据权限"):
        wf.procedure_complete(actor=carol, procedure_id=p.pk, expected_version=p.version)
    with pytest.raises(wf.WorkflowError, match="数据权限"):
        wf.procedure_complete(actor=frank, procedure_id=m.pk, expected_version=m.version)


def test_return_needs_a_reason_and_goes_one_step_back(submit_case, bob):
    case = submit_case()
    p = proc(case, "dibao")
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version)
    with pytest.raises(wf.WorkflowError, match="理由"):
        wf.procedure_return(actor=bob, procedure_id=p.pk, expected_version=p.version, reason="")
    p = wf.procedure_return(actor=bob, procedure_id=p.pk, expected_version=p.version, reason="材料不全")
    assert p.step.key == "accept"
    assert OutboxMessage.objects.filter(template="returned").count() == 1


def test_urgent_aid_is_approved_by_the_township_and_withdrawal_closes_the_request(submit_case, bob):
    case = submit_case(programmes=("linshi", "dibao"))
    linshi = proc(case, "linshi")
    decision = wf.procedure_approve(
        actor=bob,
        procedure_id=linshi.pk,
        expected_version=linshi.version,
        amount_fen=100000,
        amount_change_reason="先行救助",
    )
    assert decision.amount_fen == 100000
    p = proc(case, "dibao")
    wf.procedure_withdraw(actor=bob, procedure_id=p.pk, expected_version=p.version)
    assert ProgrammeRequest.objects.get(pk=p.request_id).status == "withdrawn"


def test_an_overdue_step_is_escalated_to_the_county_centre(submit_case, bob, dave):
    case = submit_case()
    p = proc(case, "dibao")
    late = p.step_due + dt.timedelta(days=1)
    assert wf.procedures_escalate_overdue(on=late) == 1
    p.refresh_from_db()
    assert p.escalated_to == dave.unit
    assert wf.procedures_escalate_overdue(on=late) == 0


def test_the_notice_and_decision_pdfs_are_chinese_pdfs_without_full_id_numbers(
    submit_case, bob, bob2, dave, erin, settings, finished_check
):
    from ejia.cases.workflow.pdfs import decision_notice_pdf, public_notice_pdf

    today = dt.date(2026, 3, 2)
    case = submit_case(programmes=("dibao", "medical_aid"))
    p, notice = walk_dibao_to_decision(case, bob, bob2, dave, today, finished_check)
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    wf.procedure_approve(actor=dave, procedure_id=p.pk, expected_version=p.version)
    m = proc(case, "medical_aid")
    m = wf.procedure_complete(actor=erin, procedure_id=m.pk, expected_version=m.version)
    wf.procedure_refuse(actor=erin, procedure_id=m.pk, expected_version=m.version, reasons="本年度未发生自付医疗费用")
    decision = wf.joint_review_issue(actor=dave, case_id=case.pk)
    out = settings.TEST_ARTIFACTS_DIR / "pdf"
    out.mkdir(parents=True, exist_ok=True)
    for name, pdf in (("public-notice", public_notice_pdf(notice)), ("decision-notice", decision_notice_pdf(decision))):
        data = pdf.getvalue()
        assert data.startswith(b"%PDF")
        (out / f"workflow-{name}.pdf").write_bytes(data)


def test_seeding_is_set_based(org, django_assert_max_num_queries):
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()
    with django_assert_max_num_queries(10):
        procedures_seed()


def test_overdue_steps_are_listed_for_the_unit_above_and_not_for_a_neighbour(submit_case, bob, carol, dave, erin):
    from ejia.cases.workflow.selectors import work_queue

    case = submit_case(programmes=("dibao", "medical_aid"))
    p, m = proc(case, "dibao"), proc(case, "medical_aid")
    late = max(p.step_due, m.step_due) + dt.timedelta(days=1)
    assert wf.procedures_escalate_overdue(on=late) == 2
    p.refresh_from_db()
    m.refresh_from_db()
    # The township's step goes to the county centre, the county 医保 office's step too.
    assert p.escalated_to == dave.unit and m.escalated_to == dave.unit
    overdue = {r.pk for r in work_queue(user=dave, tab="overdue", today=late).rows}
    assert {p.pk, m.pk} <= overdue
    # The acting units see their own overdue steps; another township sees nothing of them.
    assert p.pk in {r.pk for r in work_queue(user=bob, tab="overdue", today=late).rows}
    assert m.pk in {r.pk for r in work_queue(user=erin, tab="overdue", today=late).rows}
    assert not {p.pk, m.pk} & {r.pk for r in work_queue(user=carol, tab="overdue", today=late).rows}
