"""Reads for the staff home page and the account administration pages."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from ejia.accounts.models import Division, OrgUnit, Role, StaffRole, User
from ejia.accounts.policies import Capability, get_or_refuse, scoped
from ejia.accounts.scope import Scope, divisions_in_scope, scope_for


@dataclass
class HomeSummary:
    user: User
    scope: Scope
    roles: list[str]
    counties: int
    townships: int
    villages: int


def home_summary(*, user: User) -> HomeSummary:
    counts = dict.fromkeys(Division.Level.values, 0)
    # Counted in the database: a city centre's area is thousands of villages.
    for row in divisions_in_scope(user).order_by().values("level").annotate(n=Count("pk")):
        counts[row["level"]] = row["n"]
    return HomeSummary(
        user=user,
        scope=scope_for(user),
        # The roles the policy already read for this request (User.role_codes), as labels.
        roles=[str(Role(code).label) for code in sorted(user.role_codes) if code in Role.values],
        counties=counts["county"],
        townships=counts["township"],
        villages=counts["village"],
    )


# ---------------------------------------------------------------- account administration
# The administrator's area is the policy's ACCOUNTS_ADMIN reach: staff whose unit lies in it,
# and the units in it. Nothing here reads a case or a household.


def staff_for_admin(
    *, user: User, query: str = "", unit_kind: str = "", role: str = "", active: str = "", unit_id: int | None = None
) -> QuerySet[User]:
    """Staff accounts in the administrator's area, filtered as on the list page; `active` is
    "1" (active), "0" (deactivated) or "" (both)."""
    qs = scoped(User.objects.all(), user, Capability.ACCOUNTS_ADMIN, division="unit__division")
    query = query.strip()
    if query:
        qs = qs.filter(Q(username__icontains=query) | Q(display_name__icontains=query))
    if unit_kind:
        qs = qs.filter(unit__kind=unit_kind)
    if role:
        qs = qs.filter(Exists(StaffRole.objects.filter(user=OuterRef("pk"), role=role)))
    if active in ("0", "1"):
        qs = qs.filter(is_active=active == "1")
    if unit_id:
        qs = qs.filter(unit_id=unit_id)
    return (
        qs.select_related("unit__division")
        .prefetch_related(Prefetch("roles", queryset=StaffRole.objects.order_by("role")))
        .order_by("unit__division__code", "unit__kind", "username")
    )


def staff_get_for_admin(*, user: User, user_id: int) -> User:
    """One staff account in the administrator's area: 403 outside it, 404 if there is none."""
    qs = scoped(
        User.objects.select_related("unit__division", "unit__department"),
        user,
        Capability.ACCOUNTS_ADMIN,
        division="unit__division",
    )
    return get_or_refuse(qs, exists=lambda: User.objects.filter(pk=user_id).exists(), what="该工作人员账号", pk=user_id)


def units_for_admin(*, user: User) -> QuerySet[OrgUnit]:
    """The units an administrator may post staff to: every unit in their area."""
    return scoped(OrgUnit.objects.all(), user, Capability.ACCOUNTS_ADMIN, division="division").select_related(
        "division", "department"
    )


def unit_list_for_admin(*, user: User, query: str = "", kind: str = "", staffed: bool = False) -> QuerySet[OrgUnit]:
    """Units in the area, as on the units page; `staffed`: only units with an account."""
    qs = _unit_search(units_for_admin(user=user), query)
    if kind:
        qs = qs.filter(kind=kind)
    if staffed:
        qs = qs.filter(Exists(User.objects.filter(unit=OuterRef("pk"))))
    return qs.order_by("division__code", "kind", "department__sort_order")


def unit_staff_counts(units) -> dict[int, tuple[int, int]]:
    """(active, deactivated) accounts per unit, for one page of units (counting over the whole
    area would group five thousand units for a page of fifty)."""
    rows = (
        User.objects.filter(unit__in=[u.pk for u in units])
        .values("unit_id")
        .annotate(active=Count("pk", filter=Q(is_active=True)), inactive=Count("pk", filter=Q(is_active=False)))
    )
    return {row["unit_id"]: (row["active"], row["inactive"]) for row in rows}


UNIT_CHOICES_LIMIT = 30


def unit_choices_for_admin(*, user: User, query: str = "", kind: str = "", keep: int | None = None) -> list[OrgUnit]:
    """Units to pick from on the account form: the first matches for what was typed (name,
    place name or division code), with the unit already chosen (`keep`) always first."""
    base = units_for_admin(user=user)
    qs = _unit_search(base, query)
    if kind:
        qs = qs.filter(kind=kind)
    found = list(qs.order_by("division__code", "kind", "department__sort_order")[:UNIT_CHOICES_LIMIT])
    if keep and all(unit.pk != keep for unit in found):
        kept = base.filter(pk=keep).first()
        if kept is not None:
            found.insert(0, kept)
    return found


def _unit_search(qs: QuerySet[OrgUnit], query: str) -> QuerySet[OrgUnit]:
    query = query.strip()
    if not query:
        return qs
    if query.isdigit():
        return qs.filter(division__code__startswith=query)
    return qs.filter(Q(name__icontains=query) | Q(division__full_name__icontains=query))
