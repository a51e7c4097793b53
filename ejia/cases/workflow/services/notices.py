"""The village public notice (公示) with objections, the joint review and the one decision notice."""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.utils import timezone

from ejia.accounts.models import Division, OrgUnit
from ejia.accounts.policies import Capability, allows
from ejia.cases.models import Case, CaseStatus
from ejia.cases.workflow.models import (
    DecisionNotice,
    JointReview,
    Objection,
    ProcedureState,
    PublicNotice,
    PublicNoticeEntry,
    RequestProcedure,
)
from ejia.cases.workflow.notifications import case_message
from ejia.cases.workflow.services.moves import (
    StaleScreen,
    WorkflowError,
    _ancestor,
    _check,
    _enter_step,
    _lock,
    _next_step,
    _record,
    _save,
    _sms_context,
    _today,
    _unit,
    mask_name,
    proposed_amount,
)
from ejia.cases.workflow.transitions import Action
from ejia.core.audit import audit_record
from ejia.core.i18n import official_language
from ejia.core.money import format_fen

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
            case_message(
                case=procedure.case,
                dedup_key=f"notice:{notice.public_id}:{procedure.public_id}",
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
        case_message(
            case=procedure.case,
            dedup_key=f"step:{procedure.public_id}:{procedure.version}",
            template="step_moved",
            context=_sms_context(procedure),
        )
    return procedure


# ---------------------------------------------------------------- joint review and notice


def joint_review_unit(case: Case) -> OrgUnit | None:
    return _unit(_ancestor(case.division, Division.Level.COUNTY), OrgUnit.Kind.CENTRE)


@official_language
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
                "benefit_form": procedure.request.programme.get_benefit_form_display(),
                "reasons": decision.reasons if decision else "",
                "unit": decision.unit.name if decision else "",
            }
        )
    return rows


def decision_amount_text(row: dict) -> str:
    """What the notice says under 金额 for one programme: the decided amount with its period,
    else (a benefit that is not cash) its form; never a bare dash after 批准."""
    if row.get("amount_fen") is not None:
        return f"{row.get('amount_period', '')}{format_fen(row['amount_fen'])}"
    if row.get("outcome") == ProcedureState.APPROVED:
        return row.get("benefit_form") or "按规定享受"
    return "—"


def decision_line(row: dict) -> str:
    """最低生活保障已批准（每月¥1,078.00） · 医疗救助已批准（费用减免或报销） · 临时救助不予批准."""
    if row.get("outcome") == ProcedureState.APPROVED:
        return f"{row['programme']}{row['outcome_label']}（{decision_amount_text(row)}）"
    return f"{row['programme']}{row['outcome_label']}"


def joint_review_issue(*, actor, case_id: int, opinion: str = "") -> DecisionNotice:
    """联合审核 of a case whose requests are all decided, and its one decision notice."""
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("division__parent__parent").get(pk=case_id)
        unit = joint_review_unit(case)
        if unit is None or actor.unit_id != unit.pk or not allows(actor, Capability.JOINT_REVIEW):
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
        summary = "；".join(decision_line(row) for row in notice.content)
        case_message(
            case=case,
            dedup_key=f"decision:{case.public_id}",
            template="decision_issued",
            context={"reference": case.reference, "summary": summary, "number": notice.number},
        )
    return notice
