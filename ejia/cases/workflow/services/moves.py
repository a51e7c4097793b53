"""Every move of a request's procedure is one function here.

Each one: keyword-only arguments, one transaction, the procedure row locked
(`select_for_update`), the move looked up in `transitions.TRANSITIONS` and checked
against the version the actor's screen was drawn from, an audit event naming the actor,
notifications written to the outbox in the same transaction.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ejia.accounts.models import Division, OrgUnit
from ejia.accounts.scope import can_see_division
from ejia.cases.models import Case, ProgrammeRequest
from ejia.cases.workflow.models import (
    OPEN_STATES,
    Decision,
    ProcedureStep,
    RequestProcedure,
    StepRecord,
    UnitLevel,
)
from ejia.cases.workflow.notifications import case_message
from ejia.cases.workflow.procedures import template_for
from ejia.cases.workflow.review import check_state
from ejia.cases.workflow.services.statuses import decision_status_apply
from ejia.cases.workflow.transitions import UNCLAIMED_OK, Action, Move, move_for
from ejia.core.audit import audit_record
from ejia.core.i18n import official_language
from ejia.core.workdays import WorkCalendar
from ejia.dashboards.tasks import enqueue_after_commit
from ejia.verification.models import VerificationCheck


class WorkflowError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class StaleScreen(WorkflowError):
    """Someone else moved the request since the actor's screen was drawn."""


def _today(on: dt.date | None) -> dt.date:
    return on or timezone.localdate()


def mask_name(name: str) -> str:
    """张三明 → 张*明; 张三 → 张*: what a public notice may show of a name."""
    name = (name or "").strip()
    if len(name) <= 1:
        return name or "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# ---------------------------------------------------------------- units


def _unit(division: Division, kind: str, department_id: int | None = None) -> OrgUnit | None:
    qs = OrgUnit.objects.filter(division=division, kind=kind)
    if department_id:
        qs = qs.filter(department_id=department_id)
    return qs.first()


def _ancestor(division: Division, level: str) -> Division | None:
    node = division
    while node is not None and node.level != level:
        node = node.parent
    return node


def acting_unit_for(step: ProcedureStep, *, village: Division, department_id: int) -> OrgUnit:
    """The unit that acts on `step` for a household of `village`."""
    unit = None
    if step.unit_level == UnitLevel.VILLAGE:
        unit = _unit(village, OrgUnit.Kind.STATION)
    elif step.unit_level == UnitLevel.TOWNSHIP:
        unit = _unit(_ancestor(village, Division.Level.TOWNSHIP), OrgUnit.Kind.WINDOW)
    elif step.unit_level == UnitLevel.COUNTY_CENTRE:
        unit = _unit(_ancestor(village, Division.Level.COUNTY), OrgUnit.Kind.CENTRE)
    elif step.unit_level == UnitLevel.DEPARTMENT:
        # The department's office in the household's county, else its city office.
        unit = _unit(_ancestor(village, Division.Level.COUNTY), OrgUnit.Kind.DEPARTMENT, department_id) or _unit(
            _ancestor(village, Division.Level.CITY), OrgUnit.Kind.DEPARTMENT, department_id
        )
    if unit is None:
        raise WorkflowError(f"找不到办理“{step.name}”的单位，请联系系统管理员配置组织机构。")
    return unit


def unit_above(unit: OrgUnit) -> OrgUnit | None:
    """Who supervises an overdue step: township → county centre → city centre."""
    division = unit.division
    if unit.kind == OrgUnit.Kind.STATION:
        return _unit(_ancestor(division, Division.Level.TOWNSHIP), OrgUnit.Kind.WINDOW)
    if unit.kind == OrgUnit.Kind.WINDOW:
        return _unit(_ancestor(division, Division.Level.COUNTY), OrgUnit.Kind.CENTRE)
    if unit.kind == OrgUnit.Kind.DEPARTMENT and division.level == Division.Level.COUNTY:
        return _unit(division, OrgUnit.Kind.CENTRE)
    city = _ancestor(division, Division.Level.CITY)
    if unit.kind == OrgUnit.Kind.CENTRE and division.level == Division.Level.CITY:
        return None
    return _unit(city, OrgUnit.Kind.CENTRE) if city else None


# ---------------------------------------------------------------- start


def _sms_context(procedure: RequestProcedure, **extra) -> dict:
    return {
        "reference": procedure.case.reference,
        "programme": procedure.request.programme.name,
        "step": procedure.step.name,
        **extra,
    }


