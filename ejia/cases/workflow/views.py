"""Thin views: parse → scoped read → service → respond. Errors from services are shown
as messages; a stale screen gets the service's message and nothing moves."""

from __future__ import annotations

import mimetypes

from django import forms
from django.contrib import messages
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ejia.accounts.models import User
from ejia.accounts.policies import Capability, allows, require_purpose, staff_view
from ejia.cases.selectors import case_get_for_user, cases_for_user
from ejia.cases.workflow import selectors, services
from ejia.cases.workflow.forms import HomeVisitForm, SelfCareForm, parse_amount
from ejia.cases.workflow.models import (
    DAILY_ACTIVITIES,
    DecisionNotice,
    HomeVisitPhoto,
    ProcedureState,
    RequestProcedure,
)
from ejia.cases.workflow.pdfs import decision_notice_pdf, public_notice_pdf
from ejia.cases.workflow.transitions import Action
from ejia.core.audit import audit_record
from ejia.core.money import format_fen_plain

# Bulk approval only for small one-off amounts; monthly cash always goes one by one.
LOW_RISK_MAX_FEN = 100_000


def _version(request) -> int | None:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


@staff_view(Capability.PROCEDURE_HANDLE)
def queue(request):
    tab = request.GET.get("tab", "mine")
    filters = {k: request.GET.get(k, "") for k in ("programme", "step", "village")}
    data = None if tab == "joint" else selectors.work_queue(user=request.user, tab=tab, **filters)
    joint = selectors.joint_review_queue(user=request.user)
    rows = data.rows if data else []
    context = {
        "tab": tab,
        "tabs": selectors.TABS,
        "queue": data,
        "rows": rows,
        "joint": joint if tab == "joint" else None,
        "joint_count": joint.count(),
        "filters": filters,
        "programmes": sorted({(r.request.programme.code, r.request.programme.name) for r in rows}),
        "step_choices": sorted({(r.step.key, r.step.name) for r in rows}),
        "villages": sorted({(r.division.code, r.division.name) for r in rows}),
        "is_centre": allows(request.user, Capability.JOINT_REVIEW),
    }
    if request.headers.get("HX-Request"):
        return render(request, "workflow/queue.html#rows", context)
    return render(request, "workflow/queue.html", context)


def _actions_for(user, procedure: RequestProcedure) -> set[str]:
    if not procedure.is_open:
        return set()
    acting = user.unit_id == procedure.acting_unit_id and user.has_role(procedure.step.role)
    actions = set()
    if acting:
        actions.add(Action.RELEASE if procedure.claimed_by_id else Action.CLAIM)
    if acting and procedure.claimed_by_id not in (None, user.pk):
        # A colleague holds it: the only move here is taking it back to the unit.
        acting = False
    if acting:
        if procedure.step.decides:
            actions |= {Action.APPROVE, Action.REFUSE}
        elif procedure.step.needs_public_notice:
            actions.add(Action.CLOSE_NOTICE if procedure.state == ProcedureState.IN_NOTICE else Action.PUBLISH_NOTICE)
        else:
            actions.add(Action.COMPLETE)
        if procedure.step.order > 1:
            actions.add(Action.RETURN)
    if allows(user, Capability.CASE_WITHDRAW) and procedure.acting_unit.kind != "department":
        actions.add(Action.WITHDRAW)
    return actions


@staff_view(Capability.PROCEDURE_HANDLE, cache=False)
def procedure_detail(request, public_id):
    procedure = selectors.procedure_get_for_user(user=request.user, public_id=public_id)
    audit_record(actor=request.user, action="workflow.view", obj=procedure)
    # Who may not read this case's file (a department, a village clerk on a case they do not
    # hold) sees only what the decision needs (minimum necessary).
    minimal = not cases_for_user(user=request.user).filter(pk=procedure.case_id).exists()
    facts = selectors.facts_for_decision(procedure, minimal=minimal)
    steps = list(procedure.template.steps.all())
    records = list(procedure.records.select_related("actor", "unit", "step"))
    for record in records:
        record.label = Action(record.action).label
    proposed = services.proposed_amount(procedure)
    context = {
        "p": procedure,
        "facts": facts,
        "steps": steps,
        "records": records,
        "actions": {str(a) for a in _actions_for(request.user, procedure)},
        "proposed": proposed,
        "proposed_yuan": format_fen_plain(proposed),
        "home_visits": procedure.home_visits.select_related("staff_1", "staff_2").prefetch_related("photos"),
        "self_care": procedure.self_care.all(),
        "appraisals": procedure.appraisals.all(),
        "decision": getattr(procedure, "decision", None),
        "flag": selectors.due_flag(
            procedure.step_due, today=timezone.localdate(), calendar=selectors.WorkCalendar.load()
        ),
        "minimal": minimal,
        "activities": DAILY_ACTIVITIES,
        "is_department": minimal,
        "verification_url": reverse("cases:verification", args=[procedure.case.public_id])
        if allows(request.user, Capability.VERIFICATION_READ)
        else None,
    }
    return render(request, "workflow/procedure.html", context)


