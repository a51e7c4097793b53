"""动态管理 pages (township windows, county centres): the queue, change reports with the facts
they carry, re-evaluation before → after and the decision, alerts from department data,
recoveries after a death."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ejia.accounts.policies import Capability, staff_view
from ejia.core.workdays import WorkCalendar
from ejia.disbursement import selectors
from ejia.disbursement.alerts import alert_confirm, alert_dismiss, alerts_rescan
from ejia.disbursement.change_facts import CHANGE_KINDS, ChangeFactsForm, describe_facts, facts_for_report
from ejia.disbursement.departures import recovery_close
from ejia.disbursement.dynamic import (
    change_report_create,
    change_report_decide,
    change_report_evaluate,
    review_complete,
)
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.forms import DecideForm, DismissForm, RecoveryCloseForm, ReviewForm
from ejia.disbursement.models import Entitlement, add_months, month_start, period_label
from ejia.disbursement.moves import planned_moves
from ejia.registry.selectors import household_get_for_user
from ejia.registry.services import RegistryError


@staff_view(Capability.ENTITLEMENT_MANAGE)
def reviews_due_view(request):
    """The township's 动态管理 queue: alerts, reviews due and change reports, each with its
    deadline in working days; recoveries; department comparisons that failed."""
    today = timezone.localdate()
    calendar = WorkCalendar.load()
    alerts = selectors.alerts_for_user(user=request.user)
    for alert in alerts:
        alert.days_left = (
            calendar.working_days_between(today, alert.due_on)
            if alert.due_on >= today
            else -calendar.working_days_between(alert.due_on, today)
        )
    return render(
        request,
        "disbursement/reviews_due.html",
        {
            "alerts": alerts,
            "due": selectors.reviews_due_for_user(user=request.user),
            "reports": selectors.change_reports_for_user(user=request.user),
            "recoveries": selectors.recoveries_for_user(user=request.user),
            "scans": selectors.failed_scans_for_user(user=request.user),
            "today": today,
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
    """报告变化: first the kind of change, then its form (the facts it changes, who, the source and
    the date). The report is evaluated at once so the next page shows before → after."""
    household = household_get_for_user(user=request.user, public_id=household_id)
    kind = CHANGE_KINDS.get(request.GET.get("kind", ""))
    if kind is None:
        return render(
            request,
            "disbursement/change_report_new.html",
            {"household": household, "kinds": CHANGE_KINDS.values(), "form": None},
        )
    members = [m.person for m in household.current_memberships()]
    form = ChangeFactsForm(request.POST or None, kind=kind, members=members, today=timezone.localdate())
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        person = data.get("person")
        newcomer = None
        ref = str(person.public_id) if person else None
        if kind.subject == "newcomer":
            newcomer = {"id_number": data["new_id_number"], "name": data["new_name"], "relation": data["new_relation"]}
            ref = "new"
        try:
            report = change_report_create(
                actor=request.user,
                household=household,
                kind=kind.code,
                effective_on=data["effective_on"],
                person=person,
                details={"facts": facts_for_report(kind, form.new_facts(), ref), "note": data["note"]},
                source=data["source"],
                source_detail=data["source_detail"],
                newcomer=newcomer,
            )
        except (DisbursementError, RegistryError) as exc:
            messages.error(request, str(exc))
        else:
            try:
                change_report_evaluate(actor=request.user, report=report)
            except DisbursementError as exc:
                messages.error(request, str(exc))
            else:
                messages.success(request, "变化已登记，已按变化后的情况重新评估。")
            return redirect("disbursement:change_report", public_id=report.public_id)
    return render(
        request,
        "disbursement/change_report_new.html",
        {"household": household, "kind": kind, "form": form, "kinds": CHANGE_KINDS.values()},
    )


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
    names = {str(m.person.public_id): m.person.name for m in report.household.memberships.select_related("person")}
    return render(
        request,
        "disbursement/change_report.html",
        {
            "report": report,
            "change": CHANGE_KINDS.get(report.kind),
            "facts": describe_facts(report.details.get("facts"), names),
            "moves": planned_moves(report) if report.status != report.Status.DECIDED else [],
            "form": form,
            "panel": panel,
        },
    )


@staff_view(Capability.ENTITLEMENT_MANAGE, cache=False)
def alert_view(request, public_id):
    """One alert: the changed facts and their file; confirm into a change report, or dismiss."""
    alert = selectors.alert_get_for_user(user=request.user, public_id=public_id)
    form = DismissForm(request.POST or None)
    if request.method == "POST":
        try:
            if "confirm" in request.POST:
                report = alert_confirm(actor=request.user, alert=alert)
                messages.success(request, "预警已核实，已转为变更报告并重新评估。")
                return redirect("disbursement:change_report", public_id=report.public_id)
            if form.is_valid():
                alert_dismiss(actor=request.user, alert=alert, reason=form.cleaned_data["reason"])
                messages.success(request, "预警已排除。")
                return redirect("disbursement:reviews_due")
        except DisbursementError as exc:
            messages.error(request, str(exc))
    names = {str(m.person.public_id): m.person.name for m in alert.household.memberships.select_related("person")}
    return render(
        request,
        "disbursement/alert.html",
        {"alert": alert, "facts": describe_facts(alert.facts, names), "form": form},
    )


@staff_view(Capability.ENTITLEMENT_MANAGE, cache=False)
def recovery_view(request, public_id):
    recovery = selectors.recovery_get_for_user(user=request.user, public_id=public_id)
    form = RecoveryCloseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            recovery_close(actor=request.user, recovery=recovery, note=form.cleaned_data["note"])
        except DisbursementError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "追回事项已处理。")
            return redirect(reverse("disbursement:reviews_due") + "#recoveries")
    return render(request, "disbursement/recovery.html", {"recovery": recovery, "form": form})


@staff_view(Capability.ENTITLEMENT_MANAGE)
@require_POST
def scan_rerun_view(request, public_id):
    scan = selectors.scan_get_for_user(user=request.user, public_id=public_id)
    alerts_rescan(actor=request.user, scan=scan)
    messages.success(request, "已重新开始比对。")
    return redirect(reverse("disbursement:reviews_due") + "#scans")
