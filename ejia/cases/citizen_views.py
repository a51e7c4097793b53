"""Citizen-facing tracking pages (no staff login): by reference + ID tail, or by phone + SMS code."""

from __future__ import annotations

from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from ejia.accounts.throttle import client_ip
from ejia.cases.tracking import (
    TrackingError,
    case_stages,
    case_track,
    cases_for_phone,
    sms_code_send,
    sms_code_verify,
)

SESSION_KEY = "citizen_phone"


def masked_name(name: str) -> str:
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _case_view(case) -> dict:
    return {
        "case": case,
        "name": masked_name(case.applicant.name),
        "stages": case_stages(case),
        "requests": list(case.requests.select_related("programme__department")),
    }


@never_cache
def track_view(request):
    reference = request.POST.get("reference", request.GET.get("ref", "")).strip()
    error, found = "", None
    if request.method == "POST":
        try:
            found = _case_view(
                case_track(reference=reference, id_last6=request.POST.get("id_last6", ""), ip=client_ip(request))
            )
        except TrackingError as exc:
            error = exc.message
    return render(request, "cases/citizen/track.html", {"reference": reference, "error": error, "found": found})


@never_cache
def login_view(request):
    phone = request.POST.get("phone", "").strip()
    error, sent = "", False
    if request.method == "POST":
        try:
            if request.POST.get("action") == "verify":
                request.session[SESSION_KEY] = sms_code_verify(phone=phone, code=request.POST.get("code", ""))
                request.session.cycle_key()
                return redirect("citizen:mine")
            sms_code_send(phone=phone)
            sent = True
        except TrackingError as exc:
            error = exc.message
            sent = request.POST.get("action") == "verify"
    return render(request, "cases/citizen/login.html", {"phone": phone, "error": error, "sent": sent})


@never_cache
def mine_view(request):
    phone = request.session.get(SESSION_KEY)
    if not phone:
        return redirect("citizen:login")
    cases = [_case_view(c) for c in cases_for_phone(phone)]
    return render(request, "cases/citizen/mine.html", {"phone": phone[:3] + "****" + phone[-4:], "cases": cases})


def logout_view(request):
    if request.method == "POST":
        request.session.pop(SESSION_KEY, None)
    return redirect("citizen:track")
