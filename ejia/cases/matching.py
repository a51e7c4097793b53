"""综合救助方案: the engine's verdict on every programme, turned into a JSON-able plan.

The plan is stored on the case as it was at submission (with the date the rules were
evaluated on), so a later rule change never rewrites what the clerk and applicant saw.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, is_dataclass
from typing import Any

from ejia.rules.facts import FACTS

OUTCOME_ORDER = {"eligible": 0, "possibly_eligible": 1, "not_eligible": 2}
OUTCOME_LABELS = {"eligible": "可能符合", "possibly_eligible": "需要核实", "not_eligible": "暂不符合"}


class PlanError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _criterion(item: Any) -> dict:
    if isinstance(item, dict):
        data = item
    elif is_dataclass(item):
        data = asdict(item)
    elif isinstance(item, (list, tuple)):
        data = dict(zip(("label", "result", "explanation"), item, strict=False))
    elif hasattr(item, "label") and hasattr(item, "result"):
        # The engine's CriterionResult computes its explanation lazily (a property).
        data = {"label": item.label, "result": item.result, "explanation": item.explanation}
    else:
        data = {"label": str(item)}
    result = data.get("result")
    if isinstance(result, str):
        result = {"pass": True, "true": True, "fail": False, "false": False}.get(result.lower())
    return {
        "label": str(data.get("label", "")),
        "result": result if result in (True, False) else None,
        "explanation": str(data.get("explanation", "") or ""),
    }


def _fact_label(name: str) -> str:
    fact = FACTS.get(name)
    return fact.label if fact else name


def plan_evaluate(*, division_code: str, household: dict, members: list[dict], on: dt.date) -> list[dict]:
    """Every active programme's outcome on the declared facts, best outcomes first."""
    from ejia.catalogue.models import Programme
    from ejia.catalogue.selectors import DivisionNotFound, evaluate_household
    from ejia.rules.errors import RuleError

    try:
        results = evaluate_household(division_code=division_code, household=household, members=members, on=on)
    except (RuleError, DivisionNotFound) as exc:
        # A declared value the rules cannot use: the clerk fixes the form, nothing is lost.
        raise PlanError(getattr(exc, "message", None) or str(exc)) from exc
    programmes = {p.code: p for p in Programme.objects.filter(code__in=list(results)).select_related("department")}
    plan = []
    for code, result in results.items():
        programme = programmes.get(code)
        if programme is None:
            continue
        outcome = str(getattr(result, "outcome", "not_eligible"))
        outcome = getattr(getattr(result, "outcome", None), "value", outcome)
        unknown = sorted(set(getattr(result, "unknown_facts", None) or []))
        plan.append(
            {
                "code": code,
                "name": programme.name,
                "department": programme.department.name,
                "department_code": programme.department.code,
                "outcome": outcome,
                "outcome_label": OUTCOME_LABELS.get(outcome, outcome),
                "amount_fen": getattr(result, "amount_fen", None),
                "benefit_form": str(programme.get_benefit_form_display()),
                "benefit_form_code": programme.benefit_form,
                "category": programme.category,
                "criteria": [_criterion(c) for c in (getattr(result, "criteria", None) or [])],
                "unknown_facts": unknown,
                "unknown_labels": [_fact_label(n) for n in unknown],
                "members": [
                    {
                        "index": getattr(m, "index", i),
                        "outcome": str(getattr(m, "outcome", "")),
                        "amount_fen": getattr(m, "amount_fen", None),
                    }
                    for i, m in enumerate(getattr(result, "members", None) or [])
                ],
                "materials": [str(m) for m in (programme.materials or [])],
            }
        )
    plan.sort(key=lambda p: (OUTCOME_ORDER.get(p["outcome"], 9), p["department_code"], p["code"]))
    return plan


# Which catalogue categories each stated need points to (to put the relevant programmes first).
NEED_CATEGORIES = {
    "illness": {"medical", "temporary"},
    "disability": {"disability"},
    "schooling": {"education", "children"},
    "housing": {"housing"},
    "job_loss": {"employment", "basic_living"},
    "disaster": {"disaster", "temporary"},
    "elderly_care": {"elderly"},
    "daily_living": {"basic_living", "temporary"},
    "other": set(),
}


def relevant_to(entry: dict, needs: list[str]) -> bool:
    wanted = set().union(*(NEED_CATEGORIES.get(n, set()) for n in needs)) if needs else set()
    return entry.get("category") in wanted


def _material_key(name: str) -> str:
    # "授权书（每位成年家庭成员签字）" and "授权书" are the same paper.
    return re.sub(r"[（(].*?[）)]", "", name).strip()


def materials_for(plan: list[dict], codes: list[str]) -> list[dict]:
    """The materials checklist for the chosen programmes, each paper once, naming its programmes.

    The verification authorisation is signed on screen during intake, so it is marked as
    already in hand (`online`) rather than asked for again.
    """
    items: dict[str, dict] = {}
    for entry in plan:
        if entry["code"] not in codes:
            continue
        for material in entry.get("materials", []):
            key = _material_key(material)
            item = items.setdefault(key, {"name": material, "programmes": [], "online": "授权书" in material})
            if len(material) > len(item["name"]):
                item["name"] = material
            if entry["name"] not in item["programmes"]:
                item["programmes"].append(entry["name"])
    return list(items.values())


def engine_input(data: dict, division) -> tuple[dict, list[dict]]:
    """The declared facts as the engine takes them; never an ID number (birth date and sex only)."""
    from ejia.core import idnumber

    household = {k: v for k, v in (data.get("household_facts") or {}).items() if v is not None}
    household["region_code"] = division.code[:6]
    household["urban"] = bool(division.urban)
    members = []
    for member in data.get("members", []):
        facts = {k: v for k, v in (member.get("facts") or {}).items() if v is not None}
        try:
            parsed = idnumber.parse(member.get("id_number", ""))
        except idnumber.InvalidIdNumber:
            parsed = None
        if parsed is not None:
            facts["birth_date"] = parsed.birth_date.isoformat()
            facts["sex"] = parsed.sex
        facts["relation"] = member.get("relation", "")
        members.append(facts)
    return household, members
