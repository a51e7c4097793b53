"""Pages of the dashboards: one area's statistics for a range of months, with drill-down to the
areas below it. The page reads the summary tables only (ejia/dashboards/selectors.py)."""

from __future__ import annotations

from django.contrib import messages
from django.shortcuts import render
from django.utils import timezone

from ejia.accounts.policies import Capability, staff_view
from ejia.dashboards import selectors


def _render(request, area_code: str | None):
    start, end = request.GET.get("from"), request.GET.get("to")
    today = timezone.localdate()
    try:
        board = selectors.dashboard(request.user, area_code=area_code, start=start, end=end, today=today)
    except selectors.RangeError as exc:
        messages.error(request, str(exc))
        board = selectors.dashboard(request.user, area_code=area_code, start=None, end=None, today=today)
        start = end = None
    return render(
        request,
        "dashboards/area.html",
        {"board": board, "range_query": _range_query(board), "max_month": today.strftime("%Y-%m")},
    )


def _range_query(board) -> str:
    return f"from={board.start_month:%Y-%m}&to={board.end_month:%Y-%m}"


@staff_view(Capability.DASHBOARD_READ)
def overview(request):
    """The viewer's own area."""
    return _render(request, None)


@staff_view(Capability.DASHBOARD_READ)
def area(request, area_code: str):
    return _render(request, area_code)
