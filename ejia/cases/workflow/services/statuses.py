"""救助身份 follows decisions: an approved 低保、特困、低保边缘 or 支出型困难 decision makes the
household (and, for 特困, the person) hold that status in the registry from the decision day,
in the decision's transaction. Disbursement ends it when the entitlement ends."""

from __future__ import annotations

from django.utils import timezone

from ejia.cases.workflow.models import Decision, RequestProcedure
from ejia.catalogue.models import Programme
from ejia.registry.models import STATUS_BY_PROGRAMME, Person
from ejia.registry.services import status_begin


def decision_persons(procedure: RequestProcedure) -> list[Person]:
    """The members a person's programme was approved for: those the intake plan found
    eligible, else those it found possibly eligible (plan member index → declared member →
    registry person)."""
    code = procedure.request.programme.code
    entry = next((e for e in procedure.case.plan or [] if e.get("code") == code), None) or {}
    declared = (procedure.case.declared_facts or {}).get("members") or []
    for wanted in ("eligible", "possibly_eligible"):
        indexes = [m.get("index") for m in entry.get("members") or [] if m.get("outcome") == wanted]
        ids = [declared[i].get("person") for i in indexes if isinstance(i, int) and 0 <= i < len(declared)]
        persons = list(Person.objects.filter(public_id__in=[i for i in ids if i]).order_by("pk"))
        if persons:
            return persons
    return []


def decision_status_apply(*, actor, procedure: RequestProcedure, decision: Decision) -> None:
    """Call inside the approval's transaction."""
    programme = procedure.request.programme
    kind = STATUS_BY_PROGRAMME.get(programme.code)
    if kind is None or decision.outcome != Decision.Outcome.APPROVED:
        return
    persons = decision_persons(procedure) if programme.target == Programme.Target.MEMBER else []
    status_begin(
        actor=actor,
        household=procedure.request.household,
        kind=kind,
        start=timezone.localdate(decision.decided_at),
        persons=persons,
        note=f"{procedure.case.reference} 批准（{decision.unit.name}）",
    )
