"""The demo's decided cases are paid one for one: every approved cash benefit of the demo is an
entitlement, and the county's batches pay exactly its months, to accounts with a holder's name."""

from __future__ import annotations

import pytest
from django.db.models import Sum
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.cases.workflow.models import Decision
from ejia.demo.cases import demo_cases_ensure
from ejia.disbursement.batch_jobs import months_to_build
from ejia.disbursement.batches import batch_build
from ejia.disbursement.holds import CASH, held_decisions_for_county
from ejia.disbursement.models import Entitlement, PaymentItem, PaymentLine, add_months

pytestmark = pytest.mark.django_db


def test_the_demo_decided_cases_produce_batches_that_pay_the_entitlements_one_for_one(demo_city):
    demo_cases_ensure()
    approved = Decision.objects.filter(
        outcome=Decision.Outcome.APPROVED, procedure__request__programme__benefit_form__in=CASH
    )
    assert approved.exists()
    county = Division.objects.get(code="371602")
    reviewer = demo_city["county_reviewer"]
    today = timezone.localdate()
    # The build form's choices: next month always, then any month that still owes money.
    months = [add_months(today.replace(day=1), 1)]
    batch_build(actor=reviewer, county=county, period=months[0])
    for month in months_to_build(county, today=today):
        months.append(month)
        batch_build(actor=reviewer, county=county, period=month)
    assert months_to_build(county, today=today) == []
    months.sort()
    assert held_decisions_for_county(county_code="371602") == []
    entitlements = list(Entitlement.objects.filter(request__procedure__decision__in=approved))
    assert len(entitlements) == approved.count()
    last = months[-1]
    expected = 0
    for e in entitlements:
        periods = sorted(PaymentItem.objects.filter(entitlement=e).values_list("period", flat=True))
        due, month = [], e.start_month
        while month <= last and (e.end_month is None or month <= e.end_month):
            due.append(month)
            month = add_months(month, 1)
        assert periods == due, e
        expected += e.amount_fen * len(due)
    lines = PaymentLine.objects.all()
    assert not lines.filter(status=PaymentLine.Status.HELD).exists()  # demo accounts have their holder
    assert lines.aggregate(t=Sum("amount_fen"))["t"] == expected
    assert all(line.holder_name for line in lines)
