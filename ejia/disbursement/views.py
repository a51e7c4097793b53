"""Pay screens (county reviewers, centre directors) and dynamic-management screens (window clerks)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Max, Min, Sum
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from ejia.accounts.models import Division
from ejia.accounts.policies import Capability, staff_view
from ejia.core.audit import audit_record
from ejia.disbursement import selectors
from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batch_jobs import batch_build_stalled, batch_build_start, months_to_build
from ejia.disbursement.batches import (
    batch_release,
    held_lines_recheck,
    line_status_counts,
)
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.forms import (
    AcceptForm,
    BuildForm,
    HouseholdAccountForm,
    ReissueForm,
    ReturnUploadForm,
)
from ejia.disbursement.holds import (
    held_decision_get_for_user,
    held_decision_name_member,
    held_decisions_for_county,
    held_decisions_for_user,
    held_lines_for_user,
    open_answers_for_user,
)
from ejia.disbursement.models import (
    Entitlement,
    PaymentBatch,
    PaymentLine,
    add_months,
    month_start,
    parse_period,
    period_label,
)
from ejia.disbursement.reconciliation import (
    UNRESOLVED,
    batch_reconcile,
    line_accept_bank_amount,
    line_get_in_batch,
    line_reissue,
    reconciliation_differences,
    reissue_targets,
)
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
from ejia.registry.services import RegistryError, household_account_set
from ejia.verification.models import ReverificationFlag
from ejia.verification.reviews import ReviewRefused, heads_of
from ejia.verification.selectors import difference_lines


@staff_view(Capability.PAYMENT_MANAGE)
def batch_list_view(request):
    counties = selectors.counties_for_user(user=request.user)
    today = timezone.localdate()
    next_month = add_months(month_start(today), 1)
    months: dict = {next_month: []}
    for county in counties:
        for month in months_to_build(county, today=today):
            months.setdefault(month, []).append(county.name)
    earliest = min((m for m, names in months.items() if names), default=next_month)
    form = BuildForm(request.POST or None, counties=counties, months=months, initial={"period": period_label(earliest)})
    if request.method == "POST" and form.is_valid():
        county = Division.objects.get(code=form.cleaned_data["county"])
        try:
            batch = batch_build_start(actor=request.user, county=county, period=form.cleaned_data["period"])
        except DisbursementError as exc:
            messages.error(request, str(exc))
        else:
            if batch.status == PaymentBatch.Status.BUILDING:
                messages.info(request, f"批次 {batch.reference} 正在后台生成，本页显示进度。")
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


HELD_SHOWN = 200


POLL_SECONDS = 2


@staff_view(Capability.PAYMENT_MANAGE, cache=False)
def batch_detail_view(request, public_id):
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    progress = {"batch": batch, "poll_seconds": POLL_SECONDS, "stalled": batch_build_stalled(batch)}
    if request.headers.get("HX-Request"):
        response = render(request, "disbursement/batch_detail.html#progress", progress)
        if batch.status != PaymentBatch.Status.BUILDING:
            # The poll that sees the end reloads the page, which then shows the lines.
            response["HX-Refresh"] = "true"
        return response
    exported = batch.status == PaymentBatch.Status.EXPORTED
    lines = batch.lines.select_related("household__division", "reissued_to__batch")
    held = lines.filter(status=PaymentLine.Status.HELD).order_by("pk")
    targets = (
        reissue_targets(batch) if batch.status in (PaymentBatch.Status.EXPORTED, PaymentBatch.Status.RECONCILED) else []
    )
    return render(
        request,
        "disbursement/batch_detail.html",
        {
            **progress,
            "counts": line_status_counts(batch),
            "differences": reconciliation_differences(batch) if exported else [],
            "upload_form": ReturnUploadForm(),
            "can_release": batch.status == PaymentBatch.Status.BUILT and batch.prepared_by_id != request.user.pk,
            "lines": lines.annotate(first_period=Min("items__period"), last_period=Max("items__period"))
            .prefetch_related("reissued_from__batch")
            .order_by("pk")[:50],
            "bank_paid": batch.lines.filter(
                hold_reason="", status__in=[PaymentLine.Status.PAID, PaymentLine.Status.ACCEPTED]
            ).aggregate(t=Sum("bank_amount_fen"))["t"]
            or 0,
            "held": held[:HELD_SHOWN],
            "held_more": max(held.count() - HELD_SHOWN, 0),
            "open_lines": lines.filter(hold_reason="")
            .filter(UNRESOLVED)
            .exclude(status=PaymentLine.Status.PENDING)
            .order_by("pk")[:100],
            "reissue_pending": lines.filter(reissue_requested=True, reissued_to__isnull=True, hold_reason="").order_by(
                "pk"
            )[:100],
            "targets": targets,
            "reissue_form": ReissueForm(targets=targets),
            "accept_form": AcceptForm(),
            "can_amend": batch.status in (PaymentBatch.Status.BUILDING, PaymentBatch.Status.BUILT),
            "held_decisions": held_decisions_for_county(county_code=batch.county.code)
            if batch.status != PaymentBatch.Status.BUILDING
            else [],
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
            text = (
                f"已导入银行回盘：成功 {result.paid} 笔，金额不符 {result.mismatch} 笔，失败 {result.failed} 笔，"
                f"退回 {result.returned} 笔"
            )
            if result.corrected:
                text += f"（其中更正 {result.corrected} 笔）"
            if result.unchanged:
                text += f"，与上次相同 {result.unchanged} 笔"
            messages.success(request, text + "。")
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
def line_accept_view(request, public_id, line_ref):
    """按银行金额确认 one mismatched line, with a written reason (a second person)."""
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    form = AcceptForm(request.POST)
    try:
        line = line_get_in_batch(batch=batch, reference=line_ref)
        if not form.is_valid():
            raise DisbursementError("；".join(e for errs in form.errors.values() for e in errs))
        line_accept_bank_amount(actor=request.user, line=line, reason=form.cleaned_data["reason"])
    except DisbursementError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{line.reference} 已按银行金额确认。")
    return redirect("disbursement:batch_detail", public_id=batch.public_id)


@staff_view(Capability.PAYMENT_MANAGE)
@require_POST
def line_reissue_view(request, public_id, line_ref):
    """重新发放 one failed, returned or held line into the named later batch."""
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    form = ReissueForm(request.POST, targets=reissue_targets(batch))
    try:
        line = line_get_in_batch(batch=batch, reference=line_ref)
        if not form.is_valid():
            raise DisbursementError("；".join(e for errs in form.errors.values() for e in errs))
        line = line_reissue(
            actor=request.user, line=line, period=form.cleaned_data["period"], reason=form.cleaned_data["reason"]
        )
    except DisbursementError as exc:
        messages.error(request, str(exc))
    else:
        if line.reissued_to_id:
            new = line.reissued_to
            messages.success(
                request, f"{line.reference} 已转入 {new.batch.reference}，重新发放流水号 {new.reference}。"
            )
        else:
            messages.success(
                request, f"{line.reference} 将在 {period_label(line.reissue_period)} 的批次生成时转入重新发放。"
            )
    return redirect("disbursement:batch_detail", public_id=batch.public_id)


@staff_view(Capability.PAYMENT_MANAGE)
@require_POST
def batch_resume_view(request, public_id):
    """继续生成: queue the build again after its worker died; it goes on from its cursor."""
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    try:
        batch = batch_build_start(actor=request.user, county=batch.county, period=batch.period)
    except DisbursementError as exc:
        messages.error(request, str(exc))
    else:
        messages.info(request, f"批次 {batch.reference} 已重新排队，从中断处继续生成。")
    return redirect("disbursement:batch_detail", public_id=batch.public_id)


@staff_view(Capability.PAYMENT_MANAGE)
@require_POST
def batch_recheck_view(request, public_id):
    """Held lines whose household now has an account and its holder go back into the file."""
    batch = selectors.batch_get_for_user(user=request.user, public_id=public_id)
    try:
        n = held_lines_recheck(actor=request.user, batch=batch)
    except DisbursementError as exc:
        messages.error(request, str(exc))
    else:
        if n:
            messages.success(request, f"{n} 笔暂缓明细已补齐账户和户名，纳入本批次银行文件。")
        else:
            messages.info(request, "暂缓明细的家庭仍未登记完整的账户和户名。")
    return redirect("disbursement:batch_detail", public_id=batch.public_id)


@staff_view(Capability.PAYMENT_MANAGE, cache=False)
def held_view(request):
    """暂缓和待处理: the county centre's money that is held or waits for someone, in its area."""
    lines = held_lines_for_user(user=request.user)
    answers = open_answers_for_user(user=request.user)
    return render(
        request,
        "disbursement/held.html",
        {
            "decisions": held_decisions_for_user(user=request.user),
            "lines": lines[:HELD_SHOWN],
            "lines_total": lines.count(),
            "answers": answers[:HELD_SHOWN],
            "answers_total": answers.count(),
        },
    )


