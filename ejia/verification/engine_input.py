"""The one engine input builder: a household on a date, as the rule engine takes it.

Facts come from three places, later ones winning: the registry (what the 救助对象库 holds:
household and membership facts, the household's assistance statuses), what the household
declared (at intake, or in a change report), and what a one-click check verified (with the
sources and the date each fact speaks for). Every fact keeps its provenance, so a screen can
say where a value came from. Intake, the verified plan, dynamic re-evaluation and the annual
re-verification all build their input here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q

from ejia.accounts.models import Division
from ejia.registry.models import Household, HouseholdStatus, Membership, MemberStatus, StatusKind
from ejia.rules import HouseholdInput
from ejia.verification import findings as fnd

REGISTRY, DECLARED, VERIFIED = "registry", "declared", "verified"

# The household facts an active assistance status stands for (registry facts).
STATUS_FACTS = {
    StatusKind.DIBAO: "on_dibao",
    StatusKind.TEKUN: "on_tekun",
    StatusKind.DIBAO_EDGE: "on_dibao_edge",
    StatusKind.EXPENSE_HARDSHIP: "on_expense_hardship",
    StatusKind.LIFTED_FROM_POVERTY: "lifted_from_poverty",
    StatusKind.RELAPSE_MONITORING: "relapse_monitoring",
}
OWN_STATUSES = {StatusKind.DIBAO, StatusKind.TEKUN, StatusKind.DIBAO_EDGE, StatusKind.EXPENSE_HARDSHIP}
# Never handed to the engine: computed by it, or chosen by the household's place.
_NOT_INPUT = {"size", "region_code", "urban"}


@dataclass(frozen=True)
class MemberSource:
    """One member as the builder takes it: who (a person public id, or the intake form's key),
    the registry's person data, and the member facts from each source."""

    ref: str
    name: str = ""
    birth_date: dt.date | None = None
    sex: str = ""
    relation: str = ""
    registry: Mapping[str, Any] = field(default_factory=dict)
    declared: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class EngineInput:
    input: HouseholdInput
    refs: list[str]
    names: list[str]
    region_code: str
    urban: bool
    # (member ref, or "" for the household; fact name) → "registry" | "declared" | "verified: <sources> <date>"
    provenance: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def household(self) -> dict[str, Any]:
        return self.input.facts

    @property
    def members(self) -> list[dict[str, Any]]:
        return self.input.members


def _layer(target: dict, provenance: dict, who: str, facts: Mapping[str, Any] | None, source: str) -> None:
    for name, value in (facts or {}).items():
        if value is None or name in _NOT_INPUT:
            continue
        target[name] = value
        provenance[(who, name)] = source


def _verified_source(prov: Mapping[str, Any]) -> str:
    names = "、".join(prov.get("source_names") or prov.get("sources") or [])
    return f"{VERIFIED}: {names} {prov.get('as_of') or ''}".rstrip()


def build_engine_input(
    *,
    division: Division,
    on: dt.date,
    members: Sequence[MemberSource],
    registry: Mapping[str, Any] | None = None,
    declared: Mapping[str, Any] | None = None,
    verified: Mapping[str, Any] | None = None,
    statuses: Iterable[str] | None = None,
    standards: dict[str, int] | None = None,
    standards_cache: dict | None = None,
    standard_divisions: set[str] | None = None,
) -> EngineInput:
    """The engine input of one household on `on`.

    `registry` and `declared` are household facts by name; `verified` is a check's facts
    ({"household": {name: provenance}, "members": {ref: {name: provenance}}}); `statuses` the
    household's active status kinds (None: unknown, e.g. a household not in the registry yet).
    `standards` may be given by a caller that has them already; a bulk caller passes a
    `standards_cache` (and the set of divisions that set standards), shared by the villages
    under the same ones.
    """
    from ejia.catalogue.selectors import household_place, standards_for

    provenance: dict[tuple[str, str], str] = {}
    household: dict[str, Any] = {}
    _layer(household, provenance, "", registry, REGISTRY)
    if statuses is not None:
        held = set(statuses)
        for kind, name in STATUS_FACTS.items():
            # The platform decides 低保/特困/边缘/支出型, so their absence is known; 脱贫 and
            # 监测 come from other departments' lists, so only their presence is.
            if kind in held or kind in OWN_STATUSES:
                household[name] = kind in held
                provenance[("", name)] = REGISTRY
    _layer(household, provenance, "", declared, DECLARED)
    verified = verified or {}
    for name, prov in (verified.get("household") or {}).items():
        if name not in _NOT_INPUT:
            household[name] = prov["value"]
            provenance[("", name)] = _verified_source(prov)
    rows = []
    for m in members:
        row: dict[str, Any] = {}
        _layer(row, provenance, m.ref, m.registry, REGISTRY)
        _layer(row, provenance, m.ref, m.declared, DECLARED)
        for name, prov in ((verified.get("members") or {}).get(m.ref) or {}).items():
            if name == "income_month_fen" and row.get(name) is not None:
                # The documented part is proven; farming and odd jobs only the declaration knows.
                row[name] = max(fnd._int(row[name]), fnd._int(prov["value"]))
            else:
                row[name] = prov["value"]
            provenance[(m.ref, name)] = _verified_source(prov)
        if m.birth_date is not None:
            row["birth_date"] = m.birth_date.isoformat()
            row["sex"] = m.sex
        if m.relation:
            row["relation"] = m.relation
        rows.append(row)
    region_code, urban = household_place(division, household)
    if standards is None and standards_cache is not None and standard_divisions is not None:
        key = (tuple(c for c in division.path.split("/") if c in standard_divisions), urban)
        standards = standards_cache.get(key)
        if standards is None:
            standards = standards_cache[key] = standards_for(division, urban, on)
    if standards is None:
        standards = standards_for(division, urban, on)
    return EngineInput(
        input=HouseholdInput(
            facts={**household, "region_code": region_code, "urban": urban}, members=rows, standards=standards
        ),
        refs=[m.ref for m in members],
        names=[m.name for m in members],
        region_code=region_code,
        urban=urban,
        provenance=provenance,
    )


def active_statuses(household_id: int, on: dt.date) -> set[str]:
    """The household's assistance statuses in force on `on` (household and member statuses)."""
    current = Q(start__lte=on) & (Q(end__isnull=True) | Q(end__gte=on))
    kinds = set(HouseholdStatus.objects.filter(current, household_id=household_id).values_list("kind", flat=True))
    kinds |= set(MemberStatus.objects.filter(current, household_id=household_id).values_list("kind", flat=True))
    return kinds


def registry_members(household: Household, on: dt.date) -> list[MemberSource]:
    """The household's members living on `on` (not deceased), in registry order."""
    out = []
    for m in (
        Membership.objects.filter(household=household, date_out__isnull=True)
        .select_related("person")
        .order_by("relation", "pk")
    ):
        if m.person.deceased_on and m.person.deceased_on <= on:
            continue
        out.append(
            MemberSource(
                ref=str(m.person.public_id),
                name=m.person.name,
                birth_date=m.person.birth_date,
                sex=m.person.sex,
                relation=m.relation,
                registry=dict(m.facts or {}),
            )
        )
    return out


def household_engine_input(
    household: Household,
    *,
    on: dt.date,
    declared: Mapping[str, Any] | None = None,
    verified: Mapping[str, Any] | None = None,
) -> EngineInput:
    """A registry household on `on`; `declared` = {"household": {...}, "members": {person public
    id: {...}}} (a change report's or a case's declared facts) on top of the registry's."""
    declared = declared or {}
    by_person = declared.get("members") or {}
    members = [
        MemberSource(
            ref=m.ref,
            name=m.name,
            birth_date=m.birth_date,
            sex=m.sex,
            relation=m.relation,
            registry=m.registry,
            declared=by_person.get(m.ref) or {},
        )
        for m in registry_members(household, on)
    ]
    return build_engine_input(
        division=household.division,
        on=on,
        members=members,
        registry=household.facts or {},
        declared=declared.get("household") or {},
        verified=verified,
        statuses=active_statuses(household.pk, on),
    )
