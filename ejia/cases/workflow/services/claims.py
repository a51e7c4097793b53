"""认领: one staff member of the acting unit takes a request of the unit's queue, so two
colleagues do not work the same file; releasing hands it back to the unit.

A claim is a move like the others (table row, lock, version, audit): it raises the version,
so a colleague's screen drawn before the claim is stale. While claimed, the step's moves are
the holder's; a colleague may take the request back to the unit only with a written reason
(the holder is away), which is recorded and audited.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.services.moves import StaleScreen, WorkflowError, _check, _lock, _record
from ejia.cases.workflow.transitions import Action
from ejia.core.audit import audit_record


def _save_claim(procedure: RequestProcedure) -> None:
    procedure.version += 1
    procedure.save(update_fields=["claimed_by", "claimed_at", "version", "updated_at"])


def procedure_claim(*, actor, procedure_id: int, expected_version: int | None) -> RequestProcedure:
    with transaction.atomic():
        procedure = _lock(procedure_id)
        if procedure.claimed_by_id == actor.pk and procedure.is_open:
            return procedure  # a second click on one's own claim
        _check(procedure, actor=actor, action=Action.CLAIM, expected_version=expected_version)
        if procedure.claimed_by_id is not None:
            raise StaleScreen(f"该事项已由{procedure.claimed_by.get_full_name()}认领，请刷新后再试")
        procedure.claimed_by = actor
        procedure.claimed_at = timezone.now()
        _save_claim(procedure)
        _record(procedure, actor=actor, action=Action.CLAIM, from_state=procedure.state)
        audit_record(actor=actor, action="workflow.claim", obj=procedure, data={"step": procedure.step.key})
    return procedure


def procedure_release(*, actor, procedure_id: int, expected_version: int | None, reason: str = "") -> RequestProcedure:
    reason = (reason or "").strip()
    with transaction.atomic():
        procedure = _lock(procedure_id)
        _check(procedure, actor=actor, action=Action.RELEASE, expected_version=expected_version)
        holder = procedure.claimed_by
        if holder is None:
            raise StaleScreen("该事项当前无人认领，请刷新后再试")
        if holder.pk != actor.pk and not reason:
            raise WorkflowError(f"该事项由{holder.get_full_name()}认领；收回到本单位须写明理由。")
        procedure.claimed_by = None
        procedure.claimed_at = None
        _save_claim(procedure)
        comment = reason if holder.pk == actor.pk else f"收回{holder.get_full_name()}的认领：{reason}"
        _record(procedure, actor=actor, action=Action.RELEASE, from_state=procedure.state, comment=comment)
        audit_record(
            actor=actor,
            action="workflow.release",
            obj=procedure,
            reason=reason,
            data={"holder": holder.username, "step": procedure.step.key},
        )
    return procedure
