"""Reads of leads and scans, always through the access policy."""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from ejia.accounts.models import Division
from ejia.accounts.policies import Capability, get_or_refuse, require, scoped
from ejia.accounts.scope import scope_for
from ejia.discovery.models import OPEN_STATUSES, Lead, ScanRun

SHOW = {"open": OPEN_STATUSES, "closed": ("applied", "declined", "not_eligible", "lapsed")}


def _base() -> QuerySet:
    return Lead.objects.select_related(
        "division", "division__parent", "household", "programme", "programme__department", "assigned_to"
    )


def _likely_first(qs: QuerySet) -> QuerySet:
    return qs.annotate(
        rank=Case(When(likelihood="likely", then=Value(0)), default=Value(1), output_field=IntegerField())
    ).order_by("rank", "division__code", "-created_at", "pk")


def leads_for_user(user, *, show: str = "open") -> QuerySet:
    """The leads the user may see (township, village, or their own), open or closed."""
    require(user, Capability.LEAD_READ)
    qs = scoped(_base(), user, Capability.LEAD_READ, division="division")
    return _likely_first(qs.filter(status__in=SHOW.get(show, OPEN_STATUSES)))


def visits_for_user(user) -> QuerySet:
    """我的走访: open leads assigned to the user (and reports they sent that no one has taken)."""
    require(user, Capability.LEAD_VISIT)
    from django.db.models import Q

    qs = _base().filter(status__in=OPEN_STATUSES).filter(Q(assigned_to=user) | Q(reported_by=user, assigned_to=None))
    return _likely_first(scoped(qs, user, Capability.LEAD_VISIT, division="division"))


def lead_get_for_user(*, user, public_id) -> Lead:
    require(user, Capability.LEAD_READ)
    return get_or_refuse(
        scoped(_base(), user, Capability.LEAD_READ, division="division"),
        exists=lambda: Lead.objects.filter(public_id=public_id).exists(),
        what="该线索",
        public_id=public_id,
    )


def scan_areas_for_user(user) -> list[Division]:
    """The areas the user may scan: their own county (or every county and the city for the city centre)."""
    require(user, Capability.DISCOVERY_SCAN)
    scope = scope_for(user)
    if scope.empty:
        return []
    return list(
        Division.objects.filter(
            level__in=[Division.Level.CITY, Division.Level.COUNTY], path__startswith=scope.division_path
        ).order_by("level", "code")
    )


def scans_for_user(user, *, limit: int = 10) -> list[ScanRun]:
    scope = scope_for(user)
    if scope.empty:
        return []
    return list(
        ScanRun.objects.filter(area__path__startswith=scope.division_path).select_related("area", "started_by")[:limit]
    )


def report_villages_for_user(user) -> QuerySet:
    from ejia.accounts.scope import divisions_in_scope

    require(user, Capability.LEAD_REPORT)
    return divisions_in_scope(user).filter(level=Division.Level.VILLAGE).order_by("code")
