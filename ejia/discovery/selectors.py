"""Reads of leads and scans, always through the access policy."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import BigIntegerField, Case, Count, F, IntegerField, Min, Q, QuerySet, Sum, Value, When
from django.db.models.functions import Coalesce

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


# A visit is to a family, so the visit list and the township's list show one card per household
# (a grid worker's report, which names no registered household, is a card of its own). Cards
# are ranked by `CARD_ORDER`: reports first (someone saw the hardship), then families with a
# likely lead before families with only leads to check; within those, more programmes first,
# then the higher estimated monthly amount (a yearly or one-off amount counts as a twelfth),
# then by village and household, so that the order is stable.
TIER = Case(
    When(source="report", then=Value(0)),
    When(likelihood="likely", then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)
MONTHLY_FEN = Case(
    When(programme__amount_period="month", then=Coalesce(F("amount_fen"), Value(0))),
    When(programme__amount_period__in=("year", "once"), then=Coalesce(F("amount_fen"), Value(0)) / Value(12)),
    default=Value(0),
    output_field=BigIntegerField(),
)
# Households by their pk; a report (no household) by minus its own pk.
CARD_KEY = Case(When(household__isnull=True, then=-F("pk")), default=F("household_id"), output_field=BigIntegerField())
CARD_ORDER = ("tier", "-programmes", "-monthly_fen", "village", "card")


@dataclass(frozen=True)
class HouseholdCard:
    """One family on the visit list: its leads in the list's scope, best first."""

    leads: tuple[Lead, ...]
    tier: int
    monthly_fen: int

    @property
    def lead(self) -> Lead:
        return self.leads[0]

    @property
    def programmes(self) -> list[Lead]:
        return [lead for lead in self.leads if lead.programme_id is not None]

    @property
    def likelihood(self) -> str:
        return self.lead.likelihood


def cards(leads: QuerySet) -> QuerySet:
    """The household cards of a lead queryset, ranked (rows: card, tier, programmes,
    monthly_fen, village); page through it, then `cards_of` the page."""
    return (
        leads.order_by()
        .annotate(card=CARD_KEY)
        .values("card")
        .annotate(
            tier=Min(TIER),
            programmes=Count("pk"),
            monthly_fen=Sum(MONTHLY_FEN),
            village=Min("division__code"),
        )
        .order_by(*CARD_ORDER)
    )


def cards_of(leads: QuerySet, rows) -> list[HouseholdCard]:
    """The cards of `rows` (from `cards`), with their leads from the same queryset."""
    rows = list(rows)
    households = [row["card"] for row in rows if row["card"] > 0]
    reports = [-row["card"] for row in rows if row["card"] < 0]
    by_card: dict[int, list[Lead]] = {}
    for lead in leads.filter(Q(household_id__in=households) | Q(pk__in=reports)):
        by_card.setdefault(lead.household_id or -lead.pk, []).append(lead)

    def best_first(lead: Lead) -> tuple:
        monthly = lead.amount_fen or 0
        if lead.programme_id and lead.programme.amount_period != "month":
            monthly = monthly // 12 if lead.programme.amount_period else 0
        return (0 if lead.likelihood == "likely" else 1, -monthly, lead.programme.sort_order if lead.programme else 0)

    return [
        HouseholdCard(
            leads=tuple(sorted(by_card[row["card"]], key=best_first)),
            tier=row["tier"],
            monthly_fen=row["monthly_fen"] or 0,
        )
        for row in rows
        if row["card"] in by_card
    ]


def household_leads(lead: Lead, user) -> list[Lead]:
    """The other leads of the lead's family the user may see, open ones first."""
    if lead.household_id is None:
        return []
    qs = scoped(_base(), user, Capability.LEAD_READ, division="division").filter(household_id=lead.household_id)
    return list(_likely_first(qs.exclude(pk=lead.pk).filter(status__in=OPEN_STATUSES)))


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


def lead_last_found(lead: Lead) -> ScanRun | None:
    """The last scan that found the lead. A scan writes only the leads it explains (`last_run`:
    created, rewritten, or found the same); a lead of a household it did not explain again is
    left as it is, and a finished scan leaves open only the leads it found. So: the latest
    finished scan of an area holding the lead's village, from `last_run` on, that finished while
    the lead was open (before it was closed, for a closed lead); else `last_run`."""
    if lead.last_run_id is None:
        return None
    parts = lead.division.path.rstrip("/").split("/")
    areas = ["/".join(parts[: i + 1]) + "/" for i in range(len(parts))]
    runs = ScanRun.objects.filter(status=ScanRun.Status.FINISHED, pk__gte=lead.last_run_id, area__path__in=areas)
    if lead.closed_at is not None:
        runs = runs.filter(finished_at__lte=lead.closed_at)
    return runs.order_by("-pk").first() or lead.last_run
