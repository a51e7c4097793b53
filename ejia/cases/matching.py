"""综合救助方案 at intake: the household's engine input, what it already receives, the plan.

The plan is stored on the case as it was at submission (with the date the rules were
evaluated on), so a later rule change never rewrites what the clerk and applicant saw.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q

from ejia.catalogue.plan import Plan, PlanEntry, PlanError, PlanMember
from ejia.catalogue.planning import Holding, build_plan
from ejia.core import idnumber
from ejia.registry.models import Household, HouseholdStatus, MemberStatus, StatusKind
from ejia.verification.engine_input import EngineInput, MemberSource, active_statuses, build_engine_input

__all__ = [
    "PlanError",
    "draft_engine_input",
    "draft_person_refs",
    "draft_plan",
    "holdings_by_household",
    "household_holdings",
    "plan_evaluate",
    "relevant_to",
]

# The registry statuses that are programmes of the catalogue.
STATUS_PROGRAMMES = {
    StatusKind.TEKUN: "tekun",
    StatusKind.DIBAO: "dibao",
    StatusKind.DIBAO_EDGE: "dibao_edge",
    StatusKind.EXPENSE_HARDSHIP: "expense_hardship",
    StatusKind.ORPHAN: "orphan_allowance",
}
# disbursement.Entitlement statuses that still pay (read through the reverse relation: the
# case system comes before disbursement and does not import it).
LIVE_ENTITLEMENT = ("active", "suspended", "gradual_exit")


def plan_evaluate(
    *, engine_input: EngineInput, on: dt.date, held: Iterable[Holding] = (), combine: bool = True
) -> Plan:
    """Every programme in force on `on` for the household, with what it holds and the
    catalogue's combination rules applied (`combine=False`: the engine's verdicts only)."""
    from ejia.catalogue.models import Programme
    from ejia.catalogue.selectors import DivisionNotFound, catalogue_in_force
    from ejia.rules.errors import RuleError

    engine, active = catalogue_in_force(on)
    try:
        results = engine.evaluate(engine_input.input, on=on)
    except (RuleError, DivisionNotFound) as exc:
        # A declared value the rules cannot use: the clerk fixes the form, nothing is lost.
        raise PlanError(getattr(exc, "message", None) or str(exc)) from exc
    members = [PlanMember(ref, name) for ref, name in zip(engine_input.refs, engine_input.names, strict=True)]
    held = list(held)
    # The active programmes as of the engine's catalogue state (shared, read only): an intake
    # evaluates twice, and rebuilding the 69 programme rows each time was a fifth of its CPU.
    # Only a code they lack (a holding of a programme switched off since) is read.
    programmes = {p.code: p for p in active}
    missing = (set(results) | {h.code for h in held}) - programmes.keys()
    if missing:
        programmes.update({p.code: p for p in Programme.objects.filter(code__in=missing).select_related("department")})
    return build_plan(
        results=results,
        on=on,
        members=members,
        held=held,
        combinations=None if combine else [],
        programmes=programmes,
    )


def _parsed(number: str):
    try:
        return idnumber.parse(number)
    except idnumber.InvalidIdNumber:
        return None


def draft_engine_input(data: dict, division, on: dt.date, *, household: Household | None = None) -> EngineInput:
    """The intake form's declared facts (over the registry's statuses when the household is
    registered); never an ID number — birth date and sex only."""
    members = []
    for member in data.get("members", []):
        parsed = _parsed(member.get("id_number", ""))
        members.append(
            MemberSource(
                ref=member["key"],
                name=member.get("name", ""),
                birth_date=parsed.birth_date if parsed else None,
                sex=parsed.sex if parsed else "",
                relation=member.get("relation", ""),
                declared={k: v for k, v in (member.get("facts") or {}).items() if v is not None},
            )
        )
    household = household or _registered(data)
    return build_engine_input(
        division=division,
        on=on,
        members=members,
        declared={k: v for k, v in (data.get("household_facts") or {}).items() if v is not None},
        statuses=active_statuses(household.pk, on) if household else None,
    )


def _registered(data: dict) -> Household | None:
    if not data.get("household_id"):
        return None
    return Household.objects.filter(public_id=data["household_id"]).first()


def draft_person_refs(data: dict) -> dict[int, str]:
    """Registry person pk → the form's member key, for the members the registry knows."""
    from ejia.registry.selectors import person_by_id_number

    refs = {}
    for member in data.get("members", []):
        parsed = _parsed(member.get("id_number", ""))
        person = person_by_id_number(parsed.number) if parsed else None
        if person is not None:
            refs[person.pk] = member["key"]
    return refs


