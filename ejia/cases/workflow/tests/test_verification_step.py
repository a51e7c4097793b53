"""The verification step rests on the case's one-click check, not on a ticked box."""

import datetime as dt

import pytest
from django.test import Client

from conftest import TEST_PASSWORD
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure, StepRecord
from ejia.core.models import AuditEvent

pytestmark = pytest.mark.django_db


def at_verification(case, bob) -> RequestProcedure:
    p = RequestProcedure.objects.get(case=case, request__programme__code="dibao")
    return wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version)


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def test_the_step_waits_for_a_check_started_after_submission_and_finished(submit_case, bob, finished_check):
    case = submit_case()
    p = at_verification(case, bob)
    with pytest.raises(wf.WorkflowError, match="尚未发起一键核对"):
        wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version)
    old = finished_check(case)
    old.created_at = case.submitted_at - dt.timedelta(days=30)
    old.save(update_fields=["created_at"])
    with pytest.raises(wf.WorkflowError, match="尚未发起一键核对"):
        wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version)
    finished_check(case, running=True)
    with pytest.raises(wf.WorkflowError, match="尚在进行中"):
        wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version)
    p.refresh_from_db()
    assert p.step.key == "verify"


def test_a_complete_check_closes_the_step_and_is_named_in_the_record_and_the_audit(submit_case, bob, finished_check):
    case = submit_case()
    p = at_verification(case, bob)
    check = finished_check(case)
    p = wf.procedure_complete(
        actor=bob, procedure_id=p.pk, expected_version=p.version, check_id=check.public_id, comment="已核对"
    )
    assert p.step.key == "home_visit"
    record = StepRecord.objects.filter(procedure=p, action="complete", step__key="verify").get()
    assert str(check.public_id) in record.comment and "已完成" in record.comment and "已核对" in record.comment
    event = AuditEvent.objects.filter(action="workflow.complete").order_by("-pk").first()
    assert event.data["check"] == str(check.public_id) and event.data["check_status"] == "complete"


def test_a_partial_check_needs_the_failed_sources_acknowledged(submit_case, bob, finished_check):
    case = submit_case()
    p = at_verification(case, bob)
    check = finished_check(case, failed=("vehicle",))
    with pytest.raises(wf.WorkflowError, match="查询失败") as refused:
        wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, check_id=check.public_id)
    vehicle = check.sources.get(source__kind="vehicle").source.name
    assert vehicle in refused.value.message
    p = wf.procedure_complete(
        actor=bob, procedure_id=p.pk, expected_version=p.version, check_id=check.public_id, failed_acknowledged=True
    )
    record = StepRecord.objects.filter(procedure=p, step__key="verify", action="complete").get()
    assert f"已知悉查询失败：{vehicle}" in record.comment
    event = AuditEvent.objects.filter(action="workflow.complete").order_by("-pk").first()
    assert event.data["check_status"] == "partial" and event.data["failed_sources"] == [vehicle]


def test_a_newer_check_than_the_screen_showed_is_a_stale_screen(submit_case, bob, finished_check):
    case = submit_case()
    p = at_verification(case, bob)
    shown = finished_check(case, failed=("vehicle",))
    finished_check(case, deposit_fen=9_000_000)
    with pytest.raises(wf.StaleScreen, match="核对结果已更新"):
        wf.procedure_complete(
            actor=bob, procedure_id=p.pk, expected_version=p.version, check_id=shown.public_id, failed_acknowledged=True
        )


def test_the_page_shows_the_check_and_after_it_the_re_evaluated_outcome(submit_case, bob, finished_check):
    case = submit_case()
    p = at_verification(case, bob)
    client = client_for(bob)
    page = client.get(f"/staff/work/r/{p.public_id}/").content.decode()
    assert "尚未发起一键核对" in page and 'name="check"' not in page
    # Deposits of ¥90,000 for two people: above the 低保 asset limit once verified.
    check = finished_check(case, deposit_fen=9_000_000)
    page = client.get(f"/staff/work/r/{p.public_id}/").content.decode()
    assert f'name="check" value="{check.public_id}"' in page
    assert 'data-testid="check-status">已完成<' in page
    assert f'data-testid="check-differences">{len(check.differences)}<' in page and check.differences
    response = client.post(
        f"/staff/work/r/{p.public_id}/do/complete/", {"version": p.version, "check": str(check.public_id)}, follow=True
    )
    page = response.content.decode()
    assert "本环节已办结" in page and "▶ 入户调查" in page
    outcome = page.split('data-testid="verified-outcome"', 1)[1].split("</div>", 1)[0]
    before = case.plan.get("dibao")
    assert before.outcome_label == "可能符合"
    assert "可能符合" in outcome and "→" in outcome and "暂不符合" in outcome


def test_the_form_posts_the_acknowledgement_of_a_partial_check(submit_case, bob, finished_check):
    case = submit_case()
    p = at_verification(case, bob)
    check = finished_check(case, failed=("vehicle",))
    client = client_for(bob)
    page = client.get(f"/staff/work/r/{p.public_id}/").content.decode()
    assert 'name="ack_failed"' in page
    url = f"/staff/work/r/{p.public_id}/do/complete/"
    refused = client.post(url, {"version": p.version, "check": str(check.public_id)}, follow=True).content.decode()
    assert "请勾选确认已知悉" in refused
    client.post(url, {"version": p.version, "check": str(check.public_id), "ack_failed": "1"})
    p.refresh_from_db()
    assert p.step.key == "home_visit"
