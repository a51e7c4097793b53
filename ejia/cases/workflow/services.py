"""Every move of a request's procedure is one function here.

Each one: keyword-only arguments, one transaction, the procedure row locked
(`select_for_update`), the move looked up in `transitions.TRANSITIONS` and checked
against the version the actor's screen was drawn from, an audit event naming the actor,
notifications written to the outbox in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from ejia.accounts.models import Division, OrgUnit
from ejia.accounts.scope import can_see_division
from ejia.cases.models import Case, CaseStatus, ProgrammeRequest
from ejia.cases.workflow.models import (
    DAILY_ACTIVITIES,
    OPEN_STATES,
    Appraisal,
    Decision,
    DecisionNotice,
    HomeVisit,
    HomeVisitPhoto,
    JointReview,
    Objection,
    ProcedureState,
    ProcedureStep,
    PublicNotice,
    PublicNoticeEntry,
    RequestProcedure,
    SelfCareAssessment,
    StepRecord,
    UnitLevel,
    self_care_level,
)
from ejia.cases.workflow.notifications import outbox_enqueue
from ejia.cases.workflow.procedures import template_for
from ejia.cases.workflow.transitions import Action, Move, move_for
from ejia.core.audit import audit_record
from ejia.core.workdays import WorkCalendar


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
            outbox_enqueue(
                dedup_key=f"start:{procedure.public_id}",
                recipient=case.phone,
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
            .select_related("step", "case", "request__programme", "acting_unit", "division")
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
            "version",
            "updated_at",
        ]
    )


def _next_step(procedure: RequestProcedure) -> ProcedureStep:
    step = procedure.template.steps.filter(order__gt=procedure.step.order).order_by("order").first()
    if step is None:
        raise WorkflowError("已是最后一个环节。")
    return step


def _requirements_missing(procedure: RequestProcedure, *, verified: bool) -> list[str]:
    step = procedure.step
    missing = []
    if step.needs_verification and not verified:
        missing.append("请先确认已审阅家庭经济状况核对报告")
    if step.needs_home_visit and not procedure.home_visits.exists():
        missing.append("请先登记入户调查（两名工作人员）")
    if step.needs_appraisal and not procedure.appraisals.exists():
        missing.append("请先登记民主评议")
    if step.needs_self_care_assessment and not procedure.self_care.exists():
        missing.append("请先完成生活自理能力评估")
    return missing


# ---------------------------------------------------------------- moves


def procedure_complete(
    *,
    actor,
    procedure_id: int,
    expected_version: int | None,
    comment: str = "",
    verified: bool = False,
    on: dt.date | None = None,
) -> RequestProcedure:
    """Finish the current (non-deciding, non-notice) step and pass to the next one."""
    with transaction.atomic():
        procedure = _lock(procedure_id)
        move = _check(procedure, actor=actor, action=Action.COMPLETE, expected_version=expected_version)
        missing = _requirements_missing(procedure, verified=verified)
        if missing:
            raise WorkflowError("；".join(missing) + "。")
        done = procedure.step
        _record(procedure, actor=actor, action=Action.COMPLETE, from_state=procedure.state, comment=comment)
        _enter_step(procedure, _next_step(procedure), today=_today(on), state=move.target)
        _save(procedure)
        audit_record(
            actor=actor,
            action="workflow.complete",
            obj=procedure,
            reason=comment,
            data={"from_step": done.key, "to_step": procedure.step.key, "case": procedure.case.reference},
        )
        outbox_enqueue(
            dedup_key=f"step:{procedure.public_id}:{procedure.version}",
            recipient=procedure.case.phone,
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
        outbox_enqueue(
            dedup_key=f"return:{procedure.public_id}:{procedure.version}",
            recipient=procedure.case.phone,
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
    code = procedure.request.programme.code
    for entry in procedure.case.plan or []:
        if entry.get("code") == code:
            return entry.get("amount_fen")
    return None


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
        proposed = proposed_amount(procedure)
        if amount_fen is None:
            amount_fen = proposed
        if amount_fen is not None and amount_fen < 0:
            raise WorkflowError("金额不能为负数。")
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
        audit_record(
            actor=actor,
            action="workflow.approve",
            obj=procedure,
            reason=change_reason or comment,
            data={"amount_fen": amount_fen, "proposed_fen": proposed, "request": str(procedure.request.public_id)},
        )
    return decision


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
    return decision


def procedure_withdraw(
    *, actor, procedure_id: int, expected_version: int | None, reason: str = "申请人申请撤回"
) -> RequestProcedure:
    with transaction.atomic():
        procedure = _lock(procedure_id)
        move = _check(procedure, actor=actor, action=Action.WITHDRAW, expected_version=expected_version)
        from_state = procedure.state
        procedure.state = move.target
        _save(procedure)
        ProgrammeRequest.objects.filter(pk=procedure.request_id).update(
            status=ProgrammeRequest.Status.WITHDRAWN, is_open=False, updated_at=timezone.now()
        )
        _record(procedure, actor=actor, action=Action.WITHDRAW, from_state=from_state, comment=reason)
        audit_record(actor=actor, action="workflow.withdraw", obj=procedure, reason=reason)
        outbox_enqueue(
            dedup_key=f"withdraw:{procedure.public_id}",
            recipient=procedure.case.phone,
            template="withdrawn",
            context=_sms_context(procedure),
        )
    return procedure


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


# ---------------------------------------------------------------- records at a step


def _require_step(procedure: RequestProcedure, actor, flag: str, label: str) -> None:
    if not procedure.is_open or not getattr(procedure.step, flag):
        raise WorkflowError(f"当前环节不是{label}环节。")
    if actor.unit_id != procedure.acting_unit_id or not actor.has_role(procedure.step.role):
        raise WorkflowError(f"{label}由{procedure.acting_unit.name}办理。")


MAX_PHOTO_BYTES = 5 * 1024 * 1024


def validate_photo(upload) -> None:
    from PIL import Image, UnidentifiedImageError

    if upload.size > MAX_PHOTO_BYTES:
        raise WorkflowError(f"照片“{upload.name}”超过 5 MB。")
    try:
        upload.seek(0)
        with Image.open(upload) as img:
            img.verify()
        upload.seek(0)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise WorkflowError(f"“{upload.name}”不是有效的图片文件。") from None


def home_visit_record(
    *,
    actor,
    procedure_id: int,
    visit_date: dt.date,
    staff_1,
    staff_2,
    findings: str,
    photos: Iterable = (),
) -> HomeVisit:
    """入户调查 by two distinct staff of the acting unit (or a village station below it)."""
    if staff_1 is None or staff_2 is None or staff_1.pk == staff_2.pk:
        raise WorkflowError("入户调查须由两名不同的工作人员进行。")
    if not (findings or "").strip():
        raise WorkflowError("请填写调查情况。")
    photos = list(photos)
    for photo in photos:
        validate_photo(photo)
    with transaction.atomic():
        procedure = _lock(procedure_id)
        _require_step(procedure, actor, "needs_home_visit", "入户调查")
        for person in (staff_1, staff_2):
            if person.unit is None or not person.unit.division.path.startswith(procedure.acting_unit.division.path):
                raise WorkflowError(f"{person.get_full_name()}不是本乡镇（街道）的工作人员。")
        visit = HomeVisit.objects.create(
            procedure=procedure,
            visit_date=visit_date,
            staff_1=staff_1,
            staff_2=staff_2,
            findings=findings.strip(),
            recorded_by=actor,
        )
        for photo in photos:
            HomeVisitPhoto.objects.create(visit=visit, image=photo)
        audit_record(
            actor=actor,
            action="workflow.home_visit",
            obj=procedure,
            data={"date": visit_date.isoformat(), "staff": [staff_1.username, staff_2.username], "photos": len(photos)},
        )
    return visit


def appraisal_record(
    *, actor, procedure_id: int, held_on: dt.date, participants: int, votes_for: int, opinion: str
) -> Appraisal:
    if votes_for > participants:
        raise WorkflowError("同意票数不能多于参加人数。")
    with transaction.atomic():
        procedure = _lock(procedure_id)
        if not procedure.is_open or actor.unit_id != procedure.acting_unit_id:
            raise WorkflowError("民主评议由当前办理单位登记。")
        appraisal = Appraisal.objects.create(
            procedure=procedure,
            held_on=held_on,
            participants=participants,
            votes_for=votes_for,
            opinion=opinion.strip(),
            recorded_by=actor,
        )
        audit_record(
            actor=actor, action="workflow.appraisal", obj=procedure, data={"for": votes_for, "of": participants}
        )
    return appraisal


def self_care_record(
    *, actor, procedure_id: int, person_name: str, assessed_on: dt.date, can_do: dict[str, bool]
) -> SelfCareAssessment:
    """Six daily activities; the number failed gives the level (0 full, ≤3 partial, ≥4 none)."""
    activities = {key: bool(can_do.get(key)) for key, _ in DAILY_ACTIVITIES}
    failed = sum(1 for ok in activities.values() if not ok)
    with transaction.atomic():
        procedure = _lock(procedure_id)
        _require_step(procedure, actor, "needs_self_care_assessment", "生活自理能力评估")
        assessment = SelfCareAssessment.objects.create(
            procedure=procedure,
            person_name=person_name,
            assessed_on=assessed_on,
            activities=activities,
            failed_count=failed,
            level=self_care_level(failed),
            recorded_by=actor,
        )
        audit_record(
            actor=actor, action="workflow.self_care", obj=procedure, data={"failed": failed, "level": assessment.level}
        )
    return assessment


# ---------------------------------------------------------------- public notice


def _household_size(case: Case) -> int:
    return len((case.declared_facts or {}).get("members") or []) or case.household.current_memberships().count()


def notice_publish(*, actor, versions: dict[int, int | None], on: dt.date | None = None) -> PublicNotice:
    """Put the given requests (one village) on a 7-day notice; `versions`: procedure id → version."""
    if not versions:
        raise WorkflowError("请选择要公示的事项。")
    start = _today(on)
    with transaction.atomic():
        procedures = [_lock(pk) for pk in sorted(versions)]
        villages = {p.division_id for p in procedures}
        if len(villages) != 1:
            raise WorkflowError("一份公示只能包含同一村（社区）的事项。")
        moves = [
            _check(p, actor=actor, action=Action.PUBLISH_NOTICE, expected_version=versions[p.pk]) for p in procedures
        ]
        notice = PublicNotice.objects.create(
            village=procedures[0].division,
            unit=actor.unit,
            start_date=start,
            end_date=start + dt.timedelta(days=PublicNotice.NOTICE_DAYS),
            published_by=actor,
        )
        for procedure, move in zip(procedures, moves, strict=True):
            PublicNoticeEntry.objects.create(
                notice=notice,
                procedure=procedure,
                masked_name=mask_name(procedure.case.applicant.name),
                household_size=_household_size(procedure.case),
                programme_name=procedure.request.programme.name,
                amount_fen=proposed_amount(procedure),
            )
            from_state = procedure.state
            procedure.state = move.target
            _save(procedure)
            _record(procedure, actor=actor, action=Action.PUBLISH_NOTICE, from_state=from_state)
            outbox_enqueue(
                dedup_key=f"notice:{notice.public_id}:{procedure.public_id}",
                recipient=procedure.case.phone,
                template="notice_published",
                context=_sms_context(procedure, village=notice.village.name, end_date=notice.end_date.isoformat()),
            )
        audit_record(
            actor=actor,
            action="workflow.notice_publish",
            obj=notice,
            data={"village": notice.village.code, "entries": len(procedures), "end": notice.end_date.isoformat()},
        )
    return notice


def objection_record(*, actor, notice_id: int, procedure_id: int, text: str) -> Objection:
    text = (text or "").strip()
    if not text:
        raise WorkflowError("请填写异议内容。")
    with transaction.atomic():
        procedure = _lock(procedure_id)
        notice = PublicNotice.objects.select_for_update().get(pk=notice_id)
        if not notice.entries.filter(procedure=procedure).exists():
            raise WorkflowError("该事项不在这份公示中。")
        if actor.unit_id != notice.unit_id:
            raise WorkflowError("异议由发布公示的单位登记。")
        objection = Objection.objects.create(notice=notice, procedure=procedure, text=text, received_by=actor)
        audit_record(actor=actor, action="workflow.objection", obj=objection, data={"notice": str(notice.public_id)})
    return objection


def objection_resolve(*, actor, objection_id: int, resolution: str) -> Objection:
    resolution = (resolution or "").strip()
    if not resolution:
        raise WorkflowError("请填写核实处理结果。")
    with transaction.atomic():
        objection = Objection.objects.select_for_update().select_related("notice").get(pk=objection_id)
        if objection.is_resolved:
            raise StaleScreen("该异议已被他人处理，请刷新后再试")
        if actor.unit_id != objection.notice.unit_id:
            raise WorkflowError("异议由发布公示的单位处理。")
        objection.resolution = resolution
        objection.resolved_by = actor
        objection.resolved_at = timezone.now()
        objection.save(update_fields=["resolution", "resolved_by", "resolved_at", "updated_at"])
        audit_record(actor=actor, action="workflow.objection_resolve", obj=objection, reason=resolution)
    return objection


def notice_close(
    *, actor, procedure_id: int, expected_version: int | None, comment: str = "", on: dt.date | None = None
) -> RequestProcedure:
    """End the notice for one request once 7 days have passed and every objection is resolved."""
    today = _today(on)
    with transaction.atomic():
        procedure = _lock(procedure_id)
        move = _check(procedure, actor=actor, action=Action.CLOSE_NOTICE, expected_version=expected_version)
        entry = procedure.notice_entries.select_related("notice").order_by("-notice__start_date", "-pk").first()
        if entry is None:
            raise WorkflowError("没有找到该事项的公示。")
        notice = entry.notice
        if today < notice.end_date:
            raise WorkflowError(f"公示期至{notice.end_date:%Y年%m月%d日}，期满后才能结束公示。")
        if procedure.objections.filter(notice=notice, resolved_at__isnull=True).exists():
            raise WorkflowError("公示期间收到的异议尚未核实处理，不能结束公示。")
        from_state = procedure.state
        _record(procedure, actor=actor, action=Action.CLOSE_NOTICE, from_state=from_state, comment=comment)
        _enter_step(procedure, _next_step(procedure), today=today, state=move.target)
        _save(procedure)
        if not notice.entries.filter(procedure__state=ProcedureState.IN_NOTICE).exclude(procedure=procedure).exists():
            PublicNotice.objects.filter(pk=notice.pk).update(status=PublicNotice.Status.CLOSED)
        audit_record(actor=actor, action="workflow.notice_close", obj=procedure, data={"notice": str(notice.public_id)})
        outbox_enqueue(
            dedup_key=f"step:{procedure.public_id}:{procedure.version}",
            recipient=procedure.case.phone,
            template="step_moved",
            context=_sms_context(procedure),
        )
    return procedure


# ---------------------------------------------------------------- joint review and notice


def joint_review_unit(case: Case) -> OrgUnit | None:
    return _unit(_ancestor(case.division, Division.Level.COUNTY), OrgUnit.Kind.CENTRE)


def decision_content(case: Case) -> list[dict]:
    rows = []
    for procedure in (
        RequestProcedure.objects.filter(case=case)
        .select_related("request__programme__department", "decision", "decision__unit")
        .order_by("request_id")
    ):
        decision = getattr(procedure, "decision", None)
        rows.append(
            {
                "programme": procedure.request.programme.name,
                "department": procedure.request.programme.department.name,
                "outcome": procedure.state,
                "outcome_label": str(ProcedureState(procedure.state).label),
                "amount_fen": decision.amount_fen if decision else None,
                "amount_period": procedure.request.programme.get_amount_period_display()
                if procedure.request.programme.amount_period
                else "",
                "reasons": decision.reasons if decision else "",
                "unit": decision.unit.name if decision else "",
            }
        )
    return rows


def joint_review_issue(*, actor, case_id: int, opinion: str = "") -> DecisionNotice:
    """联合审核 of a case whose requests are all decided, and its one decision notice."""
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("division__parent__parent").get(pk=case_id)
        unit = joint_review_unit(case)
        if unit is None or actor.unit_id != unit.pk or not actor.has_role("county_reviewer", "centre_director"):
            raise WorkflowError("联合审核由申请家庭所在县（市、区）社会救助管理服务中心办理。")
        if JointReview.objects.filter(case=case).exists():
            raise StaleScreen("该申请件已出具决定通知书，请刷新后再试")
        procedures = list(RequestProcedure.objects.select_for_update().filter(case=case).order_by("pk"))
        if not procedures:
            raise WorkflowError("该申请件没有办理中的事项。")
        if any(p.is_open for p in procedures):
            raise WorkflowError("还有事项尚未办结，不能出具决定通知书。")
        now = timezone.now()
        review = JointReview.objects.create(
            case=case, unit=unit, reviewer=actor, opinion=opinion.strip(), reviewed_at=now
        )
        try:
            with transaction.atomic():
                notice = DecisionNotice.objects.create(
                    case=case,
                    joint_review=review,
                    number=f"{case.reference}-JD",
                    issued_at=now,
                    content=decision_content(case),
                )
        except IntegrityError:
            raise StaleScreen("该申请件已出具决定通知书，请刷新后再试") from None
        Case.objects.filter(pk=case.pk).update(status=CaseStatus.CLOSED, updated_at=now)
        audit_record(
            actor=actor,
            action="workflow.decision_notice",
            obj=notice,
            reason=opinion,
            data={"case": case.reference, "items": len(notice.content)},
        )
        summary = "；".join(f"{row['programme']}{row['outcome_label']}" for row in notice.content)
        outbox_enqueue(
            dedup_key=f"decision:{case.public_id}",
            recipient=case.phone,
            template="decision_issued",
            context={"reference": case.reference, "summary": summary, "number": notice.number},
        )
    return notice
