"""The workflow's decision becomes money from the month the programme's rule says, exactly once;
months before the first batch that includes it are paid there as arrears (补发)."""

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.tests.conftest import bob2, finished_check, jy, procedures, submit_case  # noqa: F401
from ejia.cases.workflow.tests.test_procedures import walk_dibao_to_decision
from ejia.catalogue.models import Programme
from ejia.disbursement.batch_jobs import months_to_build
from ejia.disbursement.batches import batch_build
from ejia.disbursement.models import Entitlement, PaymentItem, PaymentLine, add_months, month_start
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
    # The approval created the entitlement in its own transaction; the batch build's sweep
    # finds nothing left to do.
    entitlement = Entitlement.objects.get(request__case=case)
    assert entitlement.amount_fen == 80000
    assert entitlements_from_decisions(actor=None, county_code="371602") == ([], [])

    month = timezone.localdate().replace(day=1)
    # 临时救助 keeps the catalogue's default: paid from the month of the decision.
    assert entitlement.start_month == month
    batch_build(actor=dave, county="371602", period=month)
    batch_build(actor=dave, county="371602", period=month)  # building twice pays nothing twice
    entitlement = Entitlement.objects.get(request__case=case)
    assert PaymentItem.objects.filter(entitlement=entitlement).count() == 1
    assert PaymentItem.objects.get(entitlement=entitlement).amount_fen == 80000


def test_dibao_is_paid_from_the_month_after_acceptance_and_its_first_batch_pays_arrears(
    client,
    submit_case,  # noqa: F811
    bob,
    bob2,  # noqa: F811
    dave,
    finished_check,  # noqa: F811
):
    assert Programme.objects.get(code="dibao").pay_from == Programme.PayFrom.AFTER_ACCEPTANCE
    today = timezone.localdate()
    case = submit_case()
    p, _ = walk_dibao_to_decision(case, bob, bob2, dave, today, finished_check)
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    decision = wf.procedure_approve(actor=dave, procedure_id=p.pk, expected_version=p.version)
    entitlement = Entitlement.objects.get(request__case=case)
    this = month_start(today)
    assert entitlement.start_month == add_months(this, 1) and entitlement.amount_fen == decision.amount_fen
    from ejia.accounts.models import Division

    county = Division.objects.get(code="371602")
    assert add_months(this, 1) in months_to_build(county, today=add_months(this, 1))
    # The county builds the month after next first: the missed month comes as an arrears line.
    later = batch_build(actor=dave, county="371602", period=add_months(this, 2))
    lines = {line.kind: line for line in later.lines.filter(household=case.household)}
    assert set(lines) == {PaymentLine.Kind.REGULAR, PaymentLine.Kind.ARREARS}
    assert list(lines["arrears"].items.values_list("period", "amount_fen")) == [
        (add_months(this, 1), decision.amount_fen)
    ]
    assert lines["regular"].amount_fen == decision.amount_fen
    # The skipped month is paid (as arrears): nothing is due for it any more.
    assert add_months(this, 1) not in months_to_build(county, today=add_months(this, 1))
    client.force_login(dave)
    form = client.get(reverse("disbursement:batch_list")).content.decode()
    assert f'value="{add_months(this, 1):%Y-%m}"' in form  # next month is always offered
