"""What the reviewer of a step sees of a household, and no more (最少必要).

A decision needs the facts the programme's rule names — read from the rule in force on the
case's rule date, not from a hand-kept list, so a rule edit in the catalogue changes what
the department sees — as declared and as verified by the one-click check, the engine's
criteria with their explanations, and the members by masked ID. Everything else of the case
(other programmes' facts, bank accounts, contact details) stays with the case clerk.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ejia.cases.models import Case
from ejia.cases.verify import case_latest_check, verified_plan
from ejia.cases.workflow.models import RequestProcedure
from ejia.rules.engine import collect_refs
from ejia.rules.errors import RuleError
from ejia.rules.explain import fmt
from ejia.rules.facts import DERIVED_FROM, FACTS, is_money
from ejia.rules.household import age_on
from ejia.verification.models import CheckSource, CheckStatus, VerificationCheck

# ---------------------------------------------------------------- the rule's facts


def rule_fact_names(programme, *, on: dt.date) -> list[str]:
    """Every fact the programme's criteria and amount name (in the version in force on `on`),
    derived facts replaced by what they are computed from — except `age`, shown as an age
    rather than the birth date it comes from, and `size`, which every page shows."""
    from ejia.catalogue.models import Programme
    from ejia.catalogue.selectors import programme_current_version
    from ejia.rules.checker import parse_expression

    version = programme_current_version(programme, on=on)
    if version is None:
        return []
    codes = set(Programme.objects.values_list("code", flat=True))
    exprs = [(c.get("expr", ""), "criterion") for c in version.criteria or []]
    if (version.amount_expr or "").strip():
        exprs.append((version.amount_expr, "amount"))
    names: list[str] = []
    for expr, kind in exprs:
        try:
            node = parse_expression(expr, target=programme.target, kind=kind, programme_codes=codes)
        except RuleError:
            # A published rule always parses; a broken one names nothing rather than everything.
            continue
        for ref in collect_refs(node):
            if ref.kind != "fact":
                continue
            expanded = (ref.name,) if ref.name in ("age", "size") else DERIVED_FROM.get(ref.name, (ref.name,))
            for name in expanded:
                if name not in names:
                    names.append(name)
    return names


# ---------------------------------------------------------------- the one-click check


@dataclass
class CheckState:
    """The case's latest one-click check as the verification step sees it."""

    check: VerificationCheck | None
    problem: str = ""  # why the verification step cannot close on it (Chinese), else ""
    failed_sources: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return self.check is not None and not self.problem

    @property
    def partial(self) -> bool:
        return self.check is not None and self.check.status == CheckStatus.PARTIAL


def check_state(case: Case, check: VerificationCheck | None = None) -> CheckState:
    """A step can rest on a check that finished and was started after the case was submitted
    (an older check describes another moment of the household)."""
    check = check if check is not None else case_latest_check(case)
    if check is None or check.created_at < case.submitted_at:
        return CheckState(None, "尚未发起一键核对，请先在申请件页面发起家庭经济状况核对")
    if check.status == CheckStatus.RUNNING:
        return CheckState(check, "一键核对尚在进行中，请待各部门数据返回后再办结")
    failed = list(
        check.sources.filter(status=CheckSource.Status.FAILED)
        .order_by("source__sort_order", "source__code")
        .values_list("source__name", flat=True)
    )
    return CheckState(check, "", failed)


# ---------------------------------------------------------------- what the decider sees


def mask_person(name: str) -> str:
    """张三明 → 张**: a department sees who is who, not the names."""
    name = (name or "").strip()
    return (name[:1] + "*" * max(len(name) - 1, 1)) if name else "*"


def _show(name: str, value) -> str:
    fact = FACTS.get(name)
    if fact is None:
        return fmt(value)
    if value is None:
        return "未申报"
    if fact.type == "enum":
        return fact.choice_label(str(value))
    return fmt(value, is_money=is_money(fact), unit=fact.unit)


def _age(birth: str | None, on: dt.date) -> int | None:
    try:
        return age_on(dt.date.fromisoformat(str(birth)), on) if birth else None
    except ValueError:
        return None


