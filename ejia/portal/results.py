"""Self-check results in plain words: the engine's outcome per programme, grouped.

可能符合 (the engine says eligible on what was told), 需要进一步核实 (some fact is
unknown — say which, in words), 暂不符合 (a criterion fails — say which). The amounts are
what the rules compute from the answers; the page says clearly that this is an estimate.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ejia.core.money import format_fen
from ejia.portal.questions import Estimate
from ejia.rules.facts import FACTS

log = logging.getLogger(__name__)

ELIGIBLE = "eligible"
POSSIBLY = "possibly_eligible"
NOT = "not_eligible"
RANK = {ELIGIBLE: 0, POSSIBLY: 1, NOT: 2}


@dataclass
class Reason:
    label: str  # the criterion's plain-words label
    detail: str  # the engine's explanation with the values used


@dataclass
class ProgrammeLine:
    code: str
    name: str
    department: str
    summary: str
    url: str
    amount_text: str = ""
    amount_fen: int | None = None  # what the rules computed (for the API; the page shows the text)
    reasons: list[Reason] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    who: str = ""


@dataclass
class Group:
    key: str
    title: Any
    lead: Any
    items: list[ProgrammeLine]


@dataclass
class Evaluation:
    groups: list[Group]
    error: str = ""


def fact_label(name: str) -> str:
    fact = FACTS.get(name.split(".")[-1])
    return fact.label if fact else name


def _outcome(value: Any) -> str:
    return str(getattr(value, "value", value))


def _member_results(result) -> list:
    return sorted(getattr(result, "members", None) or [], key=lambda m: RANK.get(_outcome(m.outcome), 3))


def _criteria_for(result) -> tuple[list, str]:
    """The criteria to explain, and for member programmes who they are about."""
    if getattr(result, "target", "household") != "member":
        return list(result.criteria or []), ""
    members = _member_results(result)
    if not members:
        return list(result.criteria or []), ""
    best = members[0]
    same = [m for m in members if _outcome(m.outcome) == _outcome(best.outcome)]
    who = ""
    if _outcome(best.outcome) != NOT:
        who = str(_("家里有 %(n)s 人") % {"n": len(same)})
    return list(best.criteria or []), who


def _line(result, programme, outcome: str) -> ProgrammeLine:
    criteria, who = _criteria_for(result)
    wanted = {ELIGIBLE: "pass", POSSIBLY: "unknown", NOT: "fail"}[outcome]
    # A condition not met reads as a plain sentence ("年龄 78 岁，不满 80 岁"), not the formal line.
    reasons = [
        Reason(c.label, (c.sentence or c.explanation) if c.result == "fail" else c.explanation)
        for c in criteria
        if c.result == wanted
    ]
    reasons = [Reason(r.label, r.detail if r.detail != r.label else "") for r in reasons]
    unknown = []
    if outcome == POSSIBLY:
        seen: set[str] = set()
        for name in getattr(result, "unknown_facts", None) or []:
            label = fact_label(name)
            if label not in seen:
                seen.add(label)
                unknown.append(label)
    amount_text = ""
    if outcome != NOT and result.amount_fen:
        period = getattr(programme, "amount_period", "") or ""
        label = {"month": _("每月约"), "year": _("每年约"), "once": _("一次约")}.get(period, _("约"))
        amount = format_fen(result.amount_fen).removesuffix(".00").lstrip("¥")
        amount_text = f"{label} {amount} {_('元')}"
    department = ""
    if programme is not None and getattr(programme, "department", None) is not None:
        department = programme.department.name
    return ProgrammeLine(
        code=result.code,
        name=getattr(programme, "name", None) or result.name,
        department=department,
        summary=getattr(programme, "summary", ""),
        url=reverse("portal:programme", args=[result.code]),
        amount_text=amount_text,
        amount_fen=result.amount_fen if outcome != NOT and result.amount_fen else None,
        reasons=reasons,
        unknown=unknown,
        unchecked=list(getattr(programme, "unchecked_conditions", None) or []),
        who=who,
    )


def evaluate(estimate: Estimate, *, on: dt.date) -> Evaluation:
    from ejia.catalogue import selectors as catalogue

    try:
        # The engine and the programme list of one catalogue state: its stamp read once.
        engine, active = catalogue.catalogue_in_force(on)
        outcome = catalogue.evaluate_household(
            division_code=estimate.division_code,
            household=estimate.household,
            members=estimate.members,
            on=on,
            engine=engine,
        )
    except Exception:
        # The estimate is a courtesy; a broken rule must not stop someone from seeing how
        # to apply. The failure is logged for the catalogue editors.
        log.exception("self-check evaluation failed")
        return Evaluation(groups=_empty_groups(), error=str(_("评估暂时无法完成，请稍后再试，或直接到窗口咨询。")))
    programmes = {p.code: p for p in active}  # = catalogue.programme_list(), unfiltered
    lines: dict[str, list[ProgrammeLine]] = {ELIGIBLE: [], POSSIBLY: [], NOT: []}
    for code, result in outcome.items():
        kind = _outcome(result.outcome)
        if kind not in lines:
            continue
        lines[kind].append(_line(result, programmes.get(code), kind))
    order = {code: i for i, code in enumerate(programmes)}
    for items in lines.values():
        items.sort(key=lambda line: order.get(line.code, 10_000))
    groups = _empty_groups()
    for group in groups:
        group.items = lines[group.key]
    return Evaluation(groups=groups)


def _empty_groups() -> list[Group]:
    return [
        Group(ELIGIBLE, _("可能符合"), _("按您填写的情况，这些项目的条件都符合。"), []),
        Group(
            POSSIBLY,
            _("需要进一步核实"),
            _("还有一些情况不清楚，申请后由工作人员核对。"),
            [],
        ),
        Group(NOT, _("暂不符合"), _("按您填写的情况，这些项目有条件不符合。情况变了可以再测。"), []),
    ]
