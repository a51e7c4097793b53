"""Turn caller-supplied facts into the values rules see: typed, with derived facts computed."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .errors import RuleError
from .facts import FACTS, HOUSEHOLD_FACTS, MEMBER_FACTS, Fact
from .spec import HouseholdInput

STD_PREFIX = "standard:"


def birth_date_from_id(id_number: Any) -> dt.date | None:
    """Characters 7–14 of an 18-digit resident ID number are the birth date (YYYYMMDD)."""
    if not isinstance(id_number, str) or len(id_number) < 14:
        return None
    digits = id_number[6:14]
    if not digits.isdigit():
        return None
    try:
        return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None


def age_on(birth: dt.date, on: dt.date) -> int:
    # Someone born on 29 February comes of age on 1 March in a common year: comparing
    # (month, day) pairs gives exactly that, and a birthday on the day itself counts.
    before_birthday = (on.month, on.day) < (birth.month, birth.day)
    return on.year - birth.year - (1 if before_birthday else 0)


def coerce(fact: Fact, value: Any) -> Any:
    if value is None:
        return None
    kind = fact.type
    try:
        if kind in ("int", "money"):
            if isinstance(value, bool):
                raise ValueError
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError
                return int(value)
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind == "bool":
            if isinstance(value, bool):
                return value
            if value in (0, 1):
                return bool(value)
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError
        if kind == "enum":
            if value not in {code for code, _ in fact.choices}:
                raise ValueError
            return value
        if kind == "date":
            if isinstance(value, dt.datetime):
                return value.date()
            if isinstance(value, dt.date):
                return value
            return dt.date.fromisoformat(str(value))
        return str(value)
    except (TypeError, ValueError):
        raise RuleError(f"“{fact.name}”（{fact.label}）的取值“{value}”无效") from None


def prepare(household: HouseholdInput, on: dt.date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Household values (facts, derived facts, standards) and one dict per member."""
    members: list[dict[str, Any]] = []
    for raw in household.members:
        member: dict[str, Any] = {}
        for name, fact in MEMBER_FACTS.items():
            if fact.derived and not (fact.overridable and raw.get(name) is not None):
                continue
            member[name] = coerce(fact, raw.get(name))
        if member["birth_date"] is None:
            member["birth_date"] = birth_date_from_id(raw.get("id_number"))
        birth = member["birth_date"]
        member["age"] = age_on(birth, on) if birth is not None else None
        members.append(member)

    h: dict[str, Any] = {}
    for name, fact in HOUSEHOLD_FACTS.items():
        if fact.derived and not (fact.overridable and household.facts.get(name) is not None):
            continue
        h[name] = coerce(fact, household.facts.get(name))
    size = len(members)
    incomes = [m["income_month_fen"] for m in members]
    total = None if any(v is None for v in incomes) else sum(incomes)
    h["size"] = size
    h["income_total_month_fen"] = total
    h["income_per_capita_month_fen"] = total / size if total is not None and size else None
    assets = h["financial_assets_fen"]
    h["financial_assets_per_capita_fen"] = assets / size if assets is not None and size else None
    for kind, amount in household.standards.items():
        h[STD_PREFIX + kind] = None if amount is None else int(amount)
    return h, members


__all__ = ["FACTS", "age_on", "birth_date_from_id", "coerce", "prepare"]
