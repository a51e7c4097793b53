"""Reads for the staff home page."""

from __future__ import annotations

from dataclasses import dataclass

from ejia.accounts.models import Division, User
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
    for level in divisions_in_scope(user).values_list("level", flat=True):
        counts[level] += 1
    return HomeSummary(
        user=user,
        scope=scope_for(user),
        roles=[r.get_role_display() for r in user.roles.all()],
        counties=counts["county"],
        townships=counts["township"],
        villages=counts["village"],
    )