def procedures_start_for_case(case: Case, *, actor=None, on: dt.date | None = None) -> list[RequestProcedure]:
    """Create the procedure of every open request of `case` that has none yet (idempotent)."""
    today = _today(on)
    calendar = WorkCalendar.load()
    created: list[RequestProcedure] = []
    with transaction.atomic():
        requests = list(
            ProgrammeRequest.objects.select_for_update(of=("self",))
            .filter(case=case, status=ProgrammeRequest.Status.SUBMITTED)
            .exclude(Exists(RequestProcedure.objects.filter(request=OuterRef("pk"))))
            .select_related("programme")
            .order_by("pk")
        )
        if not requests:
            return []
        case = Case.objects.select_related("division__parent__parent__parent").get(pk=case.pk)
        for request in requests:
            template = template_for(request.programme)
            if template is None:
                continue
            step = template.steps.order_by("order").first()
            if step is None:
                continue
            move = move_for(Action.START, None)
            assert move is not None
            unit = acting_unit_for(step, village=case.division, department_id=request.programme.department_id)
            procedure = RequestProcedure.objects.create(
                request=request,
                case=case,
                template=template,
                step=step,
                state=move.target,
                division=case.division,
                department_id=request.programme.department_id,
                acting_unit=unit,
                step_started=today,
                step_due=calendar.add_working_days(today, step.deadline_days),
            )
            StepRecord.objects.create(
                procedure=procedure, step=step, action=Action.START, to_state=move.target, actor=None, unit=unit
            )
            audit_record(
                actor=actor,
                action="workflow.start",
                obj=procedure,
                data={"case": case.reference, "programme": request.programme.code, "step": step.key},
            )
            procedure.request = request
            procedure.case = case
            case_message(
                case=case,
                dedup_key=f"start:{procedure.public_id}",
                template="step_moved",
                context=_sms_context(procedure),
            )
            created.append(procedure)
    return created


# ---------------------------------------------------------------- checks


def _lock(procedure_id: int) -> RequestProcedure:
    try:
        return (
            RequestProcedure.objects.select_for_update(of=("self",))
            .select_related("step", "case__division", "request__programme", "acting_unit", "division")
            .get(pk=procedure_id)
        )
    except RequestProcedure.DoesNotExist:
        raise WorkflowError("没有找到该事项。") from None


def stale_message(procedure: RequestProcedure) -> str:
    where = procedure.get_state_display()
    if procedure.is_open:
        where = f"{where}·{procedure.step.name}"
    return f"该事项已被他人处理（当前状态：{where}），请刷新后再试"


def _check(procedure: RequestProcedure, *, actor, action: str, expected_version: int | None) -> Move:
    if expected_version is not None and procedure.version != expected_version:
        raise StaleScreen(stale_message(procedure))
    move = move_for(action, procedure.state)
    if move is None:
        raise StaleScreen(stale_message(procedure))
    if actor is None:
        if not move.system_allowed:
            raise WorkflowError("此操作须由工作人员办理。")
        return move
    if move.roles and not actor.has_role(*move.roles):
        raise WorkflowError(f"您的角色不能办理“{Action(action).label}”。")
    if not can_see_division(actor, procedure.division):
        raise WorkflowError("该事项不在您的数据权限范围内。")
    if move.step_role and (actor.unit_id != procedure.acting_unit_id or not actor.has_role(procedure.step.role)):
        raise WorkflowError(f"当前环节“{procedure.step.name}”由{procedure.acting_unit.name}办理。")
    if (
        move.step_role
        and action not in UNCLAIMED_OK
        and procedure.claimed_by_id is not None
        and procedure.claimed_by_id != actor.pk
    ):
        raise WorkflowError(f"该事项已由{procedure.claimed_by.get_full_name()}认领办理，请其释放认领后再办理。")
    if move.at_decision is not None and move.at_decision != procedure.step.decides:
        raise WorkflowError("当前环节不是审批决定环节。" if move.at_decision else "审批环节请选择“批准”或“不予批准”。")
    if move.at_notice is not None and move.at_notice != procedure.step.needs_public_notice:
        raise WorkflowError("当前环节不是公示环节。" if move.at_notice else "公示环节须发布公示并在期满后结束。")
    return move


def _record(procedure, *, actor, action, from_state, comment="", step=None) -> None:
    StepRecord.objects.create(
        procedure=procedure,
        step=step or procedure.step,
        action=action,
        from_state=from_state,
        to_state=procedure.state,
        actor=actor,
        unit=getattr(actor, "unit", None) if actor else None,
        comment=comment,
    )


