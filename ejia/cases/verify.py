"""一键核对 for a case: the authorisation gate, starting the check, and the re-evaluated plan.

The verification system (`ejia.verification.checks`) asks the departments; this module is the
case system's side: it refuses a check unless every adult member's 授权书 is on file and valid,
hands the declared facts over, and re-runs the engine on declared + verified facts so that
the clerk sees what the verification changed in the household's plan.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from ejia.accounts.scope import require_division
from ejia.cases.matching import PlanError, household_holdings, plan_evaluate
from ejia.cases.models import Authorisation, Case, CaseStatus
from ejia.registry.models import Person
from ejia.verification.checks import CheckRefused, check_enqueue, check_start
from ejia.verification.engine_input import MemberSource, active_statuses, build_engine_input
from ejia.verification.models import CheckStatus, VerificationCheck


def _case_persons(case: Case) -> list[tuple[dict, Person]]:
    members = (case.declared_facts or {}).get("members") or []
    persons = {str(p.public_id): p for p in Person.objects.filter(public_id__in=[m["person"] for m in members])}
    return [(m, persons[m["person"]]) for m in members if m.get("person") in persons]


def adults_missing_authorisation(case: Case, on: dt.date) -> list[str]:
    """Names of adult members without a valid authorisation on file (for this household)."""
    missing = []
    for _member, person in _case_persons(case):
        if person.deceased_on or not person.is_adult_on(on):
            continue
        valid = [
            a for a in Authorisation.objects.filter(person=person, case__household=case.household_id) if a.valid_on(on)
        ]
        if not valid:
            missing.append(person.name)
    return missing


def case_verification_start(*, actor, case: Case) -> VerificationCheck:
    """Start a one-click check of the case's household. A check already running for the case
    is returned instead of starting a second one (double click, two clerks)."""
    require_division(actor, case.division)
    if case.status != CaseStatus.SUBMITTED:
        raise CheckRefused(f"申请件已{case.get_status_display()}，不能再发起核对。")
    today = timezone.localdate()
    missing = adults_missing_authorisation(case, today)
    if missing:
        raise CheckRefused(
            "以下成年家庭成员没有有效的核对授权书，不能查询其经济状况：" + "、".join(missing) + "。请先补签授权书。"
        )
    pairs = _case_persons(case)
    with transaction.atomic():
        # Serialise starts for one case on its row: the second of two clicks sees the first check.
        Case.objects.select_for_update().filter(pk=case.pk).first()
        running = VerificationCheck.objects.filter(reference=case.reference, status=CheckStatus.RUNNING).first()
        if running is not None:
            return running
        declared = {
            "household": dict((case.declared_facts or {}).get("household") or {}),
            "members": {m["person"]: dict(m.get("facts") or {}) for m, _p in pairs},
        }
        check = check_start(
            actor=actor,
            household=case.household,
            members=[p for _m, p in pairs],
            reason=f"受理号 {case.reference} 家庭经济状况核对",
            reference=case.reference,
            declared=declared,
            relations={m["person"]: m.get("relation", "") for m, _p in pairs},
            run=False,
        )
    check_enqueue(check)
    return check


def case_checks(case: Case):
    return VerificationCheck.objects.filter(reference=case.reference, household=case.household_id).order_by(
        "-created_at", "-pk"
    )


def case_latest_check(case: Case) -> VerificationCheck | None:
    return case_checks(case).first()


def verified_plan(case: Case, check: VerificationCheck) -> dict:
    """The plan re-evaluated on declared + verified facts (on the case's rule date), and what
    changed against the plan at submission: {"plan": Plan | None, "changes", "error"}."""
    if not check.facts:
        return {"plan": None, "changes": [], "error": ""}
    declared = case.declared_facts or {}
    members = [
        MemberSource(ref=m["person"], name=m.get("name", ""), declared=dict(m.get("facts") or {}))
        for m in declared.get("members") or []
    ]
    on = case.rule_date
    try:
        engine_input = build_engine_input(
            division=case.division,
            on=on,
            members=members,
            declared=declared.get("household") or {},
            verified=check.facts,
            statuses=active_statuses(case.household_id, on),
        )
        plan = plan_evaluate(engine_input=engine_input, on=on, held=household_holdings(case.household, on))
    except PlanError as exc:
        return {"plan": None, "changes": [], "error": exc.message}
    before = case.plan.by_key()
    requested = {r.plan_key for r in case.requests.select_related("programme", "person")}
    changes = []
    for entry in plan:
        old = before.get(entry.key)
        if old is None:
            continue
        if old.outcome != entry.outcome or old.amount_fen != entry.amount_fen:
            changes.append(
                {
                    "code": entry.code,
                    "key": entry.key,
                    "name": entry.name + (f"（{entry.person_name}）" if entry.person_name else ""),
                    "requested": entry.key in requested,
                    "before": old.outcome_label,
                    "before_outcome": old.outcome.value,
                    "after": entry.outcome_label,
                    "after_outcome": entry.outcome.value,
                    "amount_before": old.amount_fen,
                    "amount_after": entry.amount_fen,
                }
            )
    changes.sort(key=lambda c: (not c["requested"], c["key"]))
    return {"plan": plan, "changes": changes, "error": ""}
