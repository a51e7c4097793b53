"""申请人撤回: the applicant withdraws a whole case, or some of its requests.

Two ways in: the applicant tells the window or the village station and the clerk records it
(`case_withdraw`), or the applicant does it themselves from the citizen tracker after logging
in with the case's phone number and an SMS code (`case_withdraw_by_applicant`, no staff
actor). Both run the same body: every open request named is closed, its procedure moved to
`withdrawn` through the transitions table, and the household gets one SMS. Rows are locked
case → procedures → requests, the order the joint review (case → procedures) and the step
moves (procedure → request) already take, so a withdrawal racing an approval waits instead
of deadlocking.
"""

from __future__ import annotations

from collections.abc import Collection

from django.db import transaction
from django.utils import timezone

from ejia.accounts.scope import can_see_division
from ejia.cases.models import Case, CaseStatus, ProgrammeRequest
from ejia.cases.workflow.models import OPEN_STATES, RequestProcedure
from ejia.cases.workflow.notifications import case_message
from ejia.cases.workflow.services.moves import (
    StaleScreen,
    WorkflowError,
    _check,
    _record,
    _save,
    dashboards_refresh_after_commit,
)
from ejia.cases.workflow.transitions import Action, move_for
from ejia.core.audit import audit_record
from ejia.core.sms import mask_phone

DEFAULT_REASON = "申请人申请撤回"
APPLICANT_PREFIX = "申请人通过进度查询自行撤回："


def _may_withdraw(actor) -> bool:
    move = move_for(Action.WITHDRAW, OPEN_STATES[0])
    assert move is not None
    return actor is not None and actor.has_role(*move.roles)


def case_withdraw(
    *,
    actor,
    case_id: int,
    reason: str,
    request_ids: Collection[int] | None = None,
    expected_versions: dict[int, int | None] | None = None,
) -> list[ProgrammeRequest]:
    """The clerk records the applicant's withdrawal of the requests `request_ids` of a case
    (every open one when None).

    A request that was decided or withdrawn since the clerk's screen was drawn makes the
    whole withdrawal stale: nothing moves, the clerk sees which one. When no request is left
    open and none was decided, the case itself is withdrawn; otherwise the decided ones go
    on to the joint review and its decision notice."""
    reason = (reason or "").strip()
    if not reason:
        raise WorkflowError("请填写撤回理由（申请人的撤回说明）。")
    if not _may_withdraw(actor):
        raise WorkflowError("申请人撤回由乡镇（街道）窗口或村（社区）工作站登记。")
    return _withdraw(
        actor=actor,
        applicant_phone="",
        case_id=case_id,
        reason=reason,
        request_ids=request_ids,
        expected_versions=expected_versions or {},
    )


def case_withdraw_by_applicant(
    *,
    phone: str,
    case_public_id,
    reason: str = DEFAULT_REASON,
    request_public_ids: Collection[str] | None = None,
) -> list[ProgrammeRequest]:
    """The applicant withdraws from the citizen tracker: `phone` is the number the session
    verified by SMS code, and must be the case's own.

    No versions are checked: a step finished by a clerk meanwhile does not matter to the
    applicant, only a request decided or withdrawn since the page was drawn does (stale)."""
    phone = (phone or "").strip()
    if not phone:
        raise WorkflowError("请先用手机号登录后再撤回申请。")
    case_id = Case.objects.filter(public_id=case_public_id).values_list("pk", flat=True).first()
    if case_id is None:
        raise WorkflowError("没有找到这份申请。")
    request_ids = None
    if request_public_ids is not None:
        wanted = {str(public_id) for public_id in request_public_ids}
        rows = ProgrammeRequest.objects.filter(case_id=case_id).values_list("pk", "public_id")
        request_ids = [pk for pk, public_id in rows if str(public_id) in wanted]
        if len(request_ids) != len(wanted):
            raise WorkflowError("所选事项不属于这份申请。")
    reason = (reason or "").strip() or DEFAULT_REASON
    return _withdraw(
        actor=None,
        applicant_phone=phone,
        case_id=case_id,
        reason=APPLICANT_PREFIX + reason,
        request_ids=request_ids,
        expected_versions={},
    )


