"""认领: one clerk of the unit takes a request; "我的" lists what the user has claimed."""

import datetime as dt

import pytest
from django.test import Client

from conftest import TEST_PASSWORD
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure, StepRecord
from ejia.cases.workflow.selectors import work_queue
from ejia.cases.workflow.tests.test_procedures import walk_dibao_to_decision
from ejia.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def refs(queue) -> set[str]:
    return {row.case.reference for row in queue.rows}


def test_a_claimed_request_is_mine_and_no_longer_my_colleagues_to_do(submit_case, bob, bob2):
    case = submit_case()
    p = RequestProcedure.objects.get(case=case)
    assert case.reference in refs(work_queue(user=bob2, tab="mine"))
    claimed = wf.procedure_claim(actor=bob, procedure_id=p.pk, expected_version=p.version)
    assert claimed.claimed_by == bob and claimed.version == p.version + 1
    assert case.reference in refs(work_queue(user=bob, tab="claimed"))
    assert case.reference in refs(work_queue(user=bob, tab="mine"))
    assert case.reference not in refs(work_queue(user=bob2, tab="mine"))
    assert case.reference not in refs(work_queue(user=bob2, tab="claimed"))
    assert case.reference in refs(work_queue(user=bob2, tab="unit"))
    assert StepRecord.objects.filter(procedure=p, action="claim", actor=bob).count() == 1
    assert AuditEvent.objects.filter(action="workflow.claim", actor=bob).count() == 1


def test_a_colleague_cannot_move_or_claim_a_claimed_request(submit_case, bob, bob2):
    case = submit_case()
    p = RequestProcedure.objects.get(case=case)
    p = wf.procedure_claim(actor=bob, procedure_id=p.pk, expected_version=p.version)
    with pytest.raises(wf.WorkflowError, match="已由王丽认领办理"):
        wf.procedure_complete(actor=bob2, procedure_id=p.pk, expected_version=p.version)
    with pytest.raises(wf.StaleScreen, match="已由王丽认领"):
        wf.procedure_claim(actor=bob2, procedure_id=p.pk, expected_version=p.version)
    # A second click of the holder changes nothing.
    assert wf.procedure_claim(actor=bob, procedure_id=p.pk, expected_version=p.version - 1).version == p.version


def test_release_by_the_holder_or_taken_back_with_a_reason(submit_case, bob, bob2):
    case = submit_case()
    p = RequestProcedure.objects.get(case=case)
    p = wf.procedure_claim(actor=bob, procedure_id=p.pk, expected_version=p.version)
    with pytest.raises(wf.WorkflowError, match="须写明理由"):
        wf.procedure_release(actor=bob2, procedure_id=p.pk, expected_version=p.version)
    p = wf.procedure_release(actor=bob2, procedure_id=p.pk, expected_version=p.version, reason="王丽休假")
    assert p.claimed_by is None
    assert StepRecord.objects.get(procedure=p, action="release").comment == "收回王丽的认领：王丽休假"
    p = wf.procedure_claim(actor=bob2, procedure_id=p.pk, expected_version=p.version)
    p = wf.procedure_release(actor=bob2, procedure_id=p.pk, expected_version=p.version)
    assert p.claimed_by is None
    with pytest.raises(wf.StaleScreen, match="无人认领"):
        wf.procedure_release(actor=bob2, procedure_id=p.pk, expected_version=p.version)
    assert AuditEvent.objects.filter(action="workflow.release").count() == 2


def test_the_claim_follows_the_request_inside_the_unit_and_ends_at_the_county(
    submit_case, bob, bob2, dave, finished_check
):
    today = dt.date(2026, 3, 2)
    case = submit_case()
    p = RequestProcedure.objects.get(case=case)
    wf.procedure_claim(actor=bob, procedure_id=p.pk, expected_version=p.version)
    p, _ = walk_dibao_to_decision(case, bob, bob2, dave, today, finished_check)
    assert p.claimed_by == bob and p.step.key == "public_notice"
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    assert p.step.key == "county_decision" and p.claimed_by is None
    assert case.reference in refs(work_queue(user=dave, tab="mine"))


def test_claiming_from_the_queue_and_a_stale_screen_after_a_claim(submit_case, bob, bob2):
    cases = [submit_case() for _ in range(3)]
    ps = [RequestProcedure.objects.get(case=c) for c in cases]
    client = client_for(bob)
    queue = client.get("/staff/work/?tab=unit").content.decode()
    assert f'data-testid="claim-{cases[0].reference}"' in queue
    client.post("/staff/work/claim/", {"only": f"{ps[0].public_id}:{ps[0].version}", "tab": "unit"})
    response = client.post(
        "/staff/work/claim/", {"pick": [f"{p.public_id}:{p.version}" for p in ps[1:]], "tab": "claimed"}, follow=True
    )
    page = response.content.decode()
    assert "已认领 2 件" in page and all(c.reference in page for c in cases)
    assert RequestProcedure.objects.filter(claimed_by=bob).count() == 3
    # bob2's screen of the first request was drawn before bob claimed it.
    stale = client_for(bob2).post(
        f"/staff/work/r/{ps[0].public_id}/do/complete/", {"version": ps[0].version}, follow=True
    )
    assert "该事项已被他人处理" in stale.content.decode()
    detail = client_for(bob2).get(f"/staff/work/r/{ps[0].public_id}/").content.decode()
    assert "该事项已由王丽认领办理" in detail and 'data-testid="complete"' not in detail


def test_records_at_a_claimed_step_are_the_holders_to_make(submit_case, bob, bob2, finished_check):
    case = submit_case()
    p = RequestProcedure.objects.get(case=case)
    p = wf.procedure_claim(actor=bob, procedure_id=p.pk, expected_version=p.version)
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version)
    check = finished_check(case)
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, check_id=check.public_id)
    assert p.step.key == "home_visit" and p.claimed_by == bob
    today = dt.date.today()
    with pytest.raises(wf.WorkflowError, match="已由王丽认领办理"):
        wf.home_visit_record(actor=bob2, procedure_id=p.pk, visit_date=today, staff_1=bob, staff_2=bob2, findings="x")
    wf.home_visit_record(actor=bob, procedure_id=p.pk, visit_date=today, staff_1=bob, staff_2=bob2, findings="家中困难")
    assert p.home_visits.count() == 1
