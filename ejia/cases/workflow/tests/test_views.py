import pytest
from django.test import Client

from conftest import TEST_PASSWORD
from ejia.cases.workflow.models import RequestProcedure

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def test_a_submitted_case_enters_its_procedure_at_once_and_the_window_queue_lists_it(bob, procedures):
    from ejia.cases.models import Channel
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application

    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="v1", data=application())
    assert RequestProcedure.objects.filter(case=case).count() == 1
    response = client_for(bob).get("/staff/work/")
    assert response.status_code == 200 and case.reference in response.content.decode()
    assert RequestProcedure.objects.filter(case=case).count() == 1


def test_the_department_approver_sees_only_the_minimum_and_another_county_is_refused(submit_case, erin, frank, carol):
    case = submit_case(programmes=("dibao", "medical_aid"))
    medical = RequestProcedure.objects.get(case=case, request__programme__code="medical_aid")
    dibao = RequestProcedure.objects.get(case=case, request__programme__code="dibao")
    page = client_for(erin).get(f"/staff/work/r/{medical.public_id}/").content.decode()
    assert "家庭人口" in page and "13812345678" not in page and "张大山" not in page and "张*" in page
    assert client_for(erin).get(f"/staff/work/r/{dibao.public_id}/").status_code == 403
    assert case.reference in client_for(erin).get("/staff/work/").content.decode()
    assert client_for(frank).get(f"/staff/work/r/{medical.public_id}/").status_code == 403
    assert case.reference not in client_for(frank).get("/staff/work/?tab=unit").content.decode()
    assert client_for(carol).get(f"/staff/work/r/{dibao.public_id}/").status_code == 403


def test_a_stale_form_shows_the_message_and_does_not_move(submit_case, bob):
    case = submit_case()
    p = RequestProcedure.objects.get(case=case)
    client = client_for(bob)
    url = f"/staff/work/r/{p.public_id}/do/complete/"
    client.post(url, {"version": p.version})
    response = client.post(url, {"version": p.version, "verified": "1"}, follow=True)
    assert "该事项已被他人处理（当前状态：办理中·家庭经济状况核对），请刷新后再试" in response.content.decode()
    p.refresh_from_db()
    assert p.step.key == "verify"


def test_bulk_approval_lists_the_items_for_confirmation_then_approves_each(submit_case, bob, monkeypatch):
    from ejia.cases.workflow import views

    cases = [submit_case(programmes=("linshi",)) for _ in range(2)]
    picks = [f"{p.public_id}:{p.version}" for p in RequestProcedure.objects.filter(case__in=cases)]
    client = client_for(bob)
    refused = client.post("/staff/work/bulk-approve/", {"pick": picks}, follow=True).content.decode()
    assert "须逐件审批" in refused  # ¥6,006 is above the low-risk limit
    monkeypatch.setattr(views, "LOW_RISK_MAX_FEN", 10**9)
    confirm = client.post("/staff/work/bulk-approve/", {"pick": picks}).content.decode()
    assert all(c.reference in confirm for c in cases) and "确认批准以上 2 件" in confirm
    assert not RequestProcedure.objects.filter(state="approved").exists()
    done = client.post("/staff/work/bulk-approve/", {"pick": picks, "confirm": "yes"}, follow=True).content.decode()
    assert "已批准 2 件" in done
    assert RequestProcedure.objects.filter(state="approved").count() == 2
