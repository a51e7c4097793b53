"""Reading the plans stored before the plan became one type (schema 1 and older), for the data
migrations only: they turn every stored plan into `ejia.catalogue.plan` schema 2, after which
nothing reads these shapes again.

Shapes met in stored data:
- intake plans (a list): `outcome` eligible / possibly_eligible / not_eligible, member results
  by position in the declared members (`members: [{index, outcome, amount_fen}]`), criteria as
  dicts or — from an early release — the engine object's repr in `label`;
- hand-written or engine-shaped entries with `result` instead of `outcome`;
- change-report evaluations: `{"on", "programmes": {code: {result, amount_fen, members:
  {person pk: {result, amount_fen}}}}}`.
"""

from __future__ import annotations

import re

SCHEMA_VERSION = 2
_OUTCOMES = {
    "eligible": "likely",
    "possibly_eligible": "possible",
    "not_eligible": "unlikely",
    "likely": "likely",
    "possible": "possible",
    "unlikely": "unlikely",
    "excluded": "excluded",
    "already_received": "already_received",
}
_REPR_FIELD = re.compile(r"(label|result|explanation)='((?:[^'\\]|\\.)*)'")
_NOTE = re.compile(r"无需|不需|由.{1,16}(申报|推送|摸排|推荐|统计|识别|上报)|自动识别")


def outcome(value) -> str:
    return _OUTCOMES.get(str(value or ""), "unlikely")


def period(benefit_form: str) -> str:
    return {"monthly_cash": "monthly", "one_off_cash": "one_off"}.get(benefit_form or "", "in_kind")


def criterion(item) -> dict:
    if isinstance(item, dict):
        label = str(item.get("label", ""))
        if label.startswith("CriterionResult("):
            fields = dict(_REPR_FIELD.findall(label))
            return {
                "label": fields.get("label", label),
                "result": {"pass": True, "fail": False}.get(fields.get("result", "")),
                "explanation": fields.get("explanation", ""),
                "sentence": "",
            }
        result = item.get("result")
        result = {"pass": True, "fail": False, "unknown": None, "true": True, "false": False}.get(result, result)
        return {
            "label": label,
            "result": result if result in (True, False) else None,
            "explanation": str(item.get("explanation") or ""),
            "sentence": "",
        }
    if isinstance(item, (list, tuple)):
        return criterion(dict(zip(("label", "result", "explanation"), item, strict=False)))
    return {"label": str(item), "result": None, "explanation": "", "sentence": ""}


def _materials(materials) -> tuple[list[str], list[str]]:
    papers, notes = [], []
    for text in materials or []:
        text = str(text).strip()
        key = re.sub(r"[（(].*?[）)]", "", text).strip()
        if text:
            (notes if _NOTE.search(key) else papers).append(text)
    return papers, notes


def entries(old: dict, info: dict, members: list[tuple[str, str]]) -> list[dict]:
    """One old entry → the new entries (one per likely or possible member of a member
    programme). `info` is the programme's catalogue row (name, department, department_code,
    category, benefit_form, target, amount_period, materials); `members` the declared members
    as (person public id, name), by position."""
    code = str(old.get("code") or "")
    target = info.get("target") or old.get("target") or "household"
    materials = old.get("materials") if old.get("materials") is not None else info.get("materials")
    papers, notes = _materials(materials)
    benefit_form = info.get("benefit_form") or old.get("benefit_form_code") or ""
    unknown = sorted(set(old.get("unknown_facts") or []))
    base = {
        "code": code,
        "name": info.get("name") or old.get("name") or code,
        "department": info.get("department") or old.get("department") or "",
        "department_code": info.get("department_code") or old.get("department_code") or "",
        "category": info.get("category") or old.get("category") or "",
        "benefit_form": benefit_form,
        "target": target,
        "outcome": outcome(old.get("outcome", old.get("result"))),
        "period": period(benefit_form),
        "amount_fen": old.get("amount_fen"),
        "amount_per": info.get("amount_period") or "",
        "person": "",
        "person_name": "",
        "reasons": [criterion(c) for c in old.get("criteria") or []],
        "unknown_facts": unknown,
        "unknown_labels": list(old.get("unknown_labels") or []),
        "excluded_by": "",
        "excluded_by_name": "",
        "notes": [],
        "received": None,
        "materials": papers,
        "application_notes": notes,
    }
    out = []
    if target == "member":
        for m in old.get("members") or []:
            value = outcome(m.get("outcome", m.get("result")))
            index = m.get("index")
            if value not in ("likely", "possible") or not isinstance(index, int) or not 0 <= index < len(members):
                continue
            person, name = members[index]
            out.append(
                {
                    **base,
                    "outcome": value,
                    "amount_fen": m.get("amount_fen"),
                    "person": person,
                    "person_name": name,
                    "reasons": [criterion(c) for c in m.get("criteria") or []] or base["reasons"],
                    "unknown_facts": unknown if value == "possible" else [],
                    "unknown_labels": base["unknown_labels"] if value == "possible" else [],
                }
            )
        if not out:
            base["outcome"] = "unlikely"
    return out or [base]


def plan(old, *, on: str, info: dict[str, dict], members: list[tuple[str, str]]) -> dict:
    """A stored intake plan (a list of old entries) → schema 2."""
    if isinstance(old, dict) and old.get("schema_version") == SCHEMA_VERSION:
        return old
    rows = old if isinstance(old, list) else []
    new = []
    for item in rows:
        if isinstance(item, dict) and item.get("code"):
            new.extend(entries(item, info.get(item["code"], {}), members))
    order = {"already_received": 0, "likely": 1, "possible": 2, "excluded": 3, "unlikely": 4}
    new.sort(key=lambda e: (order[e["outcome"]], e["department_code"], e["code"], e["person"]))
    return {
        "schema_version": SCHEMA_VERSION,
        "on": on,
        "members": [{"ref": ref, "name": name} for ref, name in members],
        "entries": new,
    }


def evaluation(old, *, info: dict[str, dict], members: list[tuple[str, str]], persons: dict[str, str]):
    """A change report's evaluation → schema 2 (None when it was never evaluated). `persons`
    maps the old person pk (as text) to the public id."""
    if not old:
        return None
    if isinstance(old, dict) and old.get("schema_version") == SCHEMA_VERSION:
        return old
    refs = [ref for ref, _name in members]
    rows = []
    for code, item in (old.get("programmes") or {}).items():
        by_person = item.get("members") or {}
        listed = []
        for pk, m in by_person.items():
            ref = persons.get(str(pk))
            if ref in refs:
                listed.append({"index": refs.index(ref), "result": m.get("result"), "amount_fen": m.get("amount_fen")})
        rows.append({"code": code, "result": item.get("result"), "amount_fen": item.get("amount_fen"), "members": listed})
    return plan(rows, on=old.get("on") or "1970-01-01", info=info, members=members)


def programme_info(Programme) -> dict[str, dict]:
    return {
        p.code: {
            "name": p.name,
            "department": p.department.name,
            "department_code": p.department.code,
            "category": p.category,
            "benefit_form": p.benefit_form,
            "target": p.target,
            "amount_period": p.amount_period,
            "materials": list(p.materials or []),
        }
        for p in Programme.objects.select_related("department")
    }
