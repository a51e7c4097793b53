"""Pages of 主动发现: the leads of the area, one lead, my visits (phone), the grid worker's report."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ejia.accounts.policies import Capability, allows, staff_view
from ejia.discovery import selectors
from ejia.discovery.models import LeadStatus
from ejia.discovery.scan import ScanRefused, scan_start
from ejia.discovery.services import (
    LeadError,
    assignees,
    lead_assign,
    lead_close,
    lead_report,
    lead_start_application,
    may_visit,
)

PAGE = 50


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("走访结果"),
        choices=[
            (LeadStatus.DECLINED, _("群众不申请")),
            (LeadStatus.NOT_ELIGIBLE, _("走访后不符合")),
        ],
    )
    reason = forms.CharField(label=_("说明"), max_length=300, required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ReportForm(forms.Form):
    village = forms.ChoiceField(label=_("村（社区）"))
    name = forms.CharField(label=_("姓名"), max_length=40, required=False)
    address = forms.CharField(label=_("住址"), max_length=200, required=False)
    seen = forms.CharField(label=_("看到的情况"), max_length=2000, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args, villages, **kwargs):
        super().__init__(*args, **kwargs)
        self.villages = {v.code: v for v in villages}
        self.fields["village"].choices = [(v.code, v.name) for v in villages]


@staff_view(Capability.LEAD_READ, cache=False)
def lead_list(request):
    show = request.GET.get("show", "open")
    show = show if show in selectors.SHOW else "open"
    leads = selectors.leads_for_user(request.user, show=show)
    page = Paginator(selectors.cards(leads), PAGE).get_page(request.GET.get("page"))
    may_scan = allows(request.user, Capability.DISCOVERY_SCAN)
    return render(
        request,
        "discovery/lead_list.html",
        {
            "page": page,
            "cards": selectors.cards_of(leads, page.object_list),
            "show": show,
            "areas": selectors.scan_areas_for_user(request.user) if may_scan else [],
            "scans": selectors.scans_for_user(request.user) if may_scan else [],
        },
    )


@staff_view(Capability.DISCOVERY_SCAN)
@require_POST
def scan_now(request):
    areas = {a.code: a for a in selectors.scan_areas_for_user(request.user)}
    area = areas.get(request.POST.get("area", ""))
    if area is None:
        messages.error(request, "请选择本辖区的县（市、区）或全市。")
        return redirect("discovery:leads")
    asked_at = timezone.now()
    try:
        scan = scan_start(actor=request.user, area=area)
    except ScanRefused as exc:
        messages.error(request, exc.message)
        return redirect("discovery:leads")
    if scan.created_at < asked_at:
        messages.info(request, f"{area.name}已有正在进行的比对，完成后线索自动更新。")
    else:
        messages.success(request, f"已开始比对{area.name}，完成后线索自动更新。")
    return redirect("discovery:leads")


@staff_view(Capability.LEAD_READ, cache=False)
def lead_detail(request, public_id):
    lead = selectors.lead_get_for_user(user=request.user, public_id=public_id)
    may_assign = allows(request.user, Capability.LEAD_ASSIGN) and lead.is_open
    return render(
        request,
        "discovery/lead_detail.html",
        {
            "lead": lead,
            "family": selectors.household_leads(lead, request.user),
            "assignees": list(assignees(lead)) if may_assign else [],
            "may_visit": lead.is_open and may_visit(request.user, lead),
            "outcome_form": OutcomeForm(),
        },
    )


@staff_view(Capability.LEAD_ASSIGN)
@require_POST
def lead_assign_view(request, public_id):
    lead = selectors.lead_get_for_user(user=request.user, public_id=public_id)
    try:
        assignee_id = int(request.POST.get("assignee", ""))
    except ValueError:
        messages.error(request, "请选择走访人。")
        return redirect("discovery:lead", public_id=lead.public_id)
    try:
        lead = lead_assign(actor=request.user, lead_id=lead.pk, assignee_id=assignee_id)
    except LeadError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"已分派给{lead.assigned_to.get_full_name()}。")
    return redirect("discovery:lead", public_id=lead.public_id)


@staff_view(Capability.LEAD_VISIT)
@require_POST
def lead_outcome(request, public_id):
    lead = selectors.lead_get_for_user(user=request.user, public_id=public_id)
    if not may_visit(request.user, lead):
        raise PermissionDenied("该线索未分派给您，不能登记走访结果。")
    if request.POST.get("outcome") == LeadStatus.APPLIED:
        try:
            lead_start_application(actor=request.user, lead_id=lead.pk)
        except LeadError as exc:
            messages.error(request, exc.message)
            return redirect("discovery:lead", public_id=lead.public_id)
        messages.success(request, "已按线索预填申请，请核对家庭情况后继续。")
        return redirect("cases:intake_household")
    form = OutcomeForm(request.POST)
    if not form.is_valid():
        messages.error(request, "请选择走访结果。")
        return redirect("discovery:lead", public_id=lead.public_id)
    try:
        lead_close(
            actor=request.user,
            lead_id=lead.pk,
            outcome=form.cleaned_data["outcome"],
            reason=form.cleaned_data["reason"],
        )
    except LeadError as exc:
        messages.error(request, exc.message)
        return redirect("discovery:lead", public_id=lead.public_id)
    messages.success(request, "已登记走访结果，线索已关闭。")
    return redirect("discovery:visits" if allows(request.user, Capability.LEAD_REPORT) else "discovery:leads")


@staff_view(Capability.LEAD_VISIT, cache=False)
def visits(request):
    leads = selectors.visits_for_user(request.user)
    return render(request, "discovery/visits.html", {"cards": selectors.cards_of(leads, selectors.cards(leads)[:200])})


@staff_view(Capability.LEAD_REPORT, cache=False)
def report(request):
    villages = list(selectors.report_villages_for_user(request.user))
    form = ReportForm(request.POST or None, villages=villages)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            lead = lead_report(
                actor=request.user,
                division=form.villages[data["village"]],
                name=data["name"],
                address=data["address"],
                seen=data["seen"],
            )
        except LeadError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "已上报，乡镇（街道）将安排核实。")
            return redirect("discovery:lead", public_id=lead.public_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "discovery/report.html", {"form": form}, status=status)
