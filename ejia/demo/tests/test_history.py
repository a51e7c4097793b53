"""Twelve months of demo history: every month has summary rows, each month's money in the
summaries is the money of its raw payment items, and a second run adds nothing."""

from __future__ import annotations

import pytest
from django.db.models import Sum
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.cases.models import Case, Channel
from ejia.cases.workflow.models import OPEN_STATES, Decision, RequestProcedure, StepRecord
from ejia.dashboards.models import CaseMonthly, PaymentMonthly, RecipientMonthly, StepMonthly
from ejia.dashboards.refresh import PAID, recent_months
from ejia.demo.history import demo_history_ensure
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentItem, PaymentLine, PaymentReturn
from ejia.verification.models import VerificationCheck

pytestmark = pytest.mark.django_db

ROWS = (Entitlement, PaymentBatch, PaymentLine, PaymentItem, PaymentReturn, Case, StepRecord, VerificationCheck)


def _counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in ROWS}


def test_twelve_months_of_history_agree_with_the_raw_rows_and_a_second_run_adds_nothing(demo_city):
    today = timezone.localdate()
    months = recent_months(today=today)
    result = demo_history_ensure(today=today, county_codes=["371602"], cases_per_month=1)
    assert result.refreshed == 12

    city = PaymentMonthly.objects.filter(level=Division.Level.CITY, programme__isnull=True)
    assert sorted(city.values_list("month", flat=True)) == months
    assert sorted(set(RecipientMonthly.objects.values_list("month", flat=True))) == months
    # One batch per month; every past month answered by the bank, the current one waiting.
    batches = list(PaymentBatch.objects.order_by("period"))
    assert [b.period for b in batches] == months
    assert all(b.return_imported_at for b in batches[:-1]) and batches[-1].return_imported_at is None
    for month in months:
        items = PaymentItem.objects.filter(period=month)
        summary = city.get(month=month)
        assert summary.due_fen == items.aggregate(t=Sum("amount_fen"))["t"], month
        paid = items.filter(line__status__in=PAID).aggregate(t=Sum("amount_fen", default=0))["t"]
        assert summary.paid_fen == paid, month
        # The county rows, per programme, add up to the same money.
        county = PaymentMonthly.objects.filter(month=month, level=Division.Level.COUNTY, programme__isnull=False)
        assert county.aggregate(t=Sum("due_fen"))["t"] == summary.due_fen, month
        # Timestamps were moved into the month the batch is for.
        batch = next(b for b in batches if b.period == month)
        assert timezone.localtime(batch.built_at).date().replace(day=1) == month
    lines = PaymentLine.objects.all()
    assert lines.filter(kind=PaymentLine.Kind.ARREARS).exists()  # 补发 of late decisions
    assert lines.filter(kind=PaymentLine.Kind.REISSUE).exists()  # failed lines sent again
    bounced = [PaymentLine.Status.FAILED, PaymentLine.Status.RETURNED, PaymentLine.Status.REISSUED]
    assert lines.filter(kind=PaymentLine.Kind.REGULAR, status__in=bounced).exists()
    assert lines.filter(status=PaymentLine.Status.HELD).exists()  # an account closed
    assert Entitlement.objects.filter(status=Entitlement.Status.ENDED).exists()

    # Applications by every channel, dated in their months through the workflow.
    cases = Case.objects.filter(idempotency_key__startswith="demo-history-")
    assert result.cases == cases.count() >= 11
    assert set(cases.values_list("channel", flat=True)) == set(Channel.values)
    accepted = {timezone.localtime(c.submitted_at).date().replace(day=1) for c in cases}
    assert accepted == set(months[: len(accepted)]) and len(accepted) >= 11
    for case in cases:
        records = StepRecord.objects.filter(procedure__case=case)
        assert all(
            timezone.localtime(at) >= timezone.localtime(case.submitted_at)
            for at in records.values_list("at", flat=True)
        )
        assert all(timezone.localtime(at).date() <= today for at in records.values_list("at", flat=True))
    checks = VerificationCheck.objects.filter(household__cases__in=cases)
    assert len({timezone.localtime(c.created_at).date().replace(day=1) for c in checks}) >= 10
    decisions = Decision.objects.filter(procedure__case__in=cases)
    assert decisions.count() >= 9
    # Eligible applicants are approved (and paid from the next batches), the others refused.
    approved = decisions.filter(outcome=Decision.Outcome.APPROVED)
    assert approved.exists() and decisions.filter(outcome=Decision.Outcome.REFUSED).exists()
    assert Entitlement.objects.filter(request__procedure__decision__in=approved).exists()
    # Some steps overdue now, and some finished after their deadline.
    assert RequestProcedure.objects.filter(case__in=cases, state__in=OPEN_STATES, step_due__lt=today).exists()

    # The timeliness summaries see them in their months (the current one may have none yet).
    received = set(CaseMonthly.objects.filter(level=Division.Level.CITY).values_list("month", flat=True))
    assert set(months[:-1]) <= received
    finished = set(StepMonthly.objects.filter(level=Division.Level.CITY).values_list("month", flat=True))
    assert set(months[:-1]) <= finished

    before = _counts()
    again = demo_history_ensure(today=today, county_codes=["371602"], cases_per_month=1)
    assert (again.entitlements, again.ended, again.cases) == (0, 0, 0)
    assert _counts() == before
