"""The case's 一键核对 pages: start a check, watch the departments answer, read and print the
report. Thin views: scope through `case_get_for_user`, work in `ejia.cases.verify` and
`ejia.verification`, every rendered report audited."""

from __future__ import annotations

import io

from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from ejia.accounts.policies import Capability, staff_view
from ejia.cases.models import Case, CaseStatus
from ejia.cases.selectors import case_get_for_user
from ejia.cases.verify import case_latest_check, case_verification_start, verified_plan
from ejia.verification.checks import CheckRefused, check_source_rerun
from ejia.verification.models import VerificationCheck
from ejia.verification.report_pdf import check_report_pdf
from ejia.verification.selectors import check_report, check_report_viewed, check_source_of

# The full report (deposits, hospital visits, tax lines) is for the staff who handle the case
# (the policy's VERIFICATION_READ); a department approver decides from what is routed to it and a
# village clerk sees only whether the check is done (PIPL Art. 6, minimum necessary).


def _case(request, public_id, capability: Capability = Capability.VERIFICATION_READ) -> Case:
    return case_get_for_user(user=request.user, public_id=public_id, capability=capability)


def _context(case: Case, check: VerificationCheck | None) -> dict:
    running = check is not None and not check.is_finished
    context = {
        "case": case,
        "check": check,
        "can_start": case.status == CaseStatus.SUBMITTED and not running,
    }
    if check is not None:
        context["report"] = check_report(check)
        context["plan"] = verified_plan(case, check) if check.is_finished else None
    return context


@staff_view(Capability.VERIFICATION_READ, cache=False)
@require_GET
def verification_view(request, public_id):
    case = _case(request, public_id)
    check = case_latest_check(case)
    if check is not None:
        check_report_viewed(user=request.user, check=check, kind="page")
    return render(request, "cases/verification.html", _context(case, check))


@staff_view(Capability.VERIFICATION_READ, cache=False)
@require_GET
def verification_panel_view(request, public_id):
    """The part of the page that fills in as departments answer. While the check runs the
    panel polls itself; polls are not audited, but the one that first shows the finished
    report is (and so is any direct fetch)."""
    case = _case(request, public_id)
    check = case_latest_check(case)
    if check is None:
        raise Http404("该申请件尚未进行家庭经济状况核对。")
    if request.GET.get("poll") != "1" or check.is_finished:
        check_report_viewed(user=request.user, check=check, kind="page")
    return render(request, "cases/_verification_panel.html", _context(case, check))


@staff_view(Capability.VERIFICATION_RUN, cache=False)
@require_POST
def verification_start_view(request, public_id):
    case = _case(request, public_id, Capability.VERIFICATION_RUN)
    try:
        check = case_verification_start(actor=request.user, case=case)
    except CheckRefused as exc:
        messages.error(request, exc.message)
    else:
        check.refresh_from_db()  # sources may all have answered already (fast ones, or tests)
        if check.is_finished:
            messages.success(request, "各部门数据源均已返回，核对报告如下。")
        else:
            messages.info(request, "已向各部门数据源发起查询，结果返回后本页自动更新。")
    return redirect("cases:verification", public_id=case.public_id)


@staff_view(Capability.VERIFICATION_RUN, cache=False)
@require_POST
def verification_rerun_view(request, public_id, pk):
    case = _case(request, public_id, Capability.VERIFICATION_RUN)
    check = case_latest_check(case)
    if check is None:
        raise Http404("该申请件尚未进行家庭经济状况核对。")
    row = check_source_of(check=check, pk=pk)
    check_source_rerun(actor=request.user, check_source_id=row.pk)
    if request.headers.get("HX-Request"):
        check.refresh_from_db()
        return render(request, "cases/_verification_panel.html", _context(case, check))
    messages.info(request, f"已重新查询“{row.source.name}”。")
    return redirect("cases:verification", public_id=case.public_id)


@staff_view(Capability.VERIFICATION_READ, cache=False)
@require_GET
def verification_pdf_view(request, public_id):
    case = _case(request, public_id)
    check = case_latest_check(case)
    if check is None:
        raise Http404("该申请件尚未进行家庭经济状况核对。")
    changes = verified_plan(case, check)["changes"] if check.is_finished else None
    check_report_viewed(user=request.user, check=check, kind="pdf")
    pdf = check_report_pdf(check, plan_changes=changes, title_reference=case.reference, printed_by=request.user)
    response = FileResponse(io.BytesIO(pdf), content_type="application/pdf", filename=f"核对报告-{case.reference}.pdf")
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline")
    return response
