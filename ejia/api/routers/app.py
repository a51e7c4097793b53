"""/api/v1/app/: the citizens' app (手机App). A citizen logs in by phone + SMS code, submits a
self-service application, follows it, withdraws it, all through the same services and
selectors as the portal's pages (ejia.cases.tracking, ejia.cases.self_service, the
withdrawal service); see docs/api.md § 群众手机App.

    POST /app/sms-code, POST /app/token        — the app's client token (scope app:citizen)
    everything under /app/me/ and POST /app/logout — the citizen's own token (ejia.api.app_auth)

The decisions and payments of "one's own household" are those of the households the verified
phone applied for (ejia.cases.tracking.households_for_phone); any other household is 404.
"""

import datetime as dt
import hashlib
import uuid

from django.db.models import Prefetch, prefetch_related_objects
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Router, Schema
from ninja.responses import Status

from ejia.accounts.policies import ApiScope
from ejia.api.app_auth import citizen_auth, citizen_token_issue, citizen_token_revoke
from ejia.api.auth import client_auth
from ejia.api.errors import FIELD_LABELS, ApiError, Error
from ejia.api.idempotency import HEADER, IDEMPOTENCY_DOC, idempotent
from ejia.api.schemas import OutSchema
from ejia.cases import self_service
from ejia.cases.citizen_views import masked_name
from ejia.cases.models import Case, CaseStatus, Need, ProgrammeRequest
from ejia.cases.tracking import (
    TrackingError,
    case_stages,
    cases_for_phone,
    household_for_phone,
    households_for_phone,
    sms_code_send,
    sms_code_verify,
)
from ejia.cases.workflow.selectors import decisions_for_household
from ejia.cases.workflow.services import WorkflowError
from ejia.cases.workflow.services.withdrawal import DEFAULT_REASON, case_withdraw_by_applicant
from ejia.core.sms import mask_phone, normalise_mobile
from ejia.core.workdays import WorkCalendar
from ejia.disbursement.selectors import payment_lines_for_household
from ejia.registry.models import Household, Membership, Relation

router = Router(tags=["群众手机App"])
APP = client_auth(ApiScope.CITIZEN_APP)
CITIZEN = citizen_auth()

FIELD_LABELS["/api/v1/app/"] = {
    "phone": "手机号：",
    "code": "验证码：",
    "name": "姓名：",
    "id_number": "身份证号码：",
    "relation": "与户主关系：",
    "village_code": "村（社区）代码：",
    "address": "住址：",
    "income_month_yuan": "月收入（元）：",
    "members": "家庭成员：",
    "needs": "困难类型：",
    "needs_note": "困难情况说明：",
    "programmes": "申请项目：",
    "signatures": "核对授权签名：",
    "requests": "撤回的项目：",
    "reason": "撤回理由：",
    "confirmed": "确认撤回：",
}
LABELS = FIELD_LABELS["/api/v1/app/"]
# What any operation here may answer besides its own: no or bad token, not allowed, bad input, too many calls.
ERRORS = {401: Error, 403: Error, 422: Error, 429: Error}


def refused(field: str, message: str, *, status: int = 422, code: str = "rejected") -> ApiError:
    """A service's Chinese refusal, naming the field at fault in Chinese."""
    names = [part for part in field.split(".") if not part.isdigit()]
    label = LABELS.get(names[-1], "") if names else ""
    text = message if message.startswith(label) else f"{label}{message}"
    return ApiError(status, code, text, field=f"body.{field}")


# ---------------------------------------------------------------- login


class PhoneIn(Schema):
    phone: str = Field(max_length=20)


class CodeSent(OutSchema):
    phone: str
    expires_in: int
    resend_after: int


class LoginIn(Schema):
    phone: str = Field(max_length=20)
    code: str = Field(max_length=10)


class CitizenToken(OutSchema):
    access_token: str
    token_type: str
    expires_in: int
    phone: str


