"""Building the 综合救助方案 from the engine's results: one entry per programme (per member for
a member programme), what the family already receives, and the catalogue's combination rules.

The caller gathers the engine input (`ejia.verification.engine_input`) and what the household
holds (registry statuses, live entitlements); this module only turns them into a `Plan`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace

from ejia.catalogue.combinations import Combination, apply_combinations
from ejia.catalogue.models import Programme
from ejia.catalogue.plan import (
    Period,
    Plan,
    PlanCriterion,
    PlanEntry,
    PlanMember,
    PlanOutcome,
    Received,
    sort_entries,
    split_materials,
)
from ejia.rules.facts import FACTS
from ejia.rules.spec import ProgrammeResult


@dataclass(frozen=True)
class Holding:
    """A programme the household (or one member, `person`) already receives."""

    code: str
    person: str = ""
    since: dt.date | None = None
    amount_fen: int | None = None
    source: str = "entitlement"


def fact_label(name: str) -> str:
    fact = FACTS.get(name)
    return fact.label if fact else name


def criterion(item, *, explain: bool = True) -> PlanCriterion:
    """A criterion of the plan; `explain=False` keeps its label and result only (no explanation
    or sentence written: the engine writes them lazily, and rendering them is most of a plan's
    cost)."""
    result = {"pass": True, "fail": False}.get(item.result)
    if not explain:
        return PlanCriterion(label=item.label, result=result)
    return PlanCriterion(
        label=item.label,
        result=result,
        explanation=item.explanation,
        sentence=getattr(item, "sentence", "") or "",
    )


@functools.lru_cache(maxsize=256)
def _split_materials(materials: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`split_materials` of a programme's materials, once per distinct list (a bulk caller
    builds the same programmes' entries for thousands of households)."""
    return split_materials(materials)


def _base(programme: Programme, outcome: PlanOutcome, **extra) -> PlanEntry:
    materials = programme.materials or []
    if all(isinstance(m, str) for m in materials):
        papers, notes = _split_materials(tuple(materials))
    else:
        papers, notes = split_materials(materials)
    return PlanEntry(
        code=programme.code,
        name=programme.name,
        department=programme.department.name,
        department_code=programme.department.code,
        category=programme.category,
        benefit_form=programme.benefit_form,
        target=programme.target,
        outcome=outcome,
        period=Period.for_form(programme.benefit_form),
        amount_per=programme.amount_period or "",
        materials=papers,
        application_notes=notes,
        **extra,
    )


def entries_from_result(
    programme: Programme, result: ProgrammeResult, members: Sequence[PlanMember], *, explain: bool = True
) -> list[PlanEntry]:
    unknown = tuple(sorted(set(result.unknown_facts or [])))
    labels = tuple(fact_label(n) for n in unknown)
    if programme.target == Programme.Target.MEMBER and result.members:
        entries = []
        for m in result.members:
            outcome = PlanOutcome.from_engine(m.outcome)
            if outcome == PlanOutcome.UNLIKELY or m.index >= len(members):
                continue
            member = members[m.index]
            entries.append(
                _base(
                    programme,
                    outcome,
                    amount_fen=m.amount_fen,
                    person=member.ref,
                    person_name=member.name,
                    reasons=tuple(criterion(c, explain=explain) for c in m.criteria),
                    unknown_facts=unknown if outcome == PlanOutcome.POSSIBLE else (),
                    unknown_labels=labels if outcome == PlanOutcome.POSSIBLE else (),
                )
            )
        if entries:
            return entries
    outcome = PlanOutcome.from_engine(result.outcome)
    person = PlanMember("", "")
    if programme.target == Programme.Target.MEMBER:
        # No member qualifies: one line for the programme, with the closest member's reasons
        # (naming the member when there is only one).
        outcome = PlanOutcome.UNLIKELY
        if len(members) == 1:
            person = members[0]
    return [
        _base(
            programme,
            outcome,
            person=person.ref,
            person_name=person.name,
            amount_fen=result.amount_fen,
            reasons=tuple(criterion(c, explain=explain) for c in result.criteria),
            unknown_facts=unknown,
            unknown_labels=labels,
        )
    ]


def _received(entries: list[PlanEntry], held: Iterable[Holding], programmes: dict[str, Programme]) -> list[PlanEntry]:
    """Held programmes become "已享受" entries (replacing the engine's line for that programme
    and person), so a recipient is never offered their own programme again."""
    out = list(entries)
    for h in held:
        programme = programmes.get(h.code)
        if programme is None:
            continue
        person = h.person if programme.target == Programme.Target.MEMBER else ""
        if programme.target == Programme.Target.MEMBER and not person:
            continue  # a member programme held by nobody in particular cannot be placed
        name = next((e.person_name for e in out if e.person == person and e.person_name), "")
        old = [e for e in out if e.code == h.code and (e.person == person or (person and not e.person))]
        for e in old:
            out.remove(e)
        template = old[0] if old else _base(programme, PlanOutcome.ALREADY_RECEIVED)
        out.append(
            replace(
                template,
                outcome=PlanOutcome.ALREADY_RECEIVED,
                person=person,
                person_name=name or template.person_name,
                amount_fen=h.amount_fen if h.amount_fen is not None else None,
                received=Received(since=h.since, amount_fen=h.amount_fen, source=h.source),
                unknown_facts=(),
                unknown_labels=(),
            )
        )
    return out


def build_plan(
    *,
    results: dict[str, ProgrammeResult],
    on: dt.date,
    members: Sequence[PlanMember],
    held: Iterable[Holding] = (),
    combinations: Sequence[Combination] | None = None,
    programmes: dict[str, Programme] | None = None,
    explained: Collection[str] | None = None,
) -> Plan:
    """The plan of one household: the engine's results, what it holds, the combination rules
    (the catalogue's, unless given) applied. A bulk caller passes the catalogue's programmes
    (by code, with their departments) once instead of one query per household, and, when it
    reads the reasons of some programmes' entries only, those programmes as `explained`: the
    other entries' reasons then carry label and result without explanation or sentence (the
    combination rules read outcomes, never reasons, so every outcome is the same)."""
    from ejia.catalogue.selectors import combinations_in_force

    held = list(held)
    codes = set(results) | {h.code for h in held}
    if programmes is None:
        programmes = {p.code: p for p in Programme.objects.filter(code__in=codes).select_related("department")}
    else:
        programmes = {code: programmes[code] for code in codes if code in programmes}
    entries: list[PlanEntry] = []
    for code, result in results.items():
        programme = programmes.get(code)
        if programme is not None:
            explain = explained is None or code in explained
            entries.extend(entries_from_result(programme, result, members, explain=explain))
    entries = _received(entries, held, programmes)
    rules = combinations_in_force() if combinations is None else combinations
    entries = apply_combinations(entries, rules, members=[m.ref for m in members])
    order = {code: p.sort_order for code, p in programmes.items()}
    return Plan(on=on, entries=sort_entries(entries, order), members=tuple(members))


def entry_for(programme: Programme, outcome: PlanOutcome, *, amount_fen: int | None = None, person=None) -> PlanEntry:
    """One entry of `programme` as the builder writes it, for a hand-made plan (a test, or a
    re-evaluation that states outcomes directly); `person` is a registry Person."""
    return _base(
        programme,
        outcome,
        amount_fen=amount_fen,
        person=str(person.public_id) if person is not None else "",
        person_name=person.name if person is not None else "",
    )
