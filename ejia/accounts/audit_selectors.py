"""Reads for the auditor's pages and the access log's seal status, scoped to the reader's area."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone

from ejia.accounts.scope import scope_for
from ejia.core.audit import PURGE_ACTION, SEAL_ACTION
from ejia.core.models import AccessEvent, AuditEvent


def in_area(qs, user):
    """Events of actors in the user's area; system events (no actor) and events of city-level
    staff or clients only for a user at city level."""
    scope = scope_for(user)
    if scope.empty:
        return qs.none()
    if "/" in scope.division_path.rstrip("/"):
        return qs.filter(actor__unit__division__path__startswith=scope.division_path)
    return qs


def audit_events_for_user(*, user):
    return in_area(AuditEvent.objects.select_related("actor").order_by("-seq"), user)


def access_events_for_user(*, user):
    """API calls in the auditor's area: a client acts as its service account, whose unit places it."""
    return in_area(AccessEvent.objects.order_by("-id"), user)


def seal_alert_minutes() -> int:
    return int(settings.EJIA_ACCESS_SEAL_ALERT_MINUTES)


def stale_unsealed_count(*, user, now: dt.datetime | None = None) -> int:
    """Access events in the user's area still unsealed EJIA_ACCESS_SEAL_ALERT_MINUTES after they
    were recorded: the seal job (every minute) has stopped. One query on the unsealed rows."""
    since = (now or timezone.now()) - dt.timedelta(minutes=seal_alert_minutes())
    return in_area(AccessEvent.objects.filter(sealed_seq__isnull=True, created_at__lt=since), user).count()


@dataclass(frozen=True)
class SealStatus:
    minutes: int  # the alert threshold
    unsealed: int  # unsealed access events in the area
    stale: int  # of which older than the threshold
    oldest_unsealed: dt.datetime | None
    last_seal: AuditEvent | None  # the newest seal event (the job is platform-wide)
    last_purge: AuditEvent | None
    retention_days: int

    @property
    def stalled(self) -> bool:
        return self.stale > 0


def seal_status(*, user, now: dt.datetime | None = None) -> SealStatus:
    minutes = seal_alert_minutes()
    since = (now or timezone.now()) - dt.timedelta(minutes=minutes)
    counts = in_area(AccessEvent.objects.filter(sealed_seq__isnull=True), user).aggregate(
        unsealed=Count("id"), stale=Count("id", filter=Q(created_at__lt=since)), oldest=Min("created_at")
    )
    return SealStatus(
        minutes=minutes,
        unsealed=counts["unsealed"],
        stale=counts["stale"],
        oldest_unsealed=counts["oldest"],
        last_seal=AuditEvent.objects.filter(action=SEAL_ACTION).order_by("-seq").first(),
        last_purge=AuditEvent.objects.filter(action=PURGE_ACTION).order_by("-seq").first(),
        retention_days=int(settings.EJIA_ACCESS_RETENTION_DAYS),
    )