@router.post("/sms-code", auth=APP, response={202: CodeSent, **ERRORS}, summary="获取登录验证码")
def sms_code(request, payload: PhoneIn):
    """Same code, throttle (60 s between codes, 5 an hour per phone) and SMS gateway as the portal."""
    if not normalise_mobile(payload.phone):
        raise refused("phone", "请输入11位手机号码。")
    try:
        sms_code_send(phone=payload.phone)
    except TrackingError as exc:
        raise ApiError(429, "sms_refused", exc.message, field="body.phone") from None
    return Status(202, {"phone": mask_phone(normalise_mobile(payload.phone)), "expires_in": 300, "resend_after": 60})


@router.post("/token", auth=APP, response={200: CitizenToken, **ERRORS}, summary="手机号+验证码登录，换取本人令牌")
def token(request, payload: LoginIn):
    try:
        phone = sms_code_verify(phone=payload.phone, code=payload.code)
    except TrackingError as exc:
        field = "phone" if not normalise_mobile(payload.phone) else "code"
        raise refused(field, exc.message, code="invalid_code") from None
    access, lifetime = citizen_token_issue(client=request.auth.client, phone=phone)
    return {"access_token": access, "token_type": "Bearer", "expires_in": lifetime, "phone": mask_phone(phone)}


@router.post("/logout", auth=CITIZEN, response={204: None, **ERRORS}, summary="退出登录（令牌作废）")
def logout(request):
    citizen_token_revoke(session=request.auth.session)
    return Status(204, None)


# ---------------------------------------------------------------- my applications


class StageOut(OutSchema):
    name: str
    note: str
    done_on: dt.date | None
    expected_by: dt.date | None
    current: bool


class RequestOut(OutSchema):
    id: uuid.UUID
    programme_code: str
    programme: str
    department: str
    status: str
    status_label: str
    open: bool


class ApplicationOut(OutSchema):
    id: uuid.UUID
    reference: str
    applicant: str  # masked, as on the portal
    status: str
    status_label: str
    submitted_at: dt.datetime
    window: str
    awaiting: str
    stages: list[StageOut]
    requests: list[RequestOut]
    withdrawable: bool


# A case's requests with what the answer names of them (one query for a whole list of cases).
REQUESTS = Prefetch("requests", queryset=ProgrammeRequest.objects.select_related("programme__department"))


def application_out(case: Case, calendar: WorkCalendar | None = None) -> dict:
    """What the portal's 我的申请 shows of one case (citizen_views._case_view), as data. A list
    passes one calendar for all its cases; the requests are prefetched (REQUESTS) here unless
    the caller did for the whole list."""
    prefetch_related_objects([case], REQUESTS)
    requests = list(case.requests.all())
    stages = case_stages(case, calendar)
    current = next((s for s in stages if s.current), None)
    return {
        "id": case.public_id,
        "reference": case.reference,
        "applicant": masked_name(case.applicant.name),
        "status": case.status,
        "status_label": case.get_status_display(),
        "submitted_at": case.submitted_at,
        "window": case.window.name if case.window else "",
        "awaiting": current.name if current and case.status == CaseStatus.SUBMITTED else "",
        "stages": [
            {"name": s.name, "note": s.note, "done_on": s.date, "expected_by": s.expected, "current": s.current}
            for s in stages
        ],
        "requests": [
            {
                "id": r.public_id,
                "programme_code": r.programme.code,
                "programme": r.programme.name,
                "department": r.programme.department.name if r.programme.department else "",
                "status": r.status,
                "status_label": r.get_status_display(),
                "open": r.is_open,
            }
            for r in requests
        ],
        "withdrawable": case.status == CaseStatus.SUBMITTED and any(r.is_open for r in requests),
    }


def my_case(request, public_id) -> Case:
    """One of the logged-in phone's cases; 404 for anyone else's (as the portal's withdraw page)."""
    return get_object_or_404(cases_for_phone(request.auth.phone), public_id=public_id)


