import pytest
from django.db import connection

from conftest import race as _race
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import Decision, RequestProcedure, StepRecord
from ejia.core.models import AuditEvent


def race(*attempts) -> list[str]:
    """A stale screen counts as "stale"."""
    return _race(*attempts, expected={wf.StaleScreen: lambda exc: "stale"})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_approvals_make_exactly_one_transition(submit_case, bob):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    case = submit_case(programmes=("linshi",))
    p = RequestProcedure.objects.get(case=case)
    version = p.version
    events_before = AuditEvent.objects.filter(action="workflow.approve").count()

    def approve():
        wf.procedure_approve(actor=bob, procedure_id=p.pk, expected_version=version)
        return "ok"

    outcomes = race(*[approve] * 50)
    assert outcomes.count("ok") == 1 and outcomes.count("stale") == 49, outcomes
    assert Decision.objects.filter(procedure=p).count() == 1
    assert StepRecord.objects.filter(procedure=p, action="approve").count() == 1
    assert AuditEvent.objects.filter(action="workflow.approve").count() == events_before + 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_clerks_claiming_at_once_leave_one_holder(submit_case, bob, bob2):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    case = submit_case(programmes=("dibao",))
    p = RequestProcedure.objects.get(case=case)

    def claim(user):
        wf.procedure_claim(actor=user, procedure_id=p.pk, expected_version=p.version)
        return user.username

    outcomes = race(*[lambda user=(bob if i % 2 else bob2): claim(user) for i in range(20)])
    p.refresh_from_db()
    winner = p.claimed_by.username
    # The winner's own repeated clicks are no-ops; everyone else's screen is stale.
    assert set(outcomes) == {winner, "stale"}, outcomes
    assert StepRecord.objects.filter(procedure=p, action="claim").count() == 1
    assert p.version == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_applicant_withdrawing_while_the_clerk_approves_ends_one_way_or_the_other(submit_case, bob):
    """Ten withdrawal clicks from the tracker race ten approvals: one of them wins, the other
    side sees a stale screen, nothing deadlocks and the request ends in exactly one state."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    from ejia.cases.models import ProgrammeRequest
    from ejia.cases.workflow.services.withdrawal import case_withdraw_by_applicant

    case = submit_case(programmes=("linshi",))
    p = RequestProcedure.objects.get(case=case)
    version = p.version

    def approve():
        wf.procedure_approve(actor=bob, procedure_id=p.pk, expected_version=version)
        return "approved"

    def withdraw():
        case_withdraw_by_applicant(phone=case.phone, case_public_id=case.public_id, reason="不需要了")
        return "withdrawn"

    outcomes = race(*[approve if i % 2 else withdraw for i in range(20)])
    winners = [o for o in outcomes if o != "stale"]
    assert len(winners) == 1 and winners[0] in ("approved", "withdrawn"), outcomes
    request = ProgrammeRequest.objects.get(pk=p.request_id)
    p.refresh_from_db()
    if winners == ["approved"]:
        assert request.status == ProgrammeRequest.Status.APPROVED
        assert not StepRecord.objects.filter(procedure=p, action="withdraw").exists()
    else:
        assert request.status == ProgrammeRequest.Status.WITHDRAWN and p.state == "withdrawn"
        assert not Decision.objects.filter(procedure=p).exists()
    assert AuditEvent.objects.filter(action__in=("workflow.approve", "workflow.withdraw")).count() == 1