def draft_plan(data: dict, on: dt.date) -> Plan:
    """The plan the window and the citizen see while filling in the form."""
    from ejia.accounts.models import Division

    division = Division.objects.get(code=data["division_code"])
    household = _registered(data)
    held = household_holdings(household, on, draft_person_refs(data)) if household else []
    return plan_evaluate(engine_input=draft_engine_input(data, division, on), on=on, held=held)


def household_holdings(household: Household, on: dt.date, refs: dict[int, str] | None = None) -> list[Holding]:
    """What the household already receives on `on`: its live entitlements (amount, since the
    first month of the chain) and its registry statuses (since their start). `refs` maps a
    person pk to the member reference the plan uses (default: the person's public id)."""
    person_ref = dict(refs or {})
    if refs is None:
        for pk, public_id in household.memberships.filter(date_out__isnull=True).values_list(
            "person_id", "person__public_id"
        ):
            person_ref[pk] = str(public_id)
    current = _current(on)
    return _holdings(
        person_ref,
        HouseholdStatus.objects.filter(current, household=household).values_list("kind", "start"),
        MemberStatus.objects.filter(current, household=household).values_list("kind", "start", "person_id"),
        _live_entitlements(household.entitlements.all(), on).order_by("pk"),
    )


def holdings_by_household(household_ids: Iterable[int], on: dt.date) -> dict[int, list[Holding]]:
    """`household_holdings` (members referred to by public id) for many households at once: four
    queries instead of four per household; the same holdings in the same order."""
    from ejia.disbursement.models import Entitlement
    from ejia.registry.models import Membership

    ids = list(household_ids)
    refs: dict[int, dict[int, str]] = {h: {} for h in ids}
    for household_id, pk, public_id in Membership.objects.filter(
        household_id__in=ids, date_out__isnull=True
    ).values_list("household_id", "person_id", "person__public_id"):
        refs[household_id][pk] = str(public_id)
    current = _current(on)
    house: dict[int, list] = {h: [] for h in ids}
    for household_id, kind, start in HouseholdStatus.objects.filter(current, household_id__in=ids).values_list(
        "household_id", "kind", "start"
    ):
        house[household_id].append((kind, start))
    member: dict[int, list] = {h: [] for h in ids}
    for household_id, kind, start, person_id in MemberStatus.objects.filter(current, household_id__in=ids).values_list(
        "household_id", "kind", "start", "person_id"
    ):
        member[household_id].append((kind, start, person_id))
    live: dict[int, list] = {h: [] for h in ids}
    entitlements = Entitlement.objects.filter(household_id__in=ids)
    for ent in _live_entitlements(entitlements, on).select_related("previous").order_by("household_id", "pk"):
        live[ent.household_id].append(ent)
    return {h: _holdings(refs[h], house[h], member[h], live[h]) for h in ids}


def _current(on: dt.date) -> Q:
    return Q(start__lte=on) & (Q(end__isnull=True) | Q(end__gte=on))


def _live_entitlements(entitlements, on: dt.date):
    month = on.replace(day=1)
    return (
        entitlements.filter(status__in=LIVE_ENTITLEMENT, start_month__lte=month)
        .filter(Q(end_month__isnull=True) | Q(end_month__gte=month))
        .select_related("programme")
    )


def _holdings(person_ref: dict[int, str], house_statuses, member_statuses, live) -> list[Holding]:
    found: dict[tuple[str, str], Holding] = {}
    only = next(iter(person_ref.values())) if len(person_ref) == 1 else ""
    for kind, start in house_statuses:
        code = STATUS_PROGRAMMES.get(kind)
        if code:
            person = only if code in ("tekun", "orphan_allowance") else ""
            found[(code, person)] = Holding(code, person, start, None, "status")
    for kind, start, person_id in member_statuses:
        code = STATUS_PROGRAMMES.get(kind)
        if code and person_id in person_ref:
            person = person_ref[person_id] if code in ("tekun", "orphan_allowance") else ""
            found.pop((code, ""), None) if person else None
            found[(code, person)] = Holding(code, person, start, None, "status")
    for ent in live:
        if ent.facts.get("back_pay_for"):
            continue  # a one-period back payment, not a benefit of its own
        person = person_ref.get(ent.person_id, "") if ent.person_id else ""
        since = ent.start_month
        previous = ent.previous
        while previous is not None:
            since = min(since, previous.start_month)
            previous = previous.previous
        status = found.pop((ent.programme.code, person), None) or found.pop((ent.programme.code, ""), None)
        if status is not None and status.since:
            since = min(since, status.since)
        found[(ent.programme.code, person)] = Holding(ent.programme.code, person, since, ent.amount_fen, "entitlement")
    return list(found.values())


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


def relevant_to(entry: PlanEntry, needs: list[str]) -> bool:
    wanted = set().union(*(NEED_CATEGORIES.get(n, set()) for n in needs)) if needs else set()
    return entry.category in wanted
