"""Reads of the registry, always through the viewer's data scope (ejia.accounts.scope)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ejia.accounts.policies import Capability, get_or_refuse, scoped
from ejia.core import idnumber
from ejia.registry.models import BenefitRecord, Household, HouseholdStatus, Membership, MemberStatus, Person
from ejia.registry.services import id_index

# Case reference numbers: county code + date + sequence, written with hyphens (see cases.models).
REFERENCE_RE = re.compile(r"^\s*(\d{6})-?(\d{8})-?(\d{4})\s*$")


def households_for_user(*, user, capability: Capability = Capability.HOUSEHOLD_READ) -> QuerySet[Household]:
    return scoped(Household.objects.select_related("division"), user, capability, division="division")


def household_get_for_user(*, user, public_id, capability: Capability = Capability.HOUSEHOLD_READ) -> Household:
    """The household if the viewer may read it: 404 if unknown, 403 if out of reach."""
    visible = scoped(
        Household.objects.select_related("division__parent__parent"), user, capability, division="division"
    )
    return get_or_refuse(
        visible,
        exists=lambda: Household.objects.filter(public_id=public_id).exists(),
        what=_("该家庭"),
        public_id=public_id,
    )


def person_by_id_number(id_number: str) -> Person | None:
    """Exact lookup through the blind index (unscoped: for services and intake pre-fill only)."""
    try:
        parsed = idnumber.parse(id_number)
    except idnumber.InvalidIdNumber:
        return None
    return Person.objects.filter(id_number_index=id_index(parsed.number)).first()


def current_membership(person: Person) -> Membership | None:
    return person.memberships.filter(date_out__isnull=True).select_related("household__division").first()


@dataclass
class HouseholdSearch:
    query: str
    kind: str = ""  # "id" | "reference" | ""
    error: str = ""
    households: list[Household] = field(default_factory=list)
    out_of_scope: bool = False


def household_search(*, user, query: str) -> HouseholdSearch:
    """Find households by exact ID number (any current member) or by a case reference number."""
    query = (query or "").strip()
    result = HouseholdSearch(query=query)
    if not query:
        return result
    # An 18-digit reference typed without hyphens can look like an ID number: try both.
    ref = REFERENCE_RE.match(query)
    matches = Household.objects.none()
    if ref:
        result.kind = "reference"
        matches = Household.objects.filter(cases__reference="-".join(ref.groups()))
    try:
        parsed = idnumber.parse(query)
    except idnumber.InvalidIdNumber as exc:
        if not ref:
            result.error = exc.message
            return result
    else:
        result.kind = "id" if not ref or not matches.exists() else result.kind
        matches = matches | Household.objects.filter(
            memberships__person__id_number_index=id_index(parsed.number), memberships__date_out__isnull=True
        )
    matches = matches.distinct()
    visible = list(scoped(matches, user, Capability.HOUSEHOLD_READ, division="division").select_related("division"))
    result.households = visible
    # Say that something exists elsewhere without showing it: the clerk can refer the citizen on.
    result.out_of_scope = not visible and matches.exists()
    return result


@dataclass
class MemberRow:
    membership: Membership
    person: Person
    age: int
    statuses: list[MemberStatus]


@dataclass
class HouseholdOverview:
    household: Household
    on: dt.date
    members: list[MemberRow]
    former_members: list[Membership]
    statuses: list[HouseholdStatus]  # every status the household ever held, newest first
    active_statuses: list[HouseholdStatus]  # those it holds today (an end ahead: still held)
    benefits: list[BenefitRecord]
    benefit_total_fen: int
    departments: int
    cases: list


def household_overview(*, user, household: Household) -> HouseholdOverview:
    """The 360° view: members, statuses, every benefit from every department, and the cases
    the viewer may open."""
    household = household_get_for_user(user=user, public_id=household.public_id)
    today = timezone.localdate()
    memberships = list(household.memberships.select_related("person").order_by("relation", "person__birth_date"))
    member_statuses: dict[int, list[MemberStatus]] = {}
    for status in MemberStatus.objects.filter(household=household).order_by("-start"):
        if status.active_on(today):
            member_statuses.setdefault(status.person_id, []).append(status)
    members = [
        MemberRow(m, m.person, m.person.age_on(today), member_statuses.get(m.person_id, []))
        for m in memberships
        if m.date_out is None
    ]
    benefits = list(
        household.benefits.select_related("programme", "department", "person").order_by("-period_start", "-pk")
    )
    cases_manager = getattr(household, "cases", None)
    cases = (
        list(scoped(cases_manager.all(), user, Capability.CASE_READ, division="division").order_by("-created_at"))
        if cases_manager is not None
        else []
    )
    statuses = list(household.statuses.order_by("-start", "-pk"))
    return HouseholdOverview(
        household=household,
        on=today,
        members=members,
        former_members=[m for m in memberships if m.date_out is not None],
        statuses=statuses,
        active_statuses=[s for s in statuses if s.active_on(today)],
        benefits=benefits,
        benefit_total_fen=sum(b.amount_fen for b in benefits),
        departments=len({b.department_id for b in benefits}),
        cases=cases,
    )