@staff_view(Capability.CASE_READ, cache=False)
def home_visit_photo(request, public_id, photo_id):
    """One photo of a home visit: the inside of someone's home, so it is served only to staff
    who may read the case file (not to a department approver: minimum necessary), and every
    view is audited."""
    procedure = selectors.procedure_get_for_user(user=request.user, public_id=public_id)
    case_get_for_user(user=request.user, public_id=procedure.case.public_id)
    photo = HomeVisitPhoto.objects.filter(pk=photo_id, visit__procedure=procedure).first()
    if photo is None or not photo.image or not photo.image.storage.exists(photo.image.name):
        raise Http404("没有这张照片。")
    audit_record(actor=request.user, action="workflow.home_visit_photo_view", obj=procedure, data={"photo": photo.pk})
    content_type = mimetypes.guess_type(photo.image.name)[0] or "application/octet-stream"
    return FileResponse(photo.image.open("rb"), content_type=content_type)


@staff_view(Capability.PROCEDURE_HANDLE)
@require_POST
def procedure_act(request, public_id, action):
    procedure = selectors.procedure_get_for_user(user=request.user, public_id=public_id)
    version = _version(request)
    comment = request.POST.get("comment", "")
    try:
        if action == Action.COMPLETE:
            services.procedure_complete(
                actor=request.user,
                procedure_id=procedure.pk,
                expected_version=version,
                comment=comment,
                check_id=request.POST.get("check") or None,
                failed_acknowledged=bool(request.POST.get("ack_failed")),
            )
            messages.success(request, "本环节已办结，已转入下一环节。")
        elif action == Action.RETURN:
            services.procedure_return(
                actor=request.user, procedure_id=procedure.pk, expected_version=version, reason=comment
            )
            messages.success(request, "已退回上一环节。")
        elif action == Action.APPROVE:
            try:
                amount = parse_amount(request.POST.get("amount", ""))
            except forms.ValidationError as exc:
                raise services.WorkflowError(exc.messages[0]) from None
            services.procedure_approve(
                actor=request.user,
                procedure_id=procedure.pk,
                expected_version=version,
                amount_fen=amount if amount is not None else services.proposed_amount(procedure),
                amount_change_reason=request.POST.get("amount_reason", ""),
                comment=comment,
            )
            messages.success(request, "已批准。")
        elif action == Action.REFUSE:
            services.procedure_refuse(
                actor=request.user, procedure_id=procedure.pk, expected_version=version, reasons=comment
            )
            messages.success(request, "已作出不予批准决定。")
        elif action == Action.WITHDRAW:
            services.procedure_withdraw(
                actor=request.user,
                procedure_id=procedure.pk,
                expected_version=version,
                reason=comment or "申请人申请撤回",
            )
            messages.success(request, "已登记申请人撤回。")
        elif action == Action.CLOSE_NOTICE:
            services.notice_close(actor=request.user, procedure_id=procedure.pk, expected_version=version)
            messages.success(request, "公示期满，已转入下一环节。")
        elif action == Action.CLAIM:
            services.procedure_claim(actor=request.user, procedure_id=procedure.pk, expected_version=version)
            messages.success(request, "已认领，该事项列入“我的”。")
        elif action == Action.RELEASE:
            services.procedure_release(
                actor=request.user, procedure_id=procedure.pk, expected_version=version, reason=comment
            )
            messages.success(request, "已释放认领，该事项回到本单位待办。")
        elif action == Action.ESCALATE:
            services.procedure_escalate(actor=request.user, procedure_id=procedure.pk, expected_version=version)
            messages.success(request, "已列入本单位督办。")
        else:
            raise services.WorkflowError("不支持的操作。")
    except services.WorkflowError as exc:
        messages.error(request, exc.message)
    return redirect("workflow:procedure", public_id=public_id)


