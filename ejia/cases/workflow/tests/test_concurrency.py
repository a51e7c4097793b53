import threading

import pytest
from django.db import connection, connections

from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import Decision, RequestProcedure, StepRecord
from ejia.core.models import AuditEvent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_approvals_make_exactly_one_transition(submit_case, bob):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    case = submit_case(programmes=("linshi",))
    p = RequestProcedure.objects.get(case=case)
    version = p.version
    events_before = AuditEvent.objects.filter(action="workflow.approve").count()
    barrier = threading.Barrier(50)
    outcomes: list[str] = []

    def approve():
        try:
            barrier.wait()
            wf.procedure_approve(actor=bob, procedure_id=p.pk, expected_version=version)
            outcomes.append("ok")
        except wf.StaleScreen:
            outcomes.append("stale")
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
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
    barrier = threading.Barrier(20)
    outcomes: list[str] = []

    def claim(user):
        try:
            barrier.wait()
            wf.procedure_claim(actor=user, procedure_id=p.pk, expected_version=p.version)
            outcomes.append(user.username)
        except wf.StaleScreen:
            outcomes.append("stale")
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(bob if i % 2 else bob2,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    p.refresh_from_db()
    winner = p.claimed_by.username
    # The winner's own repeated clicks are no-ops; everyone else's screen is stale.
    assert set(outcomes) == {winner, "stale"}, outcomes
    assert StepRecord.objects.filter(procedure=p, action="claim").count() == 1
    assert p.version == 2