def _enter_step(procedure: RequestProcedure, step: ProcedureStep, *, today: dt.date, state: str) -> None:
    procedure.step = step
    procedure.state = state
    procedure.acting_unit = acting_unit_for(step, village=procedure.division, department_id=procedure.department_id)
    procedure.step_started = today
    procedure.step_due = WorkCalendar.load().add_working_days(today, step.deadline_days)
    procedure.escalated_to = None
    procedure.escalated_at = None
    # A claim follows the request while its holder can act on the new step (the township
    # clerk who accepted it usually verifies and visits too), and ends where they cannot.
    holder = procedure.claimed_by if procedure.claimed_by_id else None
    if holder is not None and (holder.unit_id != procedure.acting_unit_id or not holder.has_role(step.role)):
        procedure.claimed_by = None
        procedure.claimed_at = None


def _save(procedure: RequestProcedure) -> None:
    procedure.version += 1
    procedure.save(
        update_fields=[
            "step",
            "state",
            "acting_unit",
            "step_started",
            "step_due",
            "escalated_to",
            "escalated_at",
            "claimed_by",
            "claimed_at",
            "version",
            "updated_at",
        ]
    )


def _next_step(procedure: RequestProcedure) -> ProcedureStep:
    step = procedure.template.steps.filter(order__gt=procedure.step.order).order_by("order").first()
    if step is None:
        raise WorkflowError("已是最后一个环节。")
    return step


def _requirements_missing(procedure: RequestProcedure) -> list[str]:
    step = procedure.step
    missing = []
    if step.needs_home_visit and not procedure.home_visits.exists():
        missing.append("请先登记入户调查（两名工作人员）")
    if step.needs_appraisal and not procedure.appraisals.exists():
        missing.append("请先登记民主评议")
    if step.needs_self_care_assessment and not procedure.self_care.exists():
        missing.append("请先完成生活自理能力评估")
    return missing


def _verification_for_step(
    procedure: RequestProcedure, *, check_id, failed_acknowledged: bool
) -> tuple[VerificationCheck | None, list[str], str]:
    """The verification step closes on the case's latest finished one-click check: complete,
    or partial with the clerk acknowledging, on the screen that listed them, which sources
    failed (a failed source is unknown, never "nothing found"). Returns the check, the
    acknowledged failures and what is still missing."""
    state = check_state(procedure.case)
    if state.problem:
        return None, [], state.problem
    # Locked: a source asked again flips the check back to running under the same row.
    check = VerificationCheck.objects.select_for_update().get(pk=state.check.pk)
    if check_id is not None and str(check.public_id) != str(check_id):
        raise StaleScreen("家庭经济状况核对结果已更新（有新的核对），请刷新后查看最新核对结果再办结")
    state = check_state(procedure.case, check)
    if state.problem:
        return None, [], state.problem
    if state.partial and not failed_acknowledged:
        names = "、".join(state.failed_sources) or "部分数据源"
        return check, [], f"以下数据源查询失败：{names}，请勾选确认已知悉后再办结"
    return check, state.failed_sources if state.partial else [], ""


def dashboards_refresh_after_commit() -> None:
    """A request decided or withdrawn changes this month's applications, step times and
    backlog on the dashboards: their summaries of the current month are refreshed once the
    move commits (a failed refresh is recorded there, never undoing the move)."""
    enqueue_after_commit(trigger="decision", months=[timezone.localdate().replace(day=1)], parts=["cases", "backlog"])


# ---------------------------------------------------------------- moves


@official_language
def procedure_complete(
    *,
    actor,
    procedure_id: int,
    expected_version: int | None,
    comment: str = "",
    check_id=None,
    failed_acknowledged: bool = False,
    on: dt.date | None = None,
) -> RequestProcedure:
    """Finish the current (non-deciding, non-notice) step and pass to the next one. At a
    verification step `check_id` is the check the clerk's screen showed (None: the latest)."""
    with transaction.atomic():
        procedure = _lock(procedure_id)
        move = _check(procedure, actor=actor, action=Action.COMPLETE, expected_version=expected_version)
        missing = _requirements_missing(procedure)
        check, failed = None, []
        if procedure.step.needs_verification:
            check, failed, problem = _verification_for_step(
                procedure, check_id=check_id, failed_acknowledged=failed_acknowledged
            )
            if problem:
                missing.insert(0, problem)
        if missing:
            raise WorkflowError("；".join(missing) + "。")
        done = procedure.step
        data = {"from_step": done.key, "case": procedure.case.reference}
        note = comment
        if check is not None:
            data |= {"check": str(check.public_id), "check_status": check.status, "failed_sources": failed}
            line = f"依据一键核对 {check.public_id}（{check.get_status_display()}"
            line += f"，已知悉查询失败：{'、'.join(failed)}）" if failed else "）"
            note = f"{comment.strip()}\n{line}" if comment.strip() else line
        _record(procedure, actor=actor, action=Action.COMPLETE, from_state=procedure.state, comment=note)
        _enter_step(procedure, _next_step(procedure), today=_today(on), state=move.target)
        _save(procedure)
        audit_record(
            actor=actor,
            action="workflow.complete",
            obj=procedure,
            reason=comment,
            data={**data, "to_step": procedure.step.key},
        )
        case_message(
            case=procedure.case,
            dedup_key=f"step:{procedure.public_id}:{procedure.version}",
            template="step_moved",
            context=_sms_context(procedure),
        )
    return procedure


