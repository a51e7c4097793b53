"""Reads for the pay screens, the review queue and the household panel, scoped to the user."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ejia.accounts.models import Division
from ejia.accounts.policies import Capability, allows, get_or_refuse, scoped
from ejia.accounts.scope import can_see_division, divisions_in_scope
from ejia.disbursement.models import (
    AlertScan,
    ChangeReport,
    Delivery,
    DynamicAlert,
    Entitlement,
    Notice,
    PaymentBatch,
    PaymentItem,
    PaymentLine,
    Recovery,
    month_start,
)
from ejia.disbursement.services import LIVE


def batches_for_user(*, user) -> QuerySet[PaymentBatch]:
    return scoped(
        PaymentBatch.objects.select_related("county", "prepared_by", "released_by"),
        user,
        Capability.PAYMENT_MANAGE,
        division="county",
    )


def batch_get_for_user(*, user, public_id) -> PaymentBatch:
    return get_or_refuse(
        batches_for_user(user=user),
        exists=lambda: PaymentBatch.objects.filter(public_id=public_id).exists(),
        what=_("该发放批次"),
        public_id=public_id,
    )


def counties_for_user(*, user) -> list[Division]:
    """The counties the user may build batches for: their own, or all seven for city staff."""
    scope_divisions = divisions_in_scope(user).filter(level=Division.Level.COUNTY)
    unit_division = user.unit.division if getattr(user, "unit", None) else None
    if unit_division is not None and unit_division.level in (Division.Level.TOWNSHIP, Division.Level.VILLAGE):
        return []
    return list(scope_divisions.order_by("code"))


def reviews_due_for_user(*, user, on: dt.date | None = None, window_days: int = 31) -> list[Entitlement]:
    """Entitlements whose periodic review falls due within the window, in the user's area."""
    on = on or timezone.localdate()
    qs = Entitlement.objects.filter(
        status__in=LIVE, next_review_on__isnull=False, next_review_on__lte=on + dt.timedelta(days=window_days)
    ).select_related("household__division", "programme", "person")
    qs = scoped(qs, user, Capability.ENTITLEMENT_MANAGE, division="household__division")
    return list(qs.order_by("next_review_on", "pk")[:500])


def change_reports_for_user(*, user, open_only: bool = True) -> list[ChangeReport]:
    qs = ChangeReport.objects.select_related("household__division", "person")
    qs = scoped(qs, user, Capability.ENTITLEMENT_MANAGE, division="household__division")
    if open_only:
        qs = qs.exclude(status=ChangeReport.Status.DECIDED)
    return list(qs.order_by("-created_at")[:200])


def change_report_get_for_user(*, user, public_id) -> ChangeReport:
    return get_or_refuse(
        scoped(
            ChangeReport.objects.select_related("household__division", "person"),
            user,
            Capability.ENTITLEMENT_MANAGE,
            division="household__division",
        ),
        exists=lambda: ChangeReport.objects.filter(public_id=public_id).exists(),
        what=_("该变更报告"),
        public_id=public_id,
    )


@dataclass
class EntitlementsPanel:
    entitlements: list[Entitlement]
    monthly_total_fen: int
    payments: list[PaymentLine] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)


def household_entitlements_panel(*, user, household, on: dt.date | None = None) -> EntitlementsPanel:
    """What the registry's household page shows in `disbursement/_household_entitlements.html`."""
    readers = allows(user, Capability.ENTITLEMENT_MANAGE) or allows(user, Capability.HOUSEHOLD_READ)
    if not (readers and can_see_division(user, household.division)):
        raise PermissionDenied("该家庭不在您的数据权限范围内。")
    month = month_start(on or timezone.localdate())
    entitlements = list(
        Entitlement.objects.filter(household=household)
        .select_related("programme", "person")
        .order_by("-start_month", "programme__sort_order", "pk")[:100]
    )
    total = sum(e.amount_fen for e in entitlements if e.pays_in(month))
    payments = list(
        PaymentLine.objects.filter(household=household)
        .select_related("batch", "reissued_to__batch")
        .prefetch_related(
            Prefetch("items", queryset=PaymentItem.objects.select_related("entitlement__programme").order_by("period"))
        )
        .order_by("-batch__period", "-pk")[:24]
    )
    deliveries = list(
        Delivery.objects.filter(entitlement__household=household).select_related("entitlement__programme")[:20]
    )
    notices = list(Notice.objects.filter(household=household)[:10])
    return EntitlementsPanel(entitlements, total, payments, deliveries, notices)