@router.get("/me/applications", auth=CITIZEN, response={200: list[ApplicationOut], **ERRORS}, summary="我的申请")
def my_applications(request):
    calendar = WorkCalendar.load()
    cases = cases_for_phone(request.auth.phone).prefetch_related(REQUESTS)
    return [application_out(c, calendar) for c in cases]


@router.get(
    "/me/applications/{public_id}",
    auth=CITIZEN,
    response={200: ApplicationOut, 404: Error, **ERRORS},
    summary="一份申请的进度",
)
def my_application(request, public_id: uuid.UUID):
    return Status(200, application_out(my_case(request, public_id)))


class MemberIn(Schema):
    name: str = Field(max_length=40)
    id_number: str = Field(max_length=20)
    relation: str = Field("", max_length=20)
    income_month_yuan: str = Field("", max_length=20)


class ApplicationIn(Schema):
    name: str = Field(max_length=40)
    id_number: str = Field(max_length=20)
    village_code: str = Field("", max_length=12)
    address: str = Field("", max_length=200)
    income_month_yuan: str = Field("", max_length=20)
    members: list[MemberIn] = Field(default_factory=list, max_length=20)
    needs: list[Need] = Field(default_factory=list, max_length=20)
    needs_note: str = Field("", max_length=2000)
    programmes: list[str] = Field(default_factory=list, max_length=50)
    signatures: dict[str, str] = Field(default_factory=dict)


@router.post(
    "/me/applications",
    auth=CITIZEN,
    response={201: ApplicationOut, 400: Error, 409: Error, **ERRORS},
    openapi_extra=IDEMPOTENCY_DOC,
    summary="提交申请（群众自助申请）",
)
@idempotent
def application_submit(request, payload: ApplicationIn):
    key = request.headers.get(HEADER, "")
    if not key:
        raise ApiError(
            400, "idempotency_key_required", "提交申请须带 Idempotency-Key 请求头，重试时用同一个键。", field=HEADER
        )
    # The case's own key: the client's key, made unique across clients.
    case_key = hashlib.sha256(f"app:{request.auth.client.pk}:{key}".encode()).hexdigest()
    try:
        case = self_service.application_submit(
            phone=request.auth.phone, answers=payload.dict(), idempotency_key=case_key
        )
    except self_service.AnswerError as exc:
        raise refused(exc.field, exc.message) from None
    except self_service.CaseError as exc:
        raise ApiError(422, "rejected", exc.message) from None
    return Status(201, application_out(case))


class WithdrawIn(Schema):
    requests: list[uuid.UUID] | None = Field(None, max_length=50)
    reason: str = Field(DEFAULT_REASON, max_length=500)
    confirmed: bool


class WithdrawnOut(OutSchema):
    withdrawn: list[RequestOut]
    application: ApplicationOut


@router.post(
    "/me/applications/{public_id}/withdraw",
    auth=CITIZEN,
    response={200: WithdrawnOut, 404: Error, **ERRORS},
    summary="撤回申请（全部或部分项目）",
)
def application_withdraw(request, public_id: uuid.UUID, payload: WithdrawIn):
    case = my_case(request, public_id)
    if not payload.confirmed:
        raise refused("confirmed", "请先确认已了解撤回后这些项目不再办理（confirmed=true）。")
    if payload.requests is not None and not payload.requests:
        raise refused("requests", "请至少选择一个要撤回的项目。")
    try:
        withdrawn = case_withdraw_by_applicant(
            phone=request.auth.phone,
            case_public_id=case.public_id,
            reason=payload.reason,
            request_public_ids=[str(r) for r in payload.requests] if payload.requests is not None else None,
        )
    except WorkflowError as exc:
        raise ApiError(422, "rejected", exc.message) from None
    case = my_case(request, public_id)  # as it is now, its applicant and window with it (one query)
    out = application_out(case)
    ids = {r.public_id for r in withdrawn}
    return {"withdrawn": [r for r in out["requests"] if r["id"] in ids], "application": out}


