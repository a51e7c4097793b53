"""Citizen-facing tracking pages (no staff login): by reference + ID tail, or by phone + SMS code."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache

from ejia.accounts.policies import public_view
from ejia.cases import drafts
from ejia.cases.models import CaseStatus
from ejia.cases.tracking import (
    TrackingError,
    case_stages,
    case_track,
    cases_for_phone,
    sms_code_send,
    sms_code_verify,
)
from ejia.cases.workflow.services import WorkflowError
from ejia.cases.workflow.services.withdrawal import DEFAULT_REASON, case_withdraw_by_applicant
from ejia.core.sms import mask_phone

SESSION_KEY = "citizen_phone"
# Where a citizen's unfinished application resumes, by the step the draft was saved at.
RESUME_URLS = {
    "place": "citizen:apply_place",
    "members": "citizen:apply_members",
    "needs": "citizen:apply_needs",
    "programmes": "citizen:apply_programmes",
    "sign": "citizen:apply_sign",
    "check": "citizen:apply_check",
}


def safe_next(request) -> str:
    """The page the citizen was going to before the SMS login, if it is one of ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return ""


def login_redirect(request):
    """To the SMS login, coming back here afterwards."""
    return redirect(reverse("citizen:login") + "?" + urlencode({"next": request.get_full_path()}))


def masked_name(name: str) -> str:
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _case_view(case) -> dict:
    requests = list(case.requests.select_related("programme__department"))
    return {
        "case": case,
        "name": masked_name(case.applicant.name),
        "stages": case_stages(case),
        "requests": requests,
        "withdrawable": case.status == CaseStatus.SUBMITTED and any(r.is_open for r in requests),
    }


@public_view
@never_cache
def track_view(request):
    reference = request.POST.get("reference", request.GET.get("ref", "")).strip()
    error, found = "", None
    if request.method == "POST":
        try:
            found = _case_view(case_track(reference=reference, id_last6=request.POST.get("id_last6", "")))
        except TrackingError as exc:
            error = exc.message
    return render(request, "cases/citizen/track.html", {"reference": reference, "error": error, "found": found})


@public_view
@never_cache
def login_view(request):
    phone = request.POST.get("phone", "").strip()
    error, sent = "", False
    if request.method == "POST":
        try:
            if request.POST.get("action") == "verify":
                request.session[SESSION_KEY] = sms_code_verify(phone=phone, code=request.POST.get("code", ""))
                request.session.cycle_key()
                return redirect(safe_next(request) or "citizen:mine")
            sms_code_send(phone=phone)
            sent = True
        except TrackingError as exc:
            error = exc.message
            sent = request.POST.get("action") == "verify"
    return render(
        request,
        "cases/citizen/login.html",
        {"phone": phone, "error": error, "sent": sent, "next": safe_next(request)},
    )


@public_view
@never_cache
def mine_view(request):
    phone = request.session.get(SESSION_KEY)
    if not phone:
        return login_redirect(request)
    cases = [_case_view(c) for c in cases_for_phone(phone)]
    draft = drafts.draft_get(phone=phone)
    return render(
        request,
        "cases/citizen/mine.html",
        {
            "phone": mask_phone(phone),
            "cases": cases,
            "draft": draft,
            "resume_url": reverse(RESUME_URLS.get(draft.step, "citizen:apply")) if draft else "",
        },
    )


@public_view
@never_cache
def withdraw_view(request, public_id):
    """申请人自行撤回: the open programmes of one of the logged-in phone's cases, all ticked;
    the post withdraws the ticked ones once the applicant confirms they understand."""
    phone = request.session.get(SESSION_KEY)
    if not phone:
        return login_redirect(request)
    case = get_object_or_404(cases_for_phone(phone), public_id=public_id)
    reason = request.POST.get("reason", "").strip()
    picked = request.POST.getlist("pick")
    error = ""
    if request.method == "POST":
        try:
            if not picked:
                raise WorkflowError("请至少勾选一个要撤回的项目。")
            if request.POST.get("confirmed") != "yes":
                raise WorkflowError("请先勾选“我已了解”，再点“确认撤回”。")
            withdrawn = case_withdraw_by_applicant(
                phone=phone, case_public_id=case.public_id, reason=reason, request_public_ids=picked
            )
        except WorkflowError as exc:
            error = exc.message
            case.refresh_from_db(fields=["status"])
        else:
            names = "、".join(r.programme.name for r in withdrawn)
            messages.success(request, f"已撤回：{names}。这些项目不再办理。")
            return redirect("citizen:mine")
    requests = list(case.requests.select_related("programme__department"))
    open_requests = [r for r in requests if r.is_open] if case.status == CaseStatus.SUBMITTED else []
    # All ticked at first; after an error, as the applicant left them.
    ticked = set(picked) if request.method == "POST" else {str(r.public_id) for r in open_requests}
    return render(
        request,
        "cases/citizen/withdraw.html",
        {
            "case": case,
            "phone": mask_phone(phone),
            "choices": [(r, str(r.public_id) in ticked) for r in open_requests],
            "reason": reason,
            "default_reason": DEFAULT_REASON,
            "error": error,
        },
    )


@public_view
def logout_view(request):
    if request.method == "POST":
        request.session.pop(SESSION_KEY, None)
    return redirect("citizen:track")
