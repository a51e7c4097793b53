"""The applicant withdraws: the window records it, the procedures close, the household is told."""

import pytest
from django.test import Client

from conftest import TEST_PASSWORD
from ejia.cases.models import ProgrammeRequest
from ejia.cases.workflow import selectors
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure, StepRecord
from ejia.core.models import AuditEvent, OutboxMessage

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def states(case) -> dict[str, str]:
    return dict(RequestProcedure.objects.filter(case=case).values_list("request__programme__code", "state"))


def test_withdrawing_the_case_closes_every_procedure_at_once(submit_case, bob, dave, erin):
    case = submit_case(programmes=("dibao", "medical_aid"))
    withdrawn = wf.case_withdraw(actor=bob, case_id=case.pk, reason="申请人外出务工，不再申请")
    assert {r.programme.code for r in withdrawn} == {"dibao", "medical_aid"}
    assert states(case) == {"dibao": "withdrawn", "medical_aid": "withdrawn"}
    assert set(ProgrammeRequest.objects.filter(case=case).values_list("status", "is_open")) == {("withdrawn", False)}
    case.refresh_from_db()
    assert case.status == "withdrawn"
    records = StepRecord.objects.filter(procedure__case=case, action="withdraw")
    assert records.count() == 2 and {r.actor for r in records} == {bob}
    assert {r.comment for r in records} == {"申请人外出务工，不再申请"}
    events = AuditEvent.objects.filter(action__in=("workflow.withdraw", "cases.case_withdraw"), actor=bob)
    assert sorted(events.values_list("action", flat=True)) == ["cases.case_withdraw", *["workflow.withdraw"] * 2]
    sms = OutboxMessage.objects.filter(template="withdrawn").get()
    assert case.reference in sms.text and "最低生活保障" in sms.text
    # Gone from every queue, and no joint review for a case nobody decides.
    assert case.reference not in client_for(erin).get("/staff/work/?tab=unit").content.decode()
    assert not selectors.joint_review_queue(user=dave).filter(pk=case.pk).exists()


def test_withdrawing_one_request_leaves_the_others_running(submit_case, bob):
    case = submit_case(programmes=("dibao", "medical_aid"))
    medical = ProgrammeRequest.objects.get(case=case, programme__code="medical_aid")
    wf.case_withdraw(actor=bob, case_id=case.pk, reason="医疗费用已由单位报销", request_ids=[medical.pk])
    assert states(case) == {"dibao": "pending", "medical_aid": "withdrawn"}
    case.refresh_from_db()
    assert case.status == "submitted"


def test_a_reason_the_right_role_and_the_right_township_are_needed(submit_case, bob, carol, erin):
    case = submit_case(programmes=("dibao", "medical_aid"))
    with pytest.raises(wf.WorkflowError, match="撤回理由"):
        wf.case_withdraw(actor=bob, case_id=case.pk, reason=" ")
    with pytest.raises(wf.WorkflowError, match="窗口或村"):
        wf.case_withdraw(actor=erin, case_id=case.pk, reason="撤回")
    with pytest.raises(wf.WorkflowError, match="数据权限"):
        wf.case_withdraw(actor=carol, case_id=case.pk, reason="撤回")
    assert states(case) == {"dibao": "pending", "medical_aid": "pending"}


def test_a_request_decided_meanwhile_makes_the_withdrawal_stale_and_nothing_moves(submit_case, bob):
    case = submit_case(programmes=("linshi", "dibao"))
    linshi = RequestProcedure.objects.get(case=case, request__programme__code="linshi")
    wf.procedure_approve(
        actor=bob, procedure_id=linshi.pk, expected_version=linshi.version, amount_fen=100000, amount_change_reason="急"
    )
    events = AuditEvent.objects.count()
    with pytest.raises(wf.StaleScreen, match="临时救助（已批准）已不在办理中"):
        wf.case_withdraw(actor=bob, case_id=case.pk, reason="撤回", request_ids=[linshi.request_id])
    assert AuditEvent.objects.count() == events
    # The rest can go; the decided request stays and the case goes on to its joint review.
    wf.case_withdraw(actor=bob, case_id=case.pk, reason="撤回低保申请")
    assert states(case) == {"linshi": "approved", "dibao": "withdrawn"}
    case.refresh_from_db()
    assert case.status == "submitted"
    with pytest.raises(wf.StaleScreen, match="没有可撤回的事项"):
        wf.case_withdraw(actor=bob, case_id=case.pk, reason="再撤一次")


def test_the_clerk_confirms_on_a_screen_listing_the_requests(submit_case, bob):
    case = submit_case(programmes=("dibao", "medical_aid"))
    client = client_for(bob)
    detail = client.get(f"/staff/cases/{case.public_id}/").content.decode()
    assert 'data-testid="withdraw-link"' in detail
    url = f"/staff/work/case/{case.public_id}/withdraw/"
    screen = client.get(url).content.decode()
    assert "最低生活保障" in screen and "门诊和住院医疗救助" in screen and "乡镇受理" in screen
    picks = [f"{p.request.public_id}:{p.version}" for p in RequestProcedure.objects.filter(case=case)]
    unconfirmed = client.post(url, {"pick": picks, "reason": "不再申请"}).content.decode()
    assert "请确认申请人已提出撤回" in unconfirmed
    assert states(case) == {"dibao": "pending", "medical_aid": "pending"}
    done = client.post(url, {"pick": picks, "reason": "不再申请", "confirmed": "yes"}, follow=True)
    assert done.redirect_chain[-1][0] == f"/staff/cases/{case.public_id}/"
    page = done.content.decode()
    assert "已登记申请人撤回" in page and 'data-testid="withdraw-link"' not in page
    assert states(case) == {"dibao": "withdrawn", "medical_aid": "withdrawn"}


def test_a_stale_withdrawal_screen_says_so(submit_case, bob):
    case = submit_case(programmes=("dibao",))
    p = RequestProcedure.objects.get(case=case)
    pick = f"{p.request.public_id}:{p.version}"
    wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version)
    response = client_for(bob).post(
        f"/staff/work/case/{case.public_id}/withdraw/", {"pick": [pick], "reason": "不再申请", "confirmed": "yes"}
    )
    assert "该事项已被他人处理（当前状态：办理中·家庭经济状况核对），请刷新后再试" in response.content.decode()
    assert states(case) == {"dibao": "pending"}
