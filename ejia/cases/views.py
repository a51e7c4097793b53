from __future__ import annotations

import mimetypes

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from ejia.cases.intake import INTAKE_ROLES
from ejia.cases.models import CaseStatus, Need
from ejia.cases.receipt import receipt_pdf, tracking_url
from ejia.cases.selectors import case_get_for_user, case_queue
from ejia.cases.verify import case_latest_check
from ejia.cases.verify_views import REPORT_ROLES
from ejia.cases.workflow.selectors import case_progress
from ejia.catalogue.plan import PlanOutcome
from ejia.core.audit import audit_record
from ejia.registry.models import Relation


@login_required
def case_queue_view(request):
    query = request.GET.get("q", "")
    status = request.GET.get("status", "")
    page = Paginator(case_queue(user=request.user, query=query, status=status), 50).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "query": query,
        "status": status,
        "statuses": CaseStatus.choices,
        "can_intake": request.user.has_role(*INTAKE_ROLES),
    }
    if request.headers.get("HX-Request"):
        return render(request, "cases/queue.html#rows", context)
    return render(request, "cases/queue.html", context)


@login_required
def case_detail_view(request, public_id):
    case = case_get_for_user(user=request.user, public_id=public_id)
    # A household's application (members, incomes, signatures) is personal data: reads are logged.
    audit_record(actor=request.user, action="cases.view", obj=case)
    needs = dict(Need.choices)
    plan = case.plan
    keys = [r.plan_key for r in case.requests.select_related("programme", "person")]
    return render(
        request,
        "cases/case_detail.html",
        {
            "case": case,
            "plan_shown": plan.with_outcome(PlanOutcome.ALREADY_RECEIVED, PlanOutcome.LIKELY, PlanOutcome.EXCLUDED),
            "plan_possible": plan.with_outcome(PlanOutcome.POSSIBLE),
            "plan_totals": plan.totals(keys),
            "plan_member_totals": plan.member_totals(keys),
            "requests": case.requests.select_related("programme__department", "person"),
            "authorisations": case.authorisations.select_related("person"),
            "need_labels": [needs.get(n, n) for n in case.needs],
            "relations": dict(Relation.choices),
            "tracking_url": tracking_url(case),
            "progress": case_progress(case),
            "verification": case_latest_check(case),
            "can_verify": request.user.has_role(*REPORT_ROLES),
        },
    )


@login_required
def case_receipt_view(request, public_id):
    case = case_get_for_user(user=request.user, public_id=public_id)
    audit_record(actor=request.user, action="cases.receipt_print", obj=case)
    response = FileResponse(
        receipt_pdf(case), content_type="application/pdf", filename=f"受理回执-{case.reference}.pdf"
    )
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline")
    return response


@login_required
@never_cache
def authorisation_image_view(request, public_id, auth_id):
    """Signed authorisations are personal data: served only through the case's scope check."""
    case = case_get_for_user(user=request.user, public_id=public_id)
    auth = case.authorisations.filter(public_id=auth_id).first()
    if auth is None or not auth.image:
        raise Http404
    audit_record(
        actor=request.user, action="cases.authorisation_image_view", obj=case, data={"authorisation": str(auth_id)}
    )
    content_type = mimetypes.guess_type(auth.image.name)[0] or "application/octet-stream"
    return FileResponse(default_storage.open(auth.image.name, "rb"), content_type=content_type)


def id_reader_mock_view(request):
    """A stand-in for the local ID card reader service (DEBUG and tests only)."""
    if not (settings.DEBUG or settings.EJIA_ID_READER_MOCK):
        raise Http404
    response = JsonResponse(settings.EJIA_ID_READER_MOCK_CARD, json_dumps_params={"ensure_ascii": False})
    response["Cache-Control"] = "no-store"
    return response