@staff_view(Capability.PROCEDURE_HANDLE, cache=False)
def home_visit(request, public_id):
    procedure = selectors.procedure_get_for_user(user=request.user, public_id=public_id)
    unit_division = procedure.acting_unit.division
    staff_qs = (
        User.objects.filter(is_active=True, unit__division__path__startswith=unit_division.path)
        .exclude(unit__kind="department")
        .select_related("unit")
        .order_by("unit__kind", "username")
    )
    form = HomeVisitForm(request.POST or None, request.FILES or None, staff_qs=staff_qs)
    if request.method == "POST" and form.is_valid():
        try:
            services.home_visit_record(
                actor=request.user,
                procedure_id=procedure.pk,
                visit_date=form.cleaned_data["visit_date"],
                staff_1=form.cleaned_data["staff_1"],
                staff_2=form.cleaned_data["staff_2"],
                findings=form.cleaned_data["findings"],
                photos=form.cleaned_data["photos"],
            )
        except services.WorkflowError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "入户调查已登记。")
            return redirect("workflow:procedure", public_id=public_id)
    return render(request, "workflow/home_visit.html", {"p": procedure, "form": form})


@staff_view(Capability.PROCEDURE_HANDLE, cache=False)
def self_care(request, public_id):
    procedure = selectors.procedure_get_for_user(user=request.user, public_id=public_id)
    form = SelfCareForm(request.POST or None, initial={"person_name": procedure.case.applicant.name})
    if request.method == "POST" and form.is_valid():
        try:
            services.self_care_record(
                actor=request.user,
                procedure_id=procedure.pk,
                person_name=form.cleaned_data["person_name"],
                assessed_on=form.cleaned_data["assessed_on"],
                can_do=form.activities(),
            )
        except services.WorkflowError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "生活自理能力评估已登记。")
            return redirect("workflow:procedure", public_id=public_id)
    return render(request, "workflow/self_care.html", {"p": procedure, "form": form})


@staff_view(Capability.PROCEDURE_HANDLE)
@require_POST
def appraisal(request, public_id):
    procedure = selectors.procedure_get_for_user(user=request.user, public_id=public_id)
    try:
        services.appraisal_record(
            actor=request.user,
            procedure_id=procedure.pk,
            held_on=timezone.localdate(),
            participants=int(request.POST.get("participants") or 0),
            votes_for=int(request.POST.get("votes_for") or 0),
            opinion=request.POST.get("opinion", ""),
        )
        messages.success(request, "民主评议已登记。")
    except (services.WorkflowError, ValueError) as exc:
        messages.error(request, getattr(exc, "message", "请填写有效的人数。"))
    return redirect("workflow:procedure", public_id=public_id)


# ---------------------------------------------------------------- public notices


@staff_view(Capability.NOTICE_READ)
def notices(request):
    context = {
        "candidates": selectors.notice_candidates(user=request.user),
        "notices": selectors.notices_for_user(user=request.user).prefetch_related("entries")[:100],
        "today": timezone.localdate(),
    }
    return render(request, "workflow/notices.html", context)


@staff_view(Capability.NOTICE_MANAGE)
@require_POST
def notice_publish(request):
    versions: dict[int, int | None] = {}
    for raw in request.POST.getlist("pick"):
        public_id, _, version = raw.partition(":")
        procedure = selectors.procedure_get_for_user(user=request.user, public_id=public_id)
        versions[procedure.pk] = int(version) if version.isdigit() else None
    try:
        notice = services.notice_publish(actor=request.user, versions=versions)
    except services.WorkflowError as exc:
        messages.error(request, exc.message)
        return redirect("workflow:notices")
    messages.success(request, f"已发布公示，公示期至{notice.end_date:%Y年%m月%d日}。")
    return redirect("workflow:notice", public_id=notice.public_id)


