"""The demo cases: households of a small generated city, accepted and walked through the real
workflow by the demo staff, leave work in every role's queue; a second run adds nothing."""

from __future__ import annotations

import pytest

from ejia.cases.models import Case, CaseStatus
from ejia.cases.verify import case_latest_check
from ejia.cases.workflow.models import DecisionNotice, Objection, PublicNotice, RequestProcedure
from ejia.cases.workflow.selectors import case_progress, joint_review_queue, work_queue
from ejia.core.models import AuditEvent
from ejia.demo.cases import SCENARIOS, demo_cases_ensure
from ejia.verification.models import CheckSource, CheckStatus

pytestmark = pytest.mark.django_db


def rows(user, tab="mine"):
    return [(r.request.programme.code, r.step.key) for r in work_queue(user=user, tab=tab).rows]


def test_every_demo_role_finds_work_made_by_the_real_services(demo_city):
    staff = demo_city
    assert demo_cases_ensure() == len(SCENARIOS)
    assert Case.objects.count() == len(SCENARIOS)

    # The township window: a new case nobody has claimed, one claimed by the clerk, a home visit.
    clerk = staff["window_clerk"]
    mine = work_queue(user=clerk).rows
    assert any(r.step.key == "accept" and r.claimed_by_id is None for r in mine)
    assert rows(clerk, "claimed") == [("dibao", "verify")]
    visit = RequestProcedure.objects.get(step__key="home_visit")
    check = case_latest_check(visit.case)
    assert check.status in (CheckStatus.COMPLETE, CheckStatus.PARTIAL)
    # The check read the department snapshots the city imported, not hand-made findings.
    answered = check.sources.filter(status=CheckSource.Status.DONE)
    assert answered.exists() and not answered.filter(snapshot__isnull=True).exists()

    # Public notice: two running, one with an objection still to look into.
    assert PublicNotice.objects.filter(status=PublicNotice.Status.OPEN).count() == 2
    assert Objection.objects.filter(resolved_at__isnull=True).count() == 1

    # The county centre: a decision to take, a joint review to do, an overdue step escalated to it.
    reviewer = staff["county_reviewer"]
    assert ("dibao", "county_decision") in rows(reviewer)
    assert joint_review_queue(user=staff["centre_director"]).count() == 1
    overdue = work_queue(user=reviewer, tab="overdue").rows
    assert [r.step.key for r in overdue] == ["accept"] and overdue[0].escalated_to_id == reviewer.unit_id

    # The departments.
    assert ("medical_aid", "dept_review") in rows(staff["approver_yb"])
    assert [step for code, step in rows(staff["approver_jy"]) if code.startswith("edu_")] == ["dept_decision"]

    # One case fully decided: the citizen tracker shows its one decision notice.
    notice = DecisionNotice.objects.get()
    assert {row["outcome"] for row in notice.content} == {"approved"} and len(notice.content) == 2
    assert notice.case.status == CaseStatus.CLOSED
    assert case_progress(notice.case)["notice"] == notice


def test_a_second_run_creates_nothing(demo_city):
    assert demo_cases_ensure() == len(SCENARIOS)
    counts = (Case.objects.count(), RequestProcedure.objects.count(), AuditEvent.objects.count())
    submitted = AuditEvent.objects.filter(action="cases.case_submit").count()

    assert demo_cases_ensure() == 0
    assert (Case.objects.count(), RequestProcedure.objects.count(), AuditEvent.objects.count()) == counts
    assert AuditEvent.objects.filter(action="cases.case_submit").count() == submitted == len(SCENARIOS)