def _withdraw(
    *,
    actor,
    applicant_phone: str,
    case_id: int,
    reason: str,
    request_ids: Collection[int] | None,
    expected_versions: dict[int, int | None],
) -> list[ProgrammeRequest]:
    """The one body of both ways in. Exactly one of `actor` (a clerk, already checked for
    the role) and `applicant_phone` (no staff actor) is given."""
    by_applicant = actor is None
    if by_applicant != bool(applicant_phone):
        raise WorkflowError("申请人撤回须由申请人本人或工作人员办理。")
    who = {"by": "applicant", "phone": mask_phone(applicant_phone)} if by_applicant else {}
    with transaction.atomic():
        case = Case.objects.select_for_update(of=("self",)).select_related("division").get(pk=case_id)
        if by_applicant:
            # Compared on the locked row: the number the session verified must be the one
            # the case carries now (a clerk may have corrected it since the page was drawn).
            if case.phone != applicant_phone:
                raise WorkflowError("这份申请不是用您登录的手机号登记的，不能撤回。")
        elif not can_see_division(actor, case.division):
            raise WorkflowError("该申请件不在您的数据权限范围内。")
        if case.status != CaseStatus.SUBMITTED:
            raise StaleScreen(f"该申请件{case.get_status_display()}，不能撤回，请刷新后再试")
        procedures = list(
            RequestProcedure.objects.select_for_update(of=("self",))
            .select_related("step", "acting_unit", "division", "request__programme", "case")
            .filter(case=case)
            .order_by("pk")
        )
        requests = list(
            ProgrammeRequest.objects.select_for_update(of=("self",))
            .select_related("programme")
            .filter(case=case)
            .order_by("pk")
        )
        if request_ids is None:
            chosen = [r for r in requests if r.is_open]
        else:
            chosen = [r for r in requests if r.pk in set(request_ids)]
            if len(chosen) != len(set(request_ids)):
                raise WorkflowError("所选事项不属于该申请件。")
        closed = [r for r in chosen if not r.is_open]
        if closed:
            names = "、".join(f"{r.programme.name}（{r.get_status_display()}）" for r in closed)
            raise StaleScreen(f"{names}已不在办理中，不能撤回，请刷新后再试")
        if not chosen:
            raise StaleScreen("该申请件没有可撤回的事项，请刷新后再试")
        by_request = {p.request_id: p for p in procedures}
        now = timezone.now()
        for request in chosen:
            procedure = by_request.get(request.pk)
            if procedure is None:
                continue
            move = _check(
                procedure,
                actor=actor,
                action=Action.WITHDRAW,
                expected_version=expected_versions.get(procedure.pk),
            )
            from_state = procedure.state
            procedure.state = move.target
            _save(procedure)
            _record(procedure, actor=actor, action=Action.WITHDRAW, from_state=from_state, comment=reason)
            audit_record(
                actor=actor,
                action="workflow.withdraw",
                obj=procedure,
                reason=reason,
                data={
                    "case": case.reference,
                    "programme": request.programme.code,
                    "step": procedure.step.key,
                    **who,
                },
            )
        ProgrammeRequest.objects.filter(pk__in=[r.pk for r in chosen]).update(
            status=ProgrammeRequest.Status.WITHDRAWN, is_open=False, updated_at=now
        )
        chosen_ids = {r.pk for r in chosen}
        left_open = [r for r in requests if r.is_open and r.pk not in chosen_ids]
        decided = [
            r for r in requests if r.status in (ProgrammeRequest.Status.APPROVED, ProgrammeRequest.Status.REJECTED)
        ]
        whole = not left_open and not decided
        if whole:
            Case.objects.filter(pk=case.pk).update(status=CaseStatus.WITHDRAWN, updated_at=now)
        names = "、".join(r.programme.name for r in chosen)
        audit_record(
            actor=actor,
            action="cases.case_withdraw",
            obj=case,
            reason=reason,
            data={
                "reference": case.reference,
                "programmes": [r.programme.code for r in chosen],
                "case_withdrawn": whole,
                **who,
            },
        )
        case_message(
            case=case,
            dedup_key=f"withdraw:{case.public_id}:{'-'.join(str(pk) for pk in sorted(chosen_ids))}",
            template="withdrawn",
            context={"reference": case.reference, "programme": names},
        )
        dashboards_refresh_after_commit()
    for request in chosen:
        request.status, request.is_open = ProgrammeRequest.Status.WITHDRAWN, False
    return chosen


def procedure_withdraw(
    *, actor, procedure_id: int, expected_version: int | None, reason: str = DEFAULT_REASON
) -> RequestProcedure:
    """Withdraw the one request this procedure walks (from the request's own page)."""
    row = RequestProcedure.objects.filter(pk=procedure_id).values("case_id", "request_id").first()
    if row is None:
        raise WorkflowError("没有找到该事项。")
    case_withdraw(
        actor=actor,
        case_id=row["case_id"],
        reason=reason or DEFAULT_REASON,
        request_ids=[row["request_id"]],
        expected_versions={procedure_id: expected_version},
    )
    return RequestProcedure.objects.select_related("step", "case", "request__programme").get(pk=procedure_id)
