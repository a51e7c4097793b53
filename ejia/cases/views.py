from __future__ import annotations

import mimetypes

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ejia.accounts.policies import Capability, require_purpose, staff_view
from ejia.cases.models import Case, CaseStatus, Need
from ejia.cases.receipt import receipt_pdf, tracking_url
from ejia.cases.selectors import case_get_for_user, case_queue
from ejia.cases.verify import case_latest_check
from ejia.cases.workflow.selectors import case_progress
from ejia.catalogue.plan import PlanOutcome
from ejia.core.audit import audit_record
from ejia.core.searches import search_asked
from ejia.registry.models import Relation


def _case_file(request, public_id, *, what: str) -> tuple[Case, dict]:
    """The case if the viewer may read its file, and the audit data naming why: the job, or the
    purpose the auditor stated for it (the policy asks for one first)."""
    case = case_get_for_user(user=request.user, public_id=public_id)
    purpose = require_purpose(request, Capability.CASE_READ, case, what=what)
    return case, {"purpose": purpose} if purpose else {}


@staff_view(Capability.CASE_LIST, cache=False)
def case_queue_view(request):
    """The queue, searched by reference or ID number. The search form posts (htmx or not); the
    URL it leaves in the address bar and the history carries the reference or a session handle,
    never an ID number (ejia.core.searches)."""
    path = reverse("cases:queue")
    source = request.POST if request.method == "POST" else request.GET
    status = source.get("status", "")
    status = status if status in CaseStatus.values else ""
    asked, move = search_asked(request)
    here = asked.url(path, status=status)
    htmx = request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")
    if move and not htmx:
        return redirect(here)
    qs = case_queue(user=request.user, query=asked.query, status=status)
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "query": asked.query,
        "asked": asked,
        "status": status,
        "statuses": CaseStatus.choices,
        "keep": asked.params(status=status),
    }
    if htmx:
        response = render(request, "cases/queue.html#rows", context)
        if move:
            response["HX-Push-Url"] = here
        return response
    return render(request, "cases/queue.html", context)


@staff_view(Capability.CASE_READ, cache=False)
def case_detail_view(request, public_id):
    case, why = _case_file(request, public_id, what=_("申请件"))
    # A household's application (members, incomes, signatures) is personal data: reads are logged.
    audit_record(actor=request.user, action="cases.view", obj=case, data=why)
    needs = dict(Need.choices)
    plan = case.plan
    requests = list(case.requests.select_related("programme__department", "person"))
    keys = [r.plan_key for r in requests]
    return render(
        request,
        "cases/case_detail.html",
        {
            "case": case,
            "plan_shown": plan.with_outcome(PlanOutcome.ALREADY_RECEIVED, PlanOutcome.LIKELY, PlanOutcome.EXCLUDED),
            "plan_possible": plan.with_outcome(PlanOutcome.POSSIBLE),
            "plan_totals": plan.totals(keys),
            "plan_member_totals": plan.member_totals(keys),
            "requests": requests,
            "authorisations": case.authorisations.select_related("person"),
            "need_labels": [needs.get(n, n) for n in case.needs],
            "relations": dict(Relation.choices),
            "tracking_url": tracking_url(case),
            "progress": case_progress(case),
            "verification": case_latest_check(case),
        },
    )


@staff_view(Capability.CASE_READ, cache=False)
def case_receipt_view(request, public_id):
    case, why = _case_file(request, public_id, what=_("受理回执"))
    audit_record(actor=request.user, action="cases.receipt_print", obj=case, data=why)
    response = FileResponse(
        receipt_pdf(case), content_type="application/pdf", filename=f"受理回执-{case.reference}.pdf"
    )
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline")
    return response


@staff_view(Capability.CASE_READ, cache=False)
def authorisation_image_view(request, public_id, auth_id):
    """Signed authorisations are personal data: served only through the case's scope check."""
    case, why = _case_file(request, public_id, what=_("授权书"))
    auth = case.authorisations.filter(public_id=auth_id).first()
    if auth is None or not auth.image or not default_storage.exists(auth.image.name):
        raise Http404("没有找到该授权书的图像。")
    audit_record(
        actor=request.user,
        action="cases.authorisation_image_view",
        obj=case,
        data={"authorisation": str(auth_id), **why},
    )
    content_type = mimetypes.guess_type(auth.image.name)[0] or "application/octet-stream"
    return FileResponse(default_storage.open(auth.image.name, "rb"), content_type=content_type)


@staff_view(Capability.CASE_INTAKE, cache=False)
def id_reader_mock_view(request):
    """A stand-in for the local ID card reader service (DEBUG and tests only)."""
    if not (settings.DEBUG or settings.EJIA_ID_READER_MOCK):
        raise Http404
    return JsonResponse(settings.EJIA_ID_READER_MOCK_CARD, json_dumps_params={"ensure_ascii": False})