@staff_view(Capability.NOTICE_READ, post=Capability.NOTICE_MANAGE)
def notice_detail(request, public_id):
    notice = selectors.notice_get_for_user(user=request.user, public_id=public_id)
    if request.method == "POST":
        try:
            if request.POST.get("objection_id"):
                services.objection_resolve(
                    actor=request.user,
                    objection_id=int(request.POST["objection_id"]),
                    resolution=request.POST.get("resolution", ""),
                )
                messages.success(request, "异议已核实处理。")
            else:
                procedure = selectors.procedure_get_for_user(user=request.user, public_id=request.POST.get("procedure"))
                services.objection_record(
                    actor=request.user,
                    notice_id=notice.pk,
                    procedure_id=procedure.pk,
                    text=request.POST.get("text", ""),
                )
                messages.success(request, "异议已登记，请在公示期满前核实处理。")
        except services.WorkflowError as exc:
            messages.error(request, exc.message)
        return redirect("workflow:notice", public_id=public_id)
    today = timezone.localdate()
    context = {
        "notice": notice,
        "entries": notice.entries.select_related("procedure__step").order_by("pk"),
        "objections": notice.objections.select_related("procedure__request__programme", "received_by").order_by("pk"),
        "days_left": max((notice.end_date - today).days, 0),
        "ended": today >= notice.end_date,
        "can_act": request.user.unit_id == notice.unit_id,
    }
    return render(request, "workflow/notice.html", context)


@staff_view(Capability.NOTICE_READ)
def notice_pdf(request, public_id):
    notice = selectors.notice_get_for_user(user=request.user, public_id=public_id)
    response = FileResponse(public_notice_pdf(notice), content_type="application/pdf", filename="公示.pdf")
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline")
    return response


# ---------------------------------------------------------------- bulk approval


@staff_view(Capability.PROCEDURE_HANDLE)
@require_POST
def bulk_approve(request):
    """First post: a confirmation page listing the picked items. Second post: approve them."""
    picked = []
    for raw in request.POST.getlist("pick"):
        public_id, _, version = raw.partition(":")
        procedure = selectors.procedure_get_for_user(user=request.user, public_id=public_id)
        procedure.expected = int(version) if version.isdigit() else None
        picked.append(procedure)
    if not picked:
        messages.error(request, "请先勾选要批准的事项。")
        return redirect(reverse("workflow:queue"))
    amounts = {services.proposed_amount(p) for p in picked}
    programmes = {p.request.programme_id for p in picked}
    amount = next(iter(amounts))
    problem = ""
    if len(programmes) != 1 or len(amounts) != 1:
        problem = "批量批准只适用于同一项目、同一金额的事项，请分别办理。"
    elif (amount or 0) > LOW_RISK_MAX_FEN or picked[0].request.programme.benefit_form == "monthly_cash":
        problem = "按月发放或金额超过1000元的事项须逐件审批。"
    elif any(not p.step.decides for p in picked):
        problem = "所选事项中有尚未到审批环节的。"
    if problem:
        messages.error(request, problem)
        return redirect(reverse("workflow:queue"))
    if request.POST.get("confirm") != "yes":
        return render(request, "workflow/bulk_confirm.html", {"picked": picked, "amount": amount})
    done, failed = 0, []
    for p in picked:
        try:
            services.procedure_approve(actor=request.user, procedure_id=p.pk, expected_version=p.expected)
            done += 1
        except services.WorkflowError as exc:
            failed.append(f"{p.case.reference}：{exc.message}")
    messages.success(request, f"已批准 {done} 件。")
    for text in failed:
        messages.error(request, text)
    return redirect(reverse("workflow:queue"))


# ---------------------------------------------------------------- joint review


@staff_view(Capability.CASE_READ, post=Capability.JOINT_REVIEW, cache=False)
def joint_review(request, public_id):
    case = case_get_for_user(user=request.user, public_id=public_id)
    why = require_purpose(request, Capability.CASE_READ, case, what=_("申请件的办理情况"))
    audit_record(
        actor=request.user, action="workflow.joint_review_view", obj=case, data={"purpose": why} if why else {}
    )
    if request.method == "POST":
        try:
            services.joint_review_issue(actor=request.user, case_id=case.pk, opinion=request.POST.get("opinion", ""))
            messages.success(request, "联合审核完成，已出具决定通知书并短信告知申请人。")
        except services.WorkflowError as exc:
            messages.error(request, exc.message)
        return redirect("workflow:joint_review", public_id=public_id)
    progress = selectors.case_progress(case)
    return render(
        request,
        "workflow/joint_review.html",
        {
            "case": case,
            "progress": progress,
            "ready": progress["rows"] and all(r["state"] not in ("pending", "in_notice") for r in progress["rows"]),
            "is_reviewer": allows(request.user, Capability.JOINT_REVIEW)
            and request.user.unit_id == getattr(services.joint_review_unit(case), "pk", None),
        },
    )


