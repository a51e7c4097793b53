"""Pages of 年度复核批量核对: the county's batches, starting one, and a batch's progress and flags."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from ejia.accounts.policies import Capability, staff_view
from ejia.core.audit import audit_record
from ejia.verification.reviews import (
    ReviewRefused,
    heads_of,
    review_batch_get_for_user,
    review_batch_start,
    review_batches_for_user,
    review_counties_for_user,
    review_flags,
)
from ejia.verification.selectors import difference_lines

POLL_SECONDS = 2
FLAGS_PER_PAGE = 100
# Which flags the batch page lists: the reviewer's work first.
SHOW = {"open": _("待处理"), "done": _("已处理"), "all": _("全部")}


reviewer_page = staff_view(Capability.REVERIFICATION_MANAGE)


@reviewer_page
def review_list_view(request):
    counties = review_counties_for_user(request.user)
    context = {"counties": counties, "batches": review_batches_for_user(request.user)}
    return render(request, "verification/review_list.html", context)


@reviewer_page
@require_POST
def review_start_view(request):
    counties = {c.code: c for c in review_counties_for_user(request.user)}
    county = counties.get(request.POST.get("county", ""))
    if county is None:
        raise PermissionDenied("只能对本辖区的县（市、区）发起批量复核。")
    asked_at = timezone.now()
    try:
        batch = review_batch_start(actor=request.user, county=county)
    except ReviewRefused as exc:
        messages.error(request, exc.message)
        return redirect("verification:reviews")
    if batch.created_at < asked_at:
        messages.info(request, f"{county.name}已有正在进行的复核批次，已为您打开。")
    return redirect("verification:review_batch", public_id=batch.public_id)


@reviewer_page
def review_batch_view(request, public_id):
    batch = review_batch_get_for_user(user=request.user, public_id=public_id)
    context = {"batch": batch, "poll_seconds": POLL_SECONDS}
    if request.headers.get("HX-Request"):
        response = render(request, "verification/review_batch.html#progress", context)
        if not batch.is_open:
            # The poll that sees the end reloads the page, which then shows the flags.
            response["HX-Refresh"] = "true"
        return response
    page = None
    show = request.GET.get("show", "open")
    if show not in SHOW:
        show = "open"
    if not batch.is_open:
        flags = review_flags(batch).select_related("batch", "resolved_by")
        counts = flags.aggregate(all=Count("pk"), done=Count("pk", filter=~Q(resolution="")))
        counts["open"] = counts["all"] - counts["done"]
        context["flag_total"] = counts["all"]
        context["tabs"] = [{"key": k, "label": label, "count": counts[k]} for k, label in SHOW.items()]
        if show == "open":
            flags = flags.filter(resolution="")
        elif show == "done":
            flags = flags.exclude(resolution="")
        page = Paginator(flags, FLAGS_PER_PAGE).get_page(request.GET.get("page"))
        heads = heads_of([f.household_id for f in page.object_list])
        for flag in page.object_list:
            flag.head_name, flag.head_masked_id = heads.get(flag.household_id, ("", ""))
            flag.difference_lines = difference_lines(flag.differences)
        if batch.flagged:
            # The differences are verified economic facts of named households (PIPL): reads are logged.
            audit_record(
                actor=request.user,
                action="verification.review_flags_view",
                obj=batch,
                data={"page": page.number, "households": [str(f.household.public_id) for f in page.object_list]},
            )
    context.update(page=page, show=show)
    return render(request, "verification/review_batch.html", context)
