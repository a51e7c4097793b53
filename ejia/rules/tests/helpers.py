"""Small builders shared by the rule tests."""

from __future__ import annotations

import datetime as dt

from ejia.rules import CriterionSpec, Engine, HouseholdInput, ProgrammeSpec
from ejia.rules.samples import binzhou_standards

ON = dt.date(2026, 11, 28)


def household_programme(expr: str, *, amount: str | None = None, code: str = "p") -> ProgrammeSpec:
    return ProgrammeSpec(
        code=code, name="测试项目", target="household", criteria=(CriterionSpec("条件", expr),), amount=amount
    )


def member_programme(expr: str, *, amount: str | None = None, code: str = "m") -> ProgrammeSpec:
    return ProgrammeSpec(
        code=code, name="测试成员项目", target="member", criteria=(CriterionSpec("条件", expr),), amount=amount
    )


def rural(facts=None, members=None) -> HouseholdInput:
    return HouseholdInput(
        facts=dict(facts or {}), members=list(members or []), standards=binzhou_standards(urban=False)
    )


def urban(facts=None, members=None) -> HouseholdInput:
    return HouseholdInput(facts=dict(facts or {}), members=list(members or []), standards=binzhou_standards(urban=True))


def value_of(expr: str, household: HouseholdInput, *, on: dt.date = ON):
    """The three-valued result of one household criterion: True, False or None."""
    result = Engine([household_programme(expr)]).evaluate(household, on=on)["p"]
    return {"pass": True, "fail": False, "unknown": None}[result.criteria[0].result]
