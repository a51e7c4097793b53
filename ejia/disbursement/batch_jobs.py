"""When a county's batch is built: the months that still owe money, and the build as a
background job (django-tasks, queue `bulk`) that the batch page follows and resumes."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Exists, Min, OuterRef, Q
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.core.audit import audit_record
from ejia.disbursement.batches import _county, _require_batch_actor, batch_build, batch_get_or_create
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentItem, PaymentLine, add_months
from ejia.disbursement.services import entitlements_close_elapsed

LOOK_BACK_MONTHS = 24


def months_to_build(county: Division, *, today: dt.date) -> list[dt.date]:
    """Every month up to next month that has entitlements not yet paid for it and no finished
    batch — a month skipped, or before the county's first batch, is offered, never lost — and
    every later month a failed line was named to be re-issued in."""
    code = county.code[:6]
    live = Entitlement.objects.filter(county_code=code).exclude(status=Entitlement.Status.SUSPENDED)
    finished_batches = PaymentBatch.objects.filter(county=county).exclude(status=PaymentBatch.Status.BUILDING)
    last = add_months(today.replace(day=1), 1)
    reissues = set(
        PaymentLine.objects.filter(
            batch__county=county, reissue_requested=True, reissued_to__isnull=True, reissue_period__gt=last
        )
        .exclude(reissue_period__in=finished_batches.values("period"))
        .values_list("reissue_period", flat=True)
    )
    first = live.aggregate(first=Min("start_month"))["first"]
    if first is None:
        return sorted(reissues)
    month = max(first, add_months(last, -LOOK_BACK_MONTHS))
    finished = set(finished_batches.filter(period__gte=month).values_list("period", flat=True))
    months = sorted(reissues)
    while month <= last:
        if month not in finished:
            unpaid = (
                live.filter(start_month__lte=month)
                .filter(Q(end_month__isnull=True) | Q(end_month__gte=month))
                .exclude(Exists(PaymentItem.objects.filter(entitlement=OuterRef("pk"), period=month)))
            )
            if unpaid.exists():
                months.append(month)
        month = add_months(month, 1)
    return sorted(months)


# A building batch whose row has not moved for this long has lost its worker (each chunk of
# 10,000 takes about a second); the page then offers to resume it.
STALE_AFTER = dt.timedelta(minutes=2)


def batch_build_start(*, actor, county: Division | str, period: dt.date) -> PaymentBatch:
    """Create the county's batch for the month (or find it) and queue its build on the `bulk`
    queue; the page follows the progress. Starting again resumes a build whose worker died:
    the build continues from its cursor and never writes anything twice."""
    county = _county(county)
    _require_batch_actor(actor, county)
    # Entitlements whose last month came before this one end now, each gradual exit with its
    # written notice (渐退期届满); the batch pays by months either way.
    entitlements_close_elapsed(on=period)
    batch = batch_get_or_create(actor=actor, county=county, period=period)
    if batch.status != PaymentBatch.Status.BUILDING:
        return batch
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != PaymentBatch.Status.BUILDING:
            return locked
        PaymentBatch.objects.filter(pk=locked.pk).update(build_error="", updated_at=timezone.now())
        audit_record(
            actor=actor,
            action="disbursement.batch_build_queued",
            obj=locked,
            data={"cursor": locked.build_cursor, "done": locked.build_done, "total": locked.build_total},
        )
    from ejia.disbursement.tasks import run_batch_build

    run_batch_build.enqueue(batch.pk, actor.pk)
    return PaymentBatch.objects.select_related("county").get(pk=batch.pk)


def batch_build_run(*, batch_id: int, actor_id: int) -> PaymentBatch:
    """The task body: build as the staff member who queued it. A failure is written on the
    batch for the page (the batch stays 生成中, resumable by anyone allowed) and raised for the
    worker's record."""
    from ejia.accounts.models import User

    batch = PaymentBatch.objects.select_related("county").get(pk=batch_id)
    actor = User.objects.get(pk=actor_id)
    try:
        return batch_build(actor=actor, county=batch.county, period=batch.period)
    except Exception as exc:
        message = str(exc) if isinstance(exc, DisbursementError) else f"生成出错（{type(exc).__name__}）"
        with transaction.atomic():
            PaymentBatch.objects.filter(pk=batch_id).update(build_error=message[:300], updated_at=timezone.now())
            audit_record(actor=actor, action="disbursement.batch_build_failed", obj=batch, data={"error": message})
        raise


def batch_build_stalled(batch: PaymentBatch, *, now=None) -> bool:
    now = now or timezone.now()
    return batch.status == PaymentBatch.Status.BUILDING and (
        bool(batch.build_error) or batch.updated_at < now - STALE_AFTER
    )