def procedure_return(
    *, actor, procedure_id: int, expected_version: int | None, reason: str, on: dt.date | None = None
) -> RequestProcedure:
    """Send the request back to the previous step; the reason is required and recorded."""
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("退回须填写理由。")
    with transaction.atomic():
        procedure = _lock(procedure_id)
        move = _check(procedure, actor=actor, action=Action.RETURN, expected_version=expected_version)
        previous = procedure.template.steps.filter(order__lt=procedure.step.order).order_by("-order").first()
        if previous is None:
            raise WorkflowError("已是第一个环节，不能退回。")
        from_state, from_step = procedure.state, procedure.step
        _enter_step(procedure, previous, today=_today(on), state=move.target)
        _save(procedure)
        _record(procedure, actor=actor, action=Action.RETURN, from_state=from_state, comment=reason, step=from_step)
        audit_record(
            actor=actor,
            action="workflow.return",
            obj=procedure,
            reason=reason,
            data={"from_step": from_step.key, "to_step": previous.key},
        )
        case_message(
            case=procedure.case,
            dedup_key=f"return:{procedure.public_id}:{procedure.version}",
            template="returned",
            context=_sms_context(procedure, reason=reason),
        )
    return procedure


def _decide(
    procedure: RequestProcedure, *, actor, outcome: str, amount_fen, proposed, change_reason: str, reasons: str
) -> Decision:
    decision = Decision.objects.create(
        procedure=procedure,
        outcome=outcome,
        amount_fen=amount_fen,
        amount_fen_proposed=proposed,
        amount_change_reason=change_reason,
        reasons=reasons,
        decided_by=actor,
        unit=procedure.acting_unit,
        decided_at=timezone.now(),
    )
    status = (
        ProgrammeRequest.Status.APPROVED if outcome == Decision.Outcome.APPROVED else ProgrammeRequest.Status.REJECTED
    )
    ProgrammeRequest.objects.filter(pk=procedure.request_id).update(
        status=status, is_open=False, updated_at=timezone.now()
    )
    return decision


def proposed_amount(procedure: RequestProcedure) -> int | None:
    if procedure.request.amount_fen_proposed is not None:
        return procedure.request.amount_fen_proposed
    entry = procedure.request.plan_entry()
    return entry.amount_fen if entry is not None else None


