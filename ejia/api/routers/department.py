"""Department systems: the requests routed to the department, and the department's decision.

The client acts as its service account (docs/api.md): the list is the department approver's
own work queue (ejia.cases.workflow.selectors.work_queue), the detail is what the approver's
page shows a department (facts_for_decision, minimal: names and IDs masked), and a decision
goes through the same services as the approver's buttons (procedure_complete, then
procedure_approve / procedure_refuse), so the case's joint review sees it like any other.
"""

import datetime as dt
import uuid
from typing import Literal

from django.db import transaction
from ninja import Field, Query, Router, Schema, Status
from pydantic import model_validator

from ejia.accounts.policies import ApiScope
from ejia.api.auth import client_auth
from ejia.api.errors import ApiError, Error
from ejia.api.idempotency import IDEMPOTENCY_DOC, idempotent
from ejia.cases.workflow import selectors
from ejia.cases.workflow import services as workflow
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.review import facts_for_decision

router = Router(tags=["部门业务系统"], auth=client_auth(ApiScope.DEPARTMENT_REQUESTS))

ERRORS = {400: Error, 401: Error, 403: Error, 404: Error, 422: Error, 429: Error}


class RequestOut(Schema):
    id: uuid.UUID
    case_reference: str
    programme_code: str
    programme_name: str
    step_key: str
    step_name: str
    step_decides: bool
    state: str
    step_due: dt.date
    version: int
    proposed_amount_fen: int | None
    division_code: str
    division_name: str


class FactRowOut(Schema):
    who: str
    label: str
    declared: str
    verified: str
    source: str
    differs: bool


class MemberOut(Schema):
    name: str
    masked_id: str
    relation: str


class CriterionOut(Schema):
    label: str
    result: bool | None
    explanation: str


class RequestDetailOut(RequestOut):
    household_size: int
    members: list[MemberOut]
    beneficiary: str
    beneficiary_id: str
    fact_rows: list[FactRowOut]
    criteria: list[CriterionOut]
    outcome_label: str
    decision: str = Field("", description="已作出的决定：approved / refused；未决定为空")
    decided_amount_fen: int | None = None


class QueueFilters(Schema):
    tab: Literal["mine", "claimed", "unit", "due_soon", "overdue"] = "mine"
    programme: str = Field("", max_length=40, pattern=r"^[^\x00-\x1f]*$")
    step: str = Field("", max_length=40, pattern=r"^[^\x00-\x1f]*$")


def _row(p: RequestProcedure) -> dict:
    return {
        "id": p.public_id,
        "case_reference": p.case.reference,
        "programme_code": p.request.programme.code,
        "programme_name": p.request.programme.name,
        "step_key": p.step.key,
        "step_name": p.step.name,
        "step_decides": p.step.decides,
        "state": p.state,
        "step_due": p.step_due,
        "version": p.version,
        "proposed_amount_fen": workflow.proposed_amount(p),
        "division_code": p.division.code,
        "division_name": p.division.name,
    }


def _procedure(request, request_id: uuid.UUID) -> RequestProcedure:
    return selectors.procedure_get_for_user(user=request.auth.user, public_id=request_id)


@router.get("/requests", response={200: list[RequestOut], **ERRORS}, summary="转办本部门的待办事项")
def requests_list(request, filters: Query[QueueFilters]):
    queue = selectors.work_queue(
        user=request.auth.user, tab=filters.tab, programme=filters.programme, step=filters.step
    )
    return [_row(p) for p in queue.rows]


@router.get("/requests/{request_id}", response={200: RequestDetailOut, **ERRORS}, summary="待办事项详情（最小必要）")
def request_detail(request, request_id: uuid.UUID):
    p = _procedure(request, request_id)
    facts = facts_for_decision(p, minimal=True)
    decision = getattr(p, "decision", None)
    return {
        **_row(p),
        "household_size": facts["household_size"],
        "members": facts["members"],
        "beneficiary": facts["beneficiary"],
        "beneficiary_id": facts["beneficiary_id"],
        "fact_rows": facts["fact_rows"],
        "criteria": [c.to_json() for c in facts["criteria"]],
        "outcome_label": str(facts["outcome_label"]),
        "decision": decision.outcome if decision else "",
        "decided_amount_fen": decision.amount_fen if decision else None,
    }


class DecisionIn(Schema):
    decision: Literal["approve", "refuse"]
    amount_fen: int | None = Field(
        None, ge=0, le=100_000_000_00, description="批准金额（分）；不填则按测算金额，改动须说明 amount_reason"
    )
    amount_reason: str = Field("", max_length=500)
    reason: str = Field("", max_length=2000, description="不予批准的理由（必填）；批准时为审批意见")
    version: int | None = Field(None, ge=1, description="读取时的 version；事项已被他人变动则返回 409")

    @model_validator(mode="after")
    def _reason_for_refusal(self):
        if self.decision == "refuse" and not self.reason.strip():
            raise ValueError("不予批准须书面说明理由（reason）。")
        return self


class DecisionOut(Schema):
    id: uuid.UUID
    decision: str
    amount_fen: int | None
    state: str
    version: int


@router.post(
    "/requests/{request_id}/decision",
    response={201: DecisionOut, 409: Error, **ERRORS},
    openapi_extra=IDEMPOTENCY_DOC,
    summary="反馈审批结果：批准（金额，分）或不予批准（理由）",
)
@idempotent
def request_decide(request, request_id: uuid.UUID, payload: DecisionIn):
    """A department's decision. Where the request still waits at the department's review step
    (部门审核), the system's decision includes that review: the step is completed first, in the
    same transaction, by the same service the approver's "办结" button uses."""
    user = request.auth.user
    p = _procedure(request, request_id)
    try:
        with transaction.atomic():
            version = payload.version
            if not p.step.decides and p.is_open and p.acting_unit_id == user.unit_id:
                p = workflow.procedure_complete(
                    actor=user, procedure_id=p.pk, expected_version=version, comment="部门业务系统审核通过"
                )
                version = p.version
            if payload.decision == "approve":
                decision = workflow.procedure_approve(
                    actor=user,
                    procedure_id=p.pk,
                    expected_version=version,
                    amount_fen=payload.amount_fen,
                    amount_change_reason=payload.amount_reason,
                    comment=payload.reason,
                )
            else:
                decision = workflow.procedure_refuse(
                    actor=user, procedure_id=p.pk, expected_version=version, reasons=payload.reason
                )
    except workflow.StaleScreen as exc:
        raise ApiError(409, "stale", exc.message, field="body.version") from None
    except workflow.WorkflowError as exc:
        raise ApiError(409, "workflow_refused", exc.message) from None
    p.refresh_from_db()
    return Status(
        201,
        {
            "id": p.public_id,
            "decision": decision.outcome,
            "amount_fen": decision.amount_fen,
            "state": p.state,
            "version": p.version,
        },
    )
