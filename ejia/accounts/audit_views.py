"""The auditor's pages: the audit log, filtered, with the chain check, and the API access log
(every call of a department system, partner registry or the citizens' app, kept outside the
chain and sealed into it every minute). Reading a family's file from here goes through the case
page, which asks the auditor for a stated purpose first."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from ejia.accounts.audit_selectors import access_events_for_user, audit_events_for_user, seal_status
from ejia.accounts.policies import Capability, allows, staff_view
from ejia.core.audit import audit_record, audit_verify
from ejia.core.models import AuditEvent

PER_PAGE = 50
# Objects whose page an auditor can open from the log (the case page asks for a purpose).
OBJECT_PAGES = {"cases.case": "cases:case_detail"}


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _filtered(request, qs, names: tuple[str, ...]):
    """The log filtered by the form's fields (the same on both logs), and the fields."""
    filters = {k: request.GET.get(k, "").strip() for k in names}
    if filters.get("actor"):
        qs = qs.filter(Q(actor__username__iexact=filters["actor"]) | Q(actor_label__contains=filters["actor"]))
    if filters.get("action"):
        qs = qs.filter(action__startswith=filters["action"])
    if filters.get("object"):
        qs = qs.filter(Q(object_id=filters["object"]) | Q(object_type=filters["object"]))
    tz = timezone.get_current_timezone()
    since, until = _date(filters["since"]), _date(filters["until"])
    if since:
        qs = qs.filter(created_at__gte=dt.datetime.combine(since, dt.time.min, tzinfo=tz))
    if until:
        qs = qs.filter(created_at__lt=dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=tz))
    return qs, filters


def _query(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


@staff_view(Capability.AUDIT_READ, cache=False)
def audit_log_view(request):
    qs, filters = _filtered(
        request, audit_events_for_user(user=request.user), ("actor", "action", "object", "since", "until")
    )
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    for event in page.object_list:
        event.link = None
        name = OBJECT_PAGES.get(event.object_type)
        if name and event.object_id:
            try:
                event.link = reverse(name, args=[event.object_id])
            except NoReverseMatch:
                event.link = None
    return render(
        request,
        "accounts/audit_log.html",
        {"page": page, "filters": filters, "query": _query(request), "actions": _action_prefixes()},
    )


@staff_view(Capability.AUDIT_READ, cache=False)
def access_log_view(request):
    """Every API call: which client, as which account, which path, for which citizen (masked
    phone), and whether the row is sealed into the chain yet (the seal job runs every minute)."""
    qs, filters = _filtered(request, access_events_for_user(user=request.user), ("actor", "object", "since", "until"))
    page = Paginator(qs, PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "accounts/access_log.html", {"page": page, "filters": filters, "query": _query(request)})


@staff_view(Capability.ACCESS_SEAL_WATCH, cache=False)
def access_seal_view(request):
    """Whether the seal job keeps up: the area's unsealed API calls, how old the oldest is, the
    newest seal and purge of the chain. Counts and times only, no call's content."""
    return render(
        request,
        "accounts/access_seal.html",
        {"status": seal_status(user=request.user), "can_read_log": allows(request.user, Capability.AUDIT_READ)},
    )


def _action_prefixes() -> list[str]:
    return sorted({a.split(".")[0] for a in AuditEvent.objects.values_list("action", flat=True).distinct()[:500]})


@staff_view(Capability.AUDIT_READ)
@require_POST
def audit_verify_view(request):
    result = audit_verify()
    audit_record(
        actor=request.user,
        action="audit.chain_verify",
        data={"ok": result.ok, "checked": result.checked, "first_broken_seq": result.first_broken_seq},
    )
    (messages.success if result.ok else messages.error)(request, str(result))
    return redirect("accounts:audit_log")