def _in_area(qs, user):
    return scoped(qs, user, Capability.ENTITLEMENT_MANAGE, division="household__division")


def alerts_for_user(*, user, household=None) -> list[DynamicAlert]:
    """Open 动态监测 alerts in the user's area, the nearest deadline first."""
    qs = _in_area(
        DynamicAlert.objects.filter(status=DynamicAlert.Status.OPEN).select_related("household__division", "person"),
        user,
    )
    if household is not None:
        qs = qs.filter(household=household)
    return list(qs.order_by("due_on", "pk")[:300])


def alert_get_for_user(*, user, public_id) -> DynamicAlert:
    return get_or_refuse(
        _in_area(DynamicAlert.objects.select_related("household__division", "person", "change_report"), user),
        exists=lambda: DynamicAlert.objects.filter(public_id=public_id).exists(),
        what=_("该预警"),
        public_id=public_id,
    )


def recoveries_for_user(*, user, household=None) -> list[Recovery]:
    qs = _in_area(
        Recovery.objects.filter(status=Recovery.Status.OPEN).select_related(
            "household__division", "person", "item__entitlement__programme"
        ),
        user,
    )
    if household is not None:
        qs = qs.filter(household=household)
    return list(qs.order_by("period", "pk")[:300])


def recovery_get_for_user(*, user, public_id) -> Recovery:
    return get_or_refuse(
        _in_area(Recovery.objects.select_related("household__division", "person"), user),
        exists=lambda: Recovery.objects.filter(public_id=public_id).exists(),
        what=_("该追回事项"),
        public_id=public_id,
    )


def failed_scans_for_user(*, user) -> list[AlertScan]:
    """Department-file comparisons that failed: everyone who handles 动态管理 sees them (they name
    a file, no person), until a rerun succeeds."""
    if not allows(user, Capability.ENTITLEMENT_MANAGE):
        return []
    return list(AlertScan.objects.filter(status=AlertScan.Status.FAILED).order_by("-created_at")[:50])


def scan_get_for_user(*, user, public_id) -> AlertScan:
    if not allows(user, Capability.ENTITLEMENT_MANAGE):
        raise PermissionDenied
    return get_or_refuse(
        AlertScan.objects.all(),
        exists=lambda: AlertScan.objects.filter(public_id=public_id).exists(),
        what=_("该比对"),
        public_id=public_id,
    )


def change_reports_for_household(*, user, household) -> list[ChangeReport]:
    qs = _in_area(ChangeReport.objects.filter(household=household).select_related("person"), user)
    return list(qs.order_by("-created_at")[:20])


# Lines of a batch still being built or waiting for its second person may change or vanish;
# a household is shown only what was released to the bank.
RELEASED_BATCH_STATUSES = (
    PaymentBatch.Status.RELEASED,
    PaymentBatch.Status.EXPORTED,
    PaymentBatch.Status.RECONCILED,
)


def payment_lines_for_household(household) -> QuerySet[PaymentLine]:
    """The household's payment lines of released batches with their items (programme and month),
    newest month first (the citizen's household, resolved by its caller)."""
    # What the answer names of an item: its month, amount and programme (not the programme's
    # texts and lists, which made most of the columns the query read and converted).
    items = (
        PaymentItem.objects.select_related("entitlement__programme")
        .only(
            "line",
            "period",
            "amount_fen",
            "entitlement__programme__code",
            "entitlement__programme__name",
        )
        .order_by("period", "pk")
    )
    return (
        PaymentLine.objects.filter(household=household, batch__status__in=RELEASED_BATCH_STATUSES)
        .select_related("batch")
        .prefetch_related(Prefetch("items", queryset=items))
        .order_by("-batch__period", "kind", "pk")
    )