@staff_view(Capability.CASE_READ, cache=False)
def decision_pdf(request, public_id):
    case = case_get_for_user(user=request.user, public_id=public_id)
    why = require_purpose(request, Capability.CASE_READ, case, what=_("决定通知书"))
    notice = DecisionNotice.objects.select_related("joint_review__unit", "case__applicant").filter(case=case).first()
    if notice is None:
        raise Http404("该申请件尚未出具决定通知书。")
    audit_record(
        actor=request.user, action="workflow.decision_pdf_view", obj=case, data={"purpose": why} if why else {}
    )
    response = FileResponse(
        decision_notice_pdf(notice), content_type="application/pdf", filename=f"决定通知书-{case.reference}.pdf"
    )
    response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline")
    return response


@staff_view(Capability.CASE_READ, cache=False)
def case_progress(request, public_id):
    """The progress fragment for a case (htmx target for the case detail page)."""
    case = case_get_for_user(user=request.user, public_id=public_id)
    require_purpose(request, Capability.CASE_READ, case, what=_("申请件的办理情况"))
    return render(request, "workflow/_case_progress.html", {"progress": selectors.case_progress(case)})


# ---------------------------------------------------------------- claims


@staff_view(Capability.PROCEDURE_HANDLE)
@require_POST
def claim_selected(request):
    """认领 from the queue: the row's own button (`only`) or the ticked rows. Claiming is
    safe in bulk: it moves nothing, and each claim is checked and audited on its own."""
    raws = [request.POST["only"]] if request.POST.get("only") else request.POST.getlist("pick")
    done, failed = 0, []
    for raw in raws:
        public_id, _, version = raw.partition(":")
        procedure = selectors.procedure_get_for_user(user=request.user, public_id=public_id)
        try:
            services.procedure_claim(
                actor=request.user,
                procedure_id=procedure.pk,
                expected_version=int(version) if version.isdigit() else None,
            )
            done += 1
        except services.WorkflowError as exc:
            failed.append(f"{procedure.case.reference}：{exc.message}")
    if not raws:
        messages.error(request, "请先勾选要认领的事项。")
    elif done:
        messages.success(request, f"已认领 {done} 件，列入“我的”。")
    for text in failed:
        messages.error(request, text)
    return redirect(reverse("workflow:queue") + f"?tab={request.POST.get('tab') or 'mine'}")


# ---------------------------------------------------------------- withdrawal


@staff_view(Capability.CASE_WITHDRAW, cache=False)
def case_withdraw(request, public_id):
    """申请人撤回: a confirmation screen listing the open requests; the post withdraws the
    ticked ones with the applicant's reason."""
    case = case_get_for_user(user=request.user, public_id=public_id, capability=Capability.CASE_WITHDRAW)
    requests = selectors.case_requests_for_withdrawal(case)
    reason = request.POST.get("reason", "")
    if request.method == "POST":
        by_public_id = {str(r.public_id): r for r in requests}
        picked, versions = [], {}
        for raw in request.POST.getlist("pick"):
            public, _, version = raw.partition(":")
            chosen = by_public_id.get(public)
            if chosen is None:
                continue
            picked.append(chosen.pk)
            if chosen.proc is not None and version.isdigit():
                versions[chosen.proc.pk] = int(version)
        try:
            if not picked:
                raise services.WorkflowError("请勾选申请人要撤回的救助项目。")
            if request.POST.get("confirmed") != "yes":
                raise services.WorkflowError("请确认申请人已提出撤回（书面或签字确认）。")
            withdrawn = services.case_withdraw(
                actor=request.user, case_id=case.pk, reason=reason, request_ids=picked, expected_versions=versions
            )
        except services.WorkflowError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "已登记申请人撤回：" + "、".join(r.programme.name for r in withdrawn) + "。")
            return redirect("cases:case_detail", public_id=case.public_id)
    return render(request, "workflow/withdraw.html", {"case": case, "requests": requests, "reason": reason})
