"""Data scope: the one place that decides what a staff member may read.

Scope = the unit's division subtree. Department staff see their department's work within
their unit's jurisdiction (a city-level department: the whole city; a county office: that
county). Every selector that returns user-visible rows filters through these helpers.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from ejia.accounts.models import Division, Role


@dataclass(frozen=True, slots=True)
class Scope:
    division_path: str | None  # None: no data at all
    division_name: str = ""
    department_id: int | None = None  # set for department staff
    department_name: str = ""

    @property
    def empty(self) -> bool:
        return self.division_path is None

    def describe(self) -> str:
        if self.empty:
            return "无数据权限"
        text = f"{self.division_name}及下辖区域"
        if self.department_id:
            text = f"{self.department_name}：{text}内转办本部门的事项"
        return text


NO_SCOPE = Scope(division_path=None)


def scope_for(user) -> Scope:
    """The user's scope, computed once per user object (one request's `request.user`): the
    policy asks for it for every capability a page and its navigation check. A changed unit
    or deactivation on the same object is seen (the memo is keyed by both)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return NO_SCOPE
    key = (user.unit_id, user.is_active)
    memo = getattr(user, "_ejia_scope", None)
    if memo is not None and memo[0] == key:
        return memo[1]
    scope = _scope_of(user)
    user._ejia_scope = (key, scope)
    return scope


def _scope_of(user) -> Scope:
    unit = user.unit
    if unit is None:
        return NO_SCOPE
    division = unit.division
    if unit.department_id:
        return Scope(
            division_path=division.path,
            division_name=division.full_name,
            department_id=unit.department_id,
            department_name=unit.department.name,
        )
    return Scope(division_path=division.path, division_name=division.full_name)


def division_q(user, field: str = "division") -> Q:
    """A Q object restricting `field` (a FK to Division) to the user's subtree."""
    scope = scope_for(user)
    if scope.empty:
        return Q(pk__in=[])
    return Q(**{f"{field}__path__startswith": scope.division_path})


def filter_by_division(qs: QuerySet, user, field: str = "division") -> QuerySet:
    return qs.filter(division_q(user, field))


def filter_by_department(
    qs: QuerySet, user, *, department_field: str = "department", division_field: str = "division"
) -> QuerySet:
    """Rows routed to the user's department inside the user's jurisdiction. Staff of
    assistance centres (no department) see every department's rows in their subtree."""
    scope = scope_for(user)
    if scope.empty:
        return qs.none()
    qs = qs.filter(**{f"{division_field}__path__startswith": scope.division_path})
    if scope.department_id:
        qs = qs.filter(**{f"{department_field}_id": scope.department_id})
    return qs


def can_see_division(user, division: Division) -> bool:
    scope = scope_for(user)
    return not scope.empty and division.path.startswith(scope.division_path)


def in_city_of(user, division: Division) -> bool:
    """全市通办: any window or station of the city accepts a resident of the city. The city is
    the first four digits of the division code (3716 滨州)."""
    unit = getattr(user, "unit", None)
    return bool(unit and unit.division.code[:4] == division.code[:4])


def require_division(user, division: Division) -> None:
    if not can_see_division(user, division):
        raise PermissionDenied("该对象不在您的数据权限范围内。")


def require_role(user, *roles: str) -> None:
    if not user.is_authenticated or not user.has_role(*roles):
        labels = "、".join(str(Role(r).label) for r in roles)
        raise PermissionDenied(f"此操作需要以下角色之一：{labels}。")


def divisions_in_scope(user) -> QuerySet:
    scope = scope_for(user)
    if scope.empty:
        return Division.objects.none()
    return Division.objects.filter(path__startswith=scope.division_path)
