"""The applicant withdraws from the citizen tracker: logged in with the case's phone and an
SMS code, they tick the programmes to drop and confirm; no clerk is involved."""

import pytest
from django.test import Client
from django.urls import reverse

from ejia.cases.models import ProgrammeRequest
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure, StepRecord
from ejia.cases.workflow.services.withdrawal import case_withdraw_by_applicant
from ejia.core.models import AuditEvent, OutboxMessage

pytestmark = pytest.mark.django_db

PHONE = "13812345678"  # the phone `application()` registers


def citizen(phone: str = PHONE) -> Client:
    """A citizen whose session verified `phone` by SMS code (see citizen_views.login_view)."""
    client = Client()
    session = client.session
    session["citizen_phone"] = phone
    session.save()
    return client


def states(case) -> dict[str, str]:
    return dict(RequestProcedure.objects.filter(case=case).values_list("request__programme__code", "state"))


def request_of(case, code: str) -> ProgrammeRequest:
    return ProgrammeRequest.objects.get(case=case, programme__code=code)


def withdraw_url(case) -> str:
    return reverse("citizen:withdraw", args=[case.public_id])


def test_the_applicant_withdraws_one_programme_then_the_rest(submit_case):
    case = submit_case(programmes=("dibao", "medical_aid"))
    dibao, medical = request_of(case, "dibao"), request_of(case, "medical_aid")
    client = citizen()
    mine = client.get(reverse("citizen:mine")).content.decode()
    assert f'href="{withdraw_url(case)}"' in mine and "撤回申请" in mine

    screen = client.get(withdraw_url(case)).content.decode()
    assert case.reference in screen and "最低生活保障" in screen and "门诊和住院医疗救助" in screen
    assert screen.count(" checked>") == 2  # every open programme ticked to begin with
    assert "我已了解：撤回后这些事项不再办理，如仍需救助需要重新申请" in screen

    done = client.post(withdraw_url(case), {"pick": [str(medical.public_id)], "confirmed": "yes"}, follow=True)
    assert done.redirect_chain[-1][0] == reverse("citizen:mine")
    assert "已撤回：门诊和住院医疗救助" in done.content.decode()
    assert states(case) == {"dibao": "pending", "medical_aid": "withdrawn"}
    case.refresh_from_db()
    assert case.status == "submitted"

    record = StepRecord.objects.get(procedure__case=case, action="withdraw")
    assert record.actor is None and record.unit is None
    assert record.comment == "申请人通过进度查询自行撤回：申请人申请撤回"
    events = AuditEvent.objects.filter(action__in=("workflow.withdraw", "cases.case_withdraw"))
    assert events.count() == 2
    for event in events:
        assert event.actor is None
        assert event.data["by"] == "applicant" and event.data["phone"] == "138****5678"
        assert PHONE not in str(event.data)
    sms = OutboxMessage.objects.get(template="withdrawn")
    assert sms.recipient == PHONE and "门诊和住院医疗救助" in sms.text

    # The rest, with the applicant's own words: the case itself is withdrawn.
    client.post(withdraw_url(case), {"pick": [str(dibao.public_id)], "reason": "家里情况好转了", "confirmed": "yes"})
    assert states(case) == {"dibao": "withdrawn", "medical_aid": "withdrawn"}
    case.refresh_from_db()
    assert case.status == "withdrawn"
    assert StepRecord.objects.filter(comment="申请人通过进度查询自行撤回：家里情况好转了").count() == 1
    assert AuditEvent.objects.get(action="cases.case_withdraw", data__case_withdrawn=True).actor is None
    assert OutboxMessage.objects.filter(template="withdrawn").count() == 2
    mine = client.get(reverse("citizen:mine")).content.decode()
    assert withdraw_url(case) not in mine and "已撤回" in mine


def test_only_the_cases_of_the_logged_in_phone_can_be_withdrawn(submit_case):
    case = submit_case(programmes=("dibao",))
    assert citizen("13900001111").get(withdraw_url(case)).status_code == 404
    assert citizen("13900001111").post(withdraw_url(case), {"confirmed": "yes"}).status_code == 404
    anonymous = Client().get(withdraw_url(case))
    assert anonymous.status_code == 302 and anonymous.url.startswith(reverse("citizen:login") + "?next=")
    assert states(case) == {"dibao": "pending"}
    # The service itself compares the verified phone with the case's, on the locked row.
    with pytest.raises(wf.WorkflowError, match="不是用您登录的手机号登记的"):
        case_withdraw_by_applicant(phone="13900001111", case_public_id=case.public_id, reason="")
    assert states(case) == {"dibao": "pending"}


def test_a_programme_decided_meanwhile_makes_the_page_stale_and_nothing_moves(submit_case, bob):
    case = submit_case(programmes=("linshi", "dibao"))
    picks = [str(r.public_id) for r in ProgrammeRequest.objects.filter(case=case)]
    client = citizen()
    client.get(withdraw_url(case))
    linshi = RequestProcedure.objects.get(case=case, request__programme__code="linshi")
    wf.procedure_approve(
        actor=bob, procedure_id=linshi.pk, expected_version=linshi.version, amount_fen=100000, amount_change_reason="急"
    )
    events = AuditEvent.objects.count()
    page = client.post(withdraw_url(case), {"pick": picks, "confirmed": "yes"}).content.decode()
    assert "临时救助（已批准）已不在办理中，不能撤回" in page
    assert states(case) == {"linshi": "approved", "dibao": "pending"}
    assert AuditEvent.objects.count() == events
    assert not OutboxMessage.objects.filter(template="withdrawn").exists()
    # The page drawn again offers only what can still be withdrawn.
    assert "最低生活保障" in page and 'value="' + str(linshi.request.public_id) + '"' not in page


def test_nothing_moves_until_a_programme_is_ticked_and_the_applicant_confirms(submit_case):
    case = submit_case(programmes=("dibao", "medical_aid"))
    picks = [str(r.public_id) for r in ProgrammeRequest.objects.filter(case=case)]
    client = citizen()
    unconfirmed = client.post(withdraw_url(case), {"pick": picks, "reason": "不需要了"})
    assert unconfirmed.status_code == 200
    assert "请先勾选“我已了解”" in unconfirmed.content.decode()
    assert "不需要了" in unconfirmed.content.decode()
    nothing = client.post(withdraw_url(case), {"confirmed": "yes"}).content.decode()
    assert "请至少勾选一个要撤回的项目" in nothing
    assert states(case) == {"dibao": "pending", "medical_aid": "pending"}
    assert not AuditEvent.objects.filter(action__in=("workflow.withdraw", "cases.case_withdraw")).exists()


def test_without_a_staff_actor_only_the_applicant_path_withdraws(submit_case, bob):
    """WITHDRAW moves allow the no-staff actor now; the clerk path must still want a clerk."""
    case = submit_case(programmes=("dibao",))
    procedure = RequestProcedure.objects.get(case=case)
    with pytest.raises(wf.WorkflowError, match="窗口或村"):
        wf.case_withdraw(actor=None, case_id=case.pk, reason="撤回")
    with pytest.raises(wf.WorkflowError, match="窗口或村"):
        wf.procedure_withdraw(actor=None, procedure_id=procedure.pk, expected_version=procedure.version)
    assert states(case) == {"dibao": "pending"}
    wf.case_withdraw(actor=bob, case_id=case.pk, reason="申请人到窗口撤回")
    event = AuditEvent.objects.get(action="cases.case_withdraw")
    assert event.actor == bob and "by" not in event.data