def _row(name: str, who: str, declared, verified: dict | None, *, differs: bool = False) -> dict:
    """One fact of the household or a member. `differs` comes from the check's own list of
    differences: a documented income below the declared one is not a difference (farm and
    odd-job income has no department record)."""
    fact = FACTS.get(name)
    row = {
        "who": who,
        "label": fact.label if fact else name,
        "declared": _show(name, declared),
        "verified": "",
        "source": "",
        "differs": differs,
    }
    if verified is not None:
        row["verified"] = _show(name, verified.get("value"))
        if verified.get("documented"):
            row["verified"] += "（有记录部分）"
        row["source"] = "、".join(verified.get("source_names") or verified.get("sources") or [])
        if verified.get("as_of"):
            row["source"] += f"（{verified['as_of']}）"
    return row


def _outcome(entry) -> dict:
    if entry is None:
        return {"label": "—", "outcome": "", "amount_fen": None}
    return {"label": entry.outcome_label, "outcome": entry.outcome.value, "amount_fen": entry.amount_fen}


def facts_for_decision(procedure: RequestProcedure, *, minimal: bool) -> dict:
    """The minimum the decider needs: household size, the facts the programme's rule names
    (declared, and verified where the latest finished check proved them), the programme's
    criteria with the engine's explanation — after verification when a check has finished —
    and members by masked ID. `minimal` masks names (a department's view)."""
    case = procedure.case
    programme = procedure.request.programme
    entry = procedure.request.plan_entry()
    declared = case.declared_facts or {}
    members = declared.get("members") or []
    state = check_state(case)
    check = state.check if state.check is not None and state.check.is_finished else None
    verified = (check.facts or {}) if check is not None else {}
    names = rule_fact_names(programme, on=case.rule_date)
    relevant = set(names)

    differing = {(d.get("person") or "", d.get("fact")) for d in (check.differences or [])} if check else set()
    rows: list[dict] = []
    household_declared = declared.get("household") or {}
    household_verified = verified.get("household") or {}
    for name in names:
        fact = FACTS.get(name)
        if fact is None or fact.scope != "household" or name in ("size", "region_code", "urban"):
            continue
        differs = ("", name) in differing
        rows.append(_row(name, "家庭", household_declared.get(name), household_verified.get(name), differs=differs))
    for m in members:
        who = mask_person(m.get("name", "")) if minimal else m.get("name", "")
        facts = m.get("facts") or {}
        member_verified = (verified.get("members") or {}).get(m.get("person"), {})
        for name in names:
            fact = FACTS.get(name)
            if fact is None or fact.scope != "member" or name == "relation":
                continue
            if name == "age":
                age = _age(facts.get("birth_date"), case.rule_date)
                rows.append(_row(name, who, age, None))
                continue
            differs = (m.get("person") or "", name) in differing
            rows.append(_row(name, who, facts.get(name), member_verified.get(name), differs=differs))

    after = None
    if check is not None:
        result = verified_plan(case, check)
        new = result["plan"].get(procedure.request.plan_key) if result["plan"] is not None else None
        after = {"error": result["error"], "entry": _outcome(new) if new else None}
        if new is not None:
            before = (entry.outcome, entry.amount_fen) if entry is not None else (None, None)
            after["changed"] = (new.outcome, new.amount_fen) != before
            after["criteria"] = list(new.reasons)
            after["unknown_labels"] = list(new.unknown_labels)
    return {
        "household_size": len(members),
        "members": [
            {
                "name": mask_person(m.get("name", "")) if minimal else m.get("name", ""),
                "masked_id": m.get("masked_id", ""),
                "relation": m.get("relation", ""),
            }
            for m in members
        ],
        "fact_rows": rows,
        "criteria": list(entry.reasons) if entry is not None else [],
        "outcome_label": entry.outcome_label if entry is not None else "",
        "notes": list(entry.notes) if entry is not None else [],
        "before": _outcome(entry),
        "after": after,
        "unknown_labels": list(entry.unknown_labels) if entry is not None else [],
        "amount_fen": entry.amount_fen if entry is not None else None,
        "beneficiary": (
            (mask_person(procedure.request.person.name) if minimal else procedure.request.person.name)
            if procedure.request.person_id
            else ""
        ),
        "beneficiary_id": procedure.request.person.masked_id if procedure.request.person_id else "",
        "rule_date": case.rule_date,
        "check": check,
        "check_state": state,
        "differences": [d for d in (check.differences or []) if d.get("fact") in relevant] if check else [],
        "all_differences": len(check.differences or []) if check else 0,
        "unverified": [u for u in verified.get("unverified") or [] if u.get("fact") in relevant],
    }
