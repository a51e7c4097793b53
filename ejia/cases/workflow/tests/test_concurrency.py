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
