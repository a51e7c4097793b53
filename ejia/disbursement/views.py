"""Pay screens (county reviewers, centre directors) and dynamic-management screens (window clerks)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from ejia.accounts.models import Division
from ejia.accounts.policies import Capability, staff_view
from ejia.core.audit import audit_record
from ejia.disbursement import selectors
from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batches import (
    batch_build,
    batch_reconcile,
    batch_release,
    line_status_counts,
    lines_reissue_request,
    reconciliation_differences,
)
from ejia.disbursement.dynamic import (
    change_report_create,
    change_report_decide,
    change_report_evaluate,
    review_complete,
)
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.forms import BuildForm, ChangeReportForm, DecideForm, ReturnUploadForm, ReviewForm
from ejia.disbursement.models import Entitlement, PaymentBatch, add_months, month_start, parse_period, period_label
from ejia.disbursement.reverification import (
    flag_entitlements,
    flag_get_for_user,
    next_open_flag,
    review_flag_resolve,
)
from ejia.disbursement.services import (
    entitlement_end,
    entitlement_resume,
    entitlement_suspend,
)
from ejia.registry.selectors import household_get_for_user
from ejia.verification.models import ReverificationFlag
from ejia.verification.reviews import ReviewRefused, heads_of
from ejia.verification.selectors import difference_lines


@staff_view(Capability.PAYMENT_MANAGE)
def batch_list_view(request):
    counties = selectors.counties_for_user(user=request.user)
    form = BuildForm(
        request.POST or None,
        counties=counties,
        initial={"period": period_label(add_months(month_start(timezone.localdate()), 1))},
    )
    if request.method == "POST" and form.is_valid():
        county = Division.objects.get(code=form.cleaned_data["county"])
        try:
            batch = batch_build(actor=request.user, county=county, period=form.cleaned_data["period"])
        except DisbursementError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, f"批次 {batch.reference} 已生成：{batch.line_count} 笔。")
            return redirect("disbursement:batch_detail", public_id=batch.public_id)
    batches = selectors.batches_for_user(user=request.user)
    county = request.GET.get("county", "")
    if county:
        batches = batches.filter(county__code=county)
    return render(
        request,
        "disbursement/batch_list.html",
        {"batches": batches[:120], "form": form, "counties": counties, "county": county},
    )


@staff_view(Capability.PAYMENT_MANAGE, cache=False)
def batch_detail_view(request, public_id):
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    differences = reconciliation_differences(batch) if batch.status == PaymentBatch.Status.EXPORTED else []
    return render(
        request,
        "disbursement/batch_detail.html",
        {
            "batch": batch,
            "counts": line_status_counts(batch),
            "differences": differences,
            "upload_form": ReturnUploadForm(),
            "can_release": batch.status == PaymentBatch.Status.BUILT and batch.prepared_by_id != request.user.pk,
            "lines": batch.lines.order_by("pk")[:50],
        },
    )


@staff_view(Capability.PAYMENT_MANAGE)
def batch_release_view(request, public_id):
    """Release asks for confirmation: the GET shows the totals, the POST releases."""
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    if request.method == "POST":
        try:
            batch_release(actor=request.user, batch=batch)
        except DisbursementError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "批次已复核发放，可以导出银行文件。")
        return redirect("disbursement:batch_detail", public_id=batch.public_id)
    return render(request, "disbursement/batch_release.html", {"batch": batch})


@staff_view(Capability.PAYMENT_MANAGE, cache=False)
def batch_download_view(request, public_id, fmt):
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    if fmt not in ("csv", "xlsx"):
        raise PermissionDenied
    try:
        file = bank_file_export(actor=request.user, batch=batch, fmt=fmt)
    except DisbursementError as exc:
        messages.error(request, str(exc))
        return redirect("disbursement:batch_detail", public_id=batch.public_id)
    response = HttpResponse(file.content, content_type=file.content_type)
    response["Content-Disposition"] = f'attachment; filename="{file.filename}"'
    response["X-Checksum-SHA256"] = file.checksum
    return response


@staff_view(Capability.PAYMENT_MANAGE)
@require_POST
def batch_return_view(request, public_id):
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    form = ReturnUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = bank_return_import(actor=request.user, batch=batch, data=form.cleaned_data["file"].read())
        except DisbursementError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(
                request, f"已导入银行回盘：成功 {result.paid} 笔，失败 {result.failed} 笔，退回 {result.returned} 笔。"
            )
    else:
        messages.error(request, "；".join(e for errs in form.errors.values() for e in errs))
    return redirect("disbursement:batch_detail", public_id=batch.public_id)


@staff_view(Capability.PAYMENT_MANAGE)
@require_POST
def batch_reconcile_view(request, public_id):
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    try:
        batch_reconcile(actor=request.user, batch=batch)
    except DisbursementError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "对账完成。")
    return redirect("disbursement:batch_detail", public_id=batch.public_id)


@staff_view(Capability.PAYMENT_MANAGE)
@require_POST
def batch_reissue_view(request, public_id):
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    try:
        n = lines_reissue_request(actor=request.user, batch=batch, reason=request.POST.get("reason", ""))
    except DisbursementError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{n} 笔失败或退回的款项将在下月批次中重新发放。")
    return redirect("disbursement:batch_detail", public_id=batch.public_id)


@staff_view(Capability.ENTITLEMENT_MANAGE)
def reviews_due_view(request):
    return render(
        request,
        "disbursement/reviews_due.html",
        {
            "due": selectors.reviews_due_for_user(user=request.user),
            "reports": selectors.change_reports_for_user(user=request.user),
            "today": timezone.localdate(),
        },
    )


@staff_view(Capability.ENTITLEMENT_MANAGE, cache=False)
def review_complete_view(request, public_id):
    entitlement = (
        Entitlement.objects.select_related("household__division", "programme").filter(public_id=public_id).first()
    )
    if entitlement is None:
        raise PermissionDenied
    household_get_for_user(user=request.user, public_id=entitlement.household.public_id)
    form = ReviewForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        review_complete(
            actor=request.user,
            entitlement=entitlement,
            outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
        )
        messages.success(request, "核查已记录。")
        if form.cleaned_data["outcome"] == "changed":
            return redirect("disbursement:change_report_new", household_id=entitlement.household.public_id)
        return redirect("disbursement:reviews_due")
    return render(request, "disbursement/review_form.html", {"entitlement": entitlement, "form": form})


@staff_view(Capability.ENTITLEMENT_MANAGE, cache=False)
def change_report_new_view(request, household_id):
    household = household_get_for_user(user=request.user, public_id=household_id)
    members = [m.person for m in household.current_memberships()]
    form = ChangeReportForm(request.POST or None, members=members)
    if request.method == "POST" and form.is_valid():
        person = next((p for p in members if str(p.public_id) == form.cleaned_data["person"]), None)
        try:
            report = change_report_create(
                actor=request.user,
                household=household,
                kind=form.cleaned_data["kind"],
                effective_on=form.cleaned_data["effective_on"],
                person=person,
                details={"note": form.cleaned_data["note"]},
            )
        except DisbursementError as exc:
            messages.error(request, str(exc))
        else:
            return redirect("disbursement:change_report", public_id=report.public_id)
    return render(request, "disbursement/change_report_new.html", {"household": household, "form": form})


@staff_view(Capability.ENTITLEMENT_MANAGE, cache=False)
def change_report_view(request, public_id):
    report = selectors.change_report_get_for_user(user=request.user, public_id=public_id)
    form = DecideForm(
        request.POST or None, initial={"from_month": period_label(add_months(month_start(timezone.localdate()), 1))}
    )
    if request.method == "POST":
        try:
            if "evaluate" in request.POST:
                change_report_evaluate(actor=request.user, report=report)
                messages.success(request, "已按变更后的情况重新评估。")
                return redirect("disbursement:change_report", public_id=report.public_id)
            if form.is_valid():
                change_report_decide(
                    actor=request.user,
                    report=report,
                    from_month=form.cleaned_data["from_month"],
                    reason=form.cleaned_data["reason"],
                )
                messages.success(request, "已作出决定并生成书面通知。")
                return redirect("disbursement:change_report", public_id=report.public_id)
        except DisbursementError as exc:
            messages.error(request, str(exc))
    panel = selectors.household_entitlements_panel(user=request.user, household=report.household)
    held_codes = {e.programme.code for e in panel.entitlements}
    return render(
        request,
        "disbursement/change_report.html",
        {"report": report, "form": form, "panel": panel, "held_codes": held_codes},
    )


@staff_view(Capability.ENTITLEMENT_MANAGE, cache=False)
def entitlement_view(request, public_id):
    """One entitlement: suspend, resume or terminate, each with a written reason and a notice."""
    entitlement = (
        Entitlement.objects.select_related("household__division", "programme", "person")
        .filter(public_id=public_id)
        .first()
    )
    if entitlement is None:
        raise PermissionDenied
    household_get_for_user(user=request.user, public_id=entitlement.household.public_id)
    if request.method == "POST":
        action = request.POST.get("action")
        reason = request.POST.get("reason", "")
        try:
            if action == "suspend":
                entitlement_suspend(actor=request.user, entitlement=entitlement, reason=reason)
            elif action == "resume":
                entitlement_resume(actor=request.user, entitlement=entitlement, reason=reason)
            elif action == "terminate":
                from_month = parse_period(request.POST.get("from_month", ""))
                entitlement_end(actor=request.user, entitlement=entitlement, from_month=from_month, reason=reason)
            else:
                raise DisbursementError("未知操作。")
        except (DisbursementError, ValueError) as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "已处理并生成书面通知。")
        return redirect("disbursement:entitlement", public_id=entitlement.public_id)
    return render(
        request,
        "disbursement/entitlement.html",
        {
            "e": entitlement,
            "next_month": period_label(add_months(month_start(timezone.localdate()), 1)),
            "notices": entitlement.notices.all()[:10],
        },
    )


@staff_view(Capability.REVERIFICATION_MANAGE, cache=False)
def reverification_flag_view(request, flag_id):
    """年度复核的处理: one flagged household × programme — why it was flagged, the household's
    entitlements of that programme (acted on from their own page), and the reviewer's answer."""
    flag = flag_get_for_user(user=request.user, flag_id=flag_id)
    error = ""
    if request.method == "POST":
        try:
            flag = review_flag_resolve(
                actor=request.user,
                flag_id=flag.pk,
                resolution=request.POST.get("resolution", ""),
                note=request.POST.get("note", ""),
            )
        except ReviewRefused as exc:
            error = exc.message
            flag = flag_get_for_user(user=request.user, flag_id=flag.pk)
        else:
            following = next_open_flag(flag)
            done = f"已登记：{flag.programme_name} · {flag.get_resolution_display()}。"
            if following is None:
                messages.success(request, done + "本批次需复核的家庭都已处理。")
                return redirect("verification:review_batch", public_id=flag.batch.public_id)
            messages.success(request, done + "下面是下一户。")
            return redirect("disbursement:reverification_flag", flag_id=following.pk)
    head_name, head_masked_id = heads_of([flag.household_id]).get(flag.household_id, ("", ""))
    differences = difference_lines(flag.differences)
    # The verified economic facts of a named household (PIPL): every read is logged.
    audit_record(
        actor=request.user,
        action="verification.review_flag_view",
        obj=flag.batch,
        data={"flag": flag.pk, "household": str(flag.household.public_id)},
    )
    context = {
        "flag": flag,
        "head_name": head_name,
        "head_masked_id": head_masked_id,
        "differences": differences,
        "entitlements": flag_entitlements(flag),
        "resolutions": ReverificationFlag.Resolution.choices,
        "error": error,
        "posted": request.POST if error else {},
        "remaining": ReverificationFlag.objects.filter(batch_id=flag.batch_id, resolution="").count(),
    }
    return render(request, "disbursement/reverification_flag.html", context, status=400 if error else 200)
