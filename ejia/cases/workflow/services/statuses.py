"""救助身份 follows decisions: an approved 低保、特困、低保边缘 or 支出型困难 decision makes the
household (and, for 特困, the person) hold that status in the registry from the decision day,
in the decision's transaction. Disbursement ends it when the entitlement ends."""

from __future__ import annotations

from django.utils import timezone

from ejia.cases.workflow.models import Decision, RequestProcedure
from ejia.catalogue.models import Programme
from ejia.registry.models import STATUS_BY_PROGRAMME
from ejia.registry.services import status_begin


def decision_status_apply(*, actor, procedure: RequestProcedure, decision: Decision) -> None:
    """Call inside the approval's transaction."""
    programme = procedure.request.programme
    kind = STATUS_BY_PROGRAMME.get(programme.code)
    if kind is None or decision.outcome != Decision.Outcome.APPROVED:
        return
    # A person's programme names its member on the request, from intake on.
    request = procedure.request
    persons = [request.person] if programme.target == Programme.Target.MEMBER and request.person_id else []
    status_begin(
        actor=actor,
        household=procedure.request.household,
        kind=kind,
        start=timezone.localdate(decision.decided_at),
        persons=persons,
        note=f"{procedure.case.reference} 批准（{decision.unit.name}）",
    )