# ---------------------------------------------------------------- my household: decisions and payments


class HouseholdOut(OutSchema):
    id: uuid.UUID
    village: str
    head: str  # masked, as on the portal
    members: int


@router.get("/me/households", auth=CITIZEN, response={200: list[HouseholdOut], **ERRORS}, summary="我的家庭")
def my_households(request):
    members = Prefetch(
        "memberships", queryset=Membership.objects.filter(date_out__isnull=True).select_related("person")
    )
    out = []
    for household in households_for_phone(request.auth.phone).prefetch_related(members):
        current = list(household.memberships.all())  # the current members only (the Prefetch above)
        head = next((m.person for m in current if m.relation == Relation.HEAD), None)
        out.append(
            {
                "id": household.public_id,
                "village": household.division.name,
                "head": masked_name(head.name) if head else "",
                "members": len(current),
            }
        )
    return out


def my_household(request, household_id) -> Household:
    return household_for_phone(phone=request.auth.phone, public_id=household_id)


class DecisionOut(OutSchema):
    application: str  # the case's reference (受理号)
    programme_code: str
    programme: str
    department: str
    outcome: str
    outcome_label: str
    amount_fen: int | None  # per period, approved only
    reasons: str  # a refusal's reasons (what the decision notice says); empty for an approval
    decided_on: dt.date


@router.get(
    "/me/households/{household_id}/decisions",
    auth=CITIZEN,
    response={200: list[DecisionOut], 404: Error, **ERRORS},
    summary="家庭的救助决定",
)
def household_decisions(request, household_id: uuid.UUID):
    decisions = decisions_for_household(my_household(request, household_id))
    out = []
    for d in decisions:
        programme = d.procedure.request.programme
        approved = d.outcome == d.Outcome.APPROVED
        out.append(
            {
                "application": d.procedure.case.reference,
                "programme_code": programme.code,
                "programme": programme.name,
                "department": programme.department.name if programme.department else "",
                "outcome": d.outcome,
                "outcome_label": d.get_outcome_display(),
                "amount_fen": d.amount_fen if approved else None,
                "reasons": "" if approved else d.reasons,
                "decided_on": timezone.localdate(d.decided_at),
            }
        )
    return Status(200, out)


class PaymentItemOut(OutSchema):
    month: str  # YYYY-MM: the month the money is for
    programme_code: str
    programme: str
    amount_fen: int


class PaymentOut(OutSchema):
    reference: str  # the line's transaction number in the bank file
    month: str  # YYYY-MM: the batch's month
    kind: str
    kind_label: str
    amount_fen: int
    status: str  # as the bank answered (pending until the bank's return is imported)
    status_label: str
    bank_amount_fen: int | None
    failure_reason: str
    account: str  # masked
    items: list[PaymentItemOut]


@router.get(
    "/me/households/{household_id}/payments",
    auth=CITIZEN,
    response={200: list[PaymentOut], 404: Error, **ERRORS},
    summary="家庭的发放记录",
)
def household_payments(request, household_id: uuid.UUID):
    lines = payment_lines_for_household(my_household(request, household_id))
    return Status(
        200,
        [
            {
                "reference": line.reference,
                "month": f"{line.batch.period:%Y-%m}",
                "kind": line.kind,
                "kind_label": line.get_kind_display(),
                "amount_fen": line.amount_fen,
                "status": line.status,
                "status_label": line.get_status_display(),
                "bank_amount_fen": line.bank_amount_fen,
                "failure_reason": line.failure_reason,
                "account": line.account_masked,
                "items": [
                    {
                        "month": f"{item.period:%Y-%m}",
                        "programme_code": item.entitlement.programme.code,
                        "programme": item.entitlement.programme.name,
                        "amount_fen": item.amount_fen,
                    }
                    for item in line.items.all()
                ],
            }
            for line in lines
        ],
    )
