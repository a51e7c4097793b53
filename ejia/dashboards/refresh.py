"""Refresh of the dashboard summaries: set-based aggregates over the raw tables, one transaction
per month, idempotent (the month's rows are replaced), audited as a system job. A failure is
recorded as a RefreshRun row and logged; it never reaches the business action that asked."""

from __future__ import annotations

import datetime as dt
import logging

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from ejia.core.audit import audit_record
from ejia.dashboards.models import PaymentMonthly, RecipientMonthly, RefreshRun
from ejia.disbursement.models import Entitlement, PaymentItem, PaymentLine, add_months

log = logging.getLogger(__name__)

S = PaymentLine.Status
PAID = [S.PAID, S.MISMATCH, S.ACCEPTED]
FAILED = [S.FAILED, S.RETURNED, S.REISSUED]


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _money(statuses) -> Sum:
    return Sum("amount_fen", filter=Q(line__status__in=statuses), default=0)


def _payments(month: dt.date) -> list[PaymentMonthly]:
    rows = (
        PaymentItem.objects.filter(period=month)
        .values(
            county=F("entitlement__county_code"),
            prog=F("entitlement__programme_id"),
            dept=F("entitlement__programme__department__code"),
        )
        .annotate(
            n_households=Count("line__household_id", distinct=True),
            due=Sum("amount_fen", default=0),
            paid=_money(PAID),
            pending=_money([S.PENDING]),
            held=_money([S.HELD]),
            failed=_money(FAILED),
        )
        .order_by()
    )
    return [
        PaymentMonthly(
            month=month,
            county_code=r["county"],
            programme_id=r["prog"],
            department_code=r["dept"],
            households=r["n_households"],
            due_fen=r["due"],
            paid_fen=r["paid"],
            pending_fen=r["pending"],
            held_fen=r["held"],
            failed_fen=r["failed"],
        )
        for r in rows
    ]


def _recipients(month: dt.date) -> list[RecipientMonthly]:
    rows = (
        Entitlement.objects.filter(start_month__lte=month)
        .filter(Q(end_month__isnull=True) | Q(end_month__gte=month))
        .values(
            county=F("county_code"),
            prog=F("programme_id"),
            dept=F("programme__department__code"),
        )
        .annotate(n=Count("id"), n_households=Count("household_id", distinct=True), fen=Sum("amount_fen", default=0))
        .order_by()
    )
    return [
        RecipientMonthly(
            month=month,
            county_code=r["county"],
            programme_id=r["prog"],
            department_code=r["dept"],
            entitlements=r["n"],
            households=r["n_households"],
            monthly_fen=r["fen"],
        )
        for r in rows
    ]


def refresh_month(*, month: dt.date, trigger: str) -> int:
    """Replace the summaries of one month; returns the number of summary rows written."""
    month = month_start(month)
    with transaction.atomic():
        PaymentMonthly.objects.filter(month=month).delete()
        RecipientMonthly.objects.filter(month=month).delete()
        payments = PaymentMonthly.objects.bulk_create(_payments(month), batch_size=2000)
        recipients = RecipientMonthly.objects.bulk_create(_recipients(month), batch_size=2000)
        rows = len(payments) + len(recipients)
        audit_record(
            actor=None,
            action="dashboards.refresh",
            object_type="dashboards.month",
            object_id=month.isoformat(),
            data={"trigger": trigger, "rows": rows},
        )
    return rows


def recent_months(*, today: dt.date | None = None, count: int = 12) -> list[dt.date]:
    last = month_start(today or timezone.localdate())
    return [add_months(last, -i) for i in range(count - 1, -1, -1)]


def refresh(*, months: list[dt.date], trigger: str) -> list[RefreshRun]:
    """Refresh each month in its own transaction and record the outcome; never raises."""
    runs = []
    for month in months:
        started = timezone.now()
        try:
            rows = refresh_month(month=month, trigger=trigger)
            status, error = RefreshRun.Status.DONE, ""
        except Exception as exc:
            log.exception("dashboards refresh of %s failed", month)
            rows, status, error = 0, RefreshRun.Status.FAILED, f"{type(exc).__name__}: {exc}"[:300]
        runs.append(
            RefreshRun.objects.create(
                month=month_start(month),
                trigger=trigger,
                status=status,
                rows=rows,
                error=error,
                started_at=started,
                finished_at=timezone.now(),
            )
        )
    return runs