@staff_view(Capability.PAYMENT_MANAGE)
@require_POST
def held_decision_member_view(request, decision_id):
    """指定享受人 for an approved per-member benefit that had no member named."""
    try:
        decision = held_decision_get_for_user(user=request.user, decision_id=decision_id)
        household = decision.procedure.request.household
        public_id = request.POST.get("person", "")
        members = household.current_memberships()
        person = next((m.person for m in members if str(m.person.public_id) == public_id), None)
        entitlement = held_decision_name_member(actor=request.user, decision=decision, person=person)
    except DisbursementError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            f"已为{entitlement.person.name}生成{entitlement.programme.name}待遇，"
            f"自 {period_label(entitlement.start_month)} 起发放。",
        )
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        return redirect(back)
    return redirect("disbursement:held")


@staff_view(Capability.ENTITLEMENT_MANAGE, cache=False)
def household_account_view(request, household_id):
    """登记一卡通账户: the bank file needs an account and its holder's name; held lines of the
    household go into a later batch (or back into an unreleased one) once they are here."""
    household = household_get_for_user(user=request.user, public_id=household_id)
    members = [m.person for m in household.current_memberships()]
    initial = {"bank_name": household.bank_name}
    if household.account_holder_id:
        initial["holder"] = str(household.account_holder.public_id)
    form = HouseholdAccountForm(request.POST or None, members=members, initial=initial)
    if request.method == "POST" and form.is_valid():
        holder = next(p for p in members if str(p.public_id) == form.cleaned_data["holder"])
        try:
            household_account_set(
                actor=request.user,
                household=household,
                bank_name=form.cleaned_data["bank_name"],
                account_number=form.cleaned_data["account_number"],
                holder=holder,
            )
        except RegistryError as exc:
            form.add_error("account_number", exc.message)
        else:
            messages.success(
                request, "一卡通账户已登记。暂缓的款项将在下一批次单独重新发放（未复核发放的批次可“重新核对账户”）。"
            )
            back = request.GET.get("next", "")
            if back and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
                return redirect(back)
            return redirect("registry:household_detail", public_id=household.public_id)
    return render(request, "disbursement/household_account.html", {"household": household, "form": form})


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