def procedure_approve(
    *,
    actor,
    procedure_id: int,
    expected_version: int | None,
    amount_fen: int | None = None,
    amount_change_reason: str = "",
    comment: str = "",
) -> Decision:
    """Approve at the deciding step, with the engine's amount or a changed one with a reason."""
    with transaction.atomic():
        procedure = _lock(procedure_id)
        move = _check(procedure, actor=actor, action=Action.APPROVE, expected_version=expected_version)
        request = procedure.request
        if request.programme.target == request.programme.Target.MEMBER and request.person_id is None:
            # A benefit paid to a person cannot be approved for nobody in particular.
            raise WorkflowError(f"“{request.programme.name}”以个人为单位，申请未指明享受人，不能批准；请退回窗口补正。")
        proposed = proposed_amount(procedure)
        if amount_fen is None:
            amount_fen = proposed
        if amount_fen is not None and amount_fen < 0:
            raise WorkflowError("金额不能为负数。")
        programme = procedure.request.programme
        if programme.pays_cash and not amount_fen:
            # An approval that pays nothing is never paid and never noticed: refuse it here.
            raise WorkflowError(
                f"“{programme.name}”是现金救助，批准时须核定发放金额（大于0元）。"
                "测算未得出金额的，请填写核定金额并说明理由；不符合条件的，请作出不予批准决定。"
            )
        change_reason = (amount_change_reason or "").strip()
        if amount_fen != proposed and not change_reason:
            raise WorkflowError("核定金额与测算金额不同，请填写调整理由。")
        from_state = procedure.state
        procedure.state = move.target
        _save(procedure)
        decision = _decide(
            procedure,
            actor=actor,
            outcome=Decision.Outcome.APPROVED,
            amount_fen=amount_fen,
            proposed=proposed,
            change_reason=change_reason,
            reasons="",
        )
        _record(procedure, actor=actor, action=Action.APPROVE, from_state=from_state, comment=comment)
        decision_status_apply(actor=actor, procedure=procedure, decision=decision)
        audit_record(
            actor=actor,
            action="workflow.approve",
            obj=procedure,
            reason=change_reason or comment,
            data={"amount_fen": amount_fen, "proposed_fen": proposed, "request": str(procedure.request.public_id)},
        )
        # The money follows in the same transaction (disbursement registers the listener: it
        # sits above the case system in the dependency order).
        for listener in APPROVAL_LISTENERS:
            listener(actor=actor, decision=decision)
        dashboards_refresh_after_commit()
    return decision


# Called inside the approval's transaction with the new decision; registered by the apps that
# act on approvals (disbursement: the entitlement). A listener never raises for a decision it
# cannot act on: it leaves a visible item for someone instead.
APPROVAL_LISTENERS: list = []


def on_approval(listener) -> None:
    if listener not in APPROVAL_LISTENERS:
        APPROVAL_LISTENERS.append(listener)


def procedure_refuse(*, actor, procedure_id: int, expected_version: int | None, reasons: str) -> Decision:
    """Refuse at the deciding step; the written reasons are required (Art. 11)."""
    reasons = (reasons or "").strip()
    if not reasons:
        raise WorkflowError("不予批准须书面说明理由。")
    with transaction.atomic():
        procedure = _lock(procedure_id)
        move = _check(procedure, actor=actor, action=Action.REFUSE, expected_version=expected_version)
        from_state = procedure.state
        procedure.state = move.target
        _save(procedure)
        decision = _decide(
            procedure,
            actor=actor,
            outcome=Decision.Outcome.REFUSED,
            amount_fen=None,
            proposed=proposed_amount(procedure),
            change_reason="",
            reasons=reasons,
        )
        _record(procedure, actor=actor, action=Action.REFUSE, from_state=from_state, comment=reasons)
        audit_record(actor=actor, action="workflow.refuse", obj=procedure, reason=reasons)
        dashboards_refresh_after_commit()
    return decision


def procedure_escalate(
    *, actor, procedure_id: int, expected_version: int | None = None, on: dt.date | None = None
) -> RequestProcedure:
    """List an overdue step for the unit above (督办); the acting unit still acts."""
    with transaction.atomic():
        procedure = _lock(procedure_id)
        _check(procedure, actor=actor, action=Action.ESCALATE, expected_version=expected_version)
        if procedure.step_due >= _today(on):
            raise WorkflowError("该事项尚未超期。")
        if procedure.escalated_to_id:
            raise StaleScreen(stale_message(procedure))
        above = unit_above(procedure.acting_unit)
        if above is None:
            raise WorkflowError("没有上级单位可督办。")
        if actor is not None and actor.unit_id != above.pk:
            raise WorkflowError(f"超期事项由{above.name}督办。")
        procedure.escalated_to = above
        procedure.escalated_at = timezone.now()
        procedure.version += 1
        procedure.save(update_fields=["escalated_to", "escalated_at", "version", "updated_at"])
        _record(
            procedure,
            actor=actor,
            action=Action.ESCALATE,
            from_state=procedure.state,
            comment=f"超期，由{above.name}督办",
        )
        audit_record(
            actor=actor,
            action="workflow.escalate",
            obj=procedure,
            data={"step": procedure.step.key, "due": procedure.step_due.isoformat(), "to": above.name},
        )
    return procedure


def procedures_escalate_overdue(*, on: dt.date | None = None) -> int:
    today = _today(on)
    count = 0
    ids = RequestProcedure.objects.filter(
        state__in=OPEN_STATES, step_due__lt=today, escalated_to__isnull=True
    ).values_list("pk", flat=True)
    for pk in list(ids):
        try:
            procedure_escalate(actor=None, procedure_id=pk, on=today)
            count += 1
        except WorkflowError:
            continue
    return count
