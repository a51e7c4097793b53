"""The workflow's decision becomes money in the next monthly batch, exactly once."""

from django.utils import timezone

from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.tests.conftest import bob2, jy, procedures, submit_case  # noqa: F401
from ejia.disbursement.batches import batch_build
from ejia.disbursement.models import Entitlement, PaymentItem
from ejia.disbursement.services import entitlements_from_decisions


def test_an_approved_urgent_aid_is_paid_once_in_the_county_batch(submit_case, bob, dave):  # noqa: F811
    case = submit_case(programmes=("linshi",))
    procedure = RequestProcedure.objects.get(case=case, request__programme__code="linshi")
    wf.procedure_approve(
        actor=bob,
        procedure_id=procedure.pk,
        expected_version=procedure.version,
        amount_fen=80000,
        amount_change_reason="先行救助",
    )
    created, problems = entitlements_from_decisions(actor=None, county_code="371602")
    assert problems == []
    assert [e.amount_fen for e in created] == [80000]
    assert entitlements_from_decisions(actor=None, county_code="371602") == ([], [])

    month = timezone.localdate().replace(day=1)
    batch_build(actor=dave, county="371602", period=month)
    batch_build(actor=dave, county="371602", period=month)  # building twice pays nothing twice
    entitlement = Entitlement.objects.get(request__case=case)
    assert PaymentItem.objects.filter(entitlement=entitlement).count() == 1
    assert PaymentItem.objects.get(entitlement=entitlement).amount_fen == 80000
