"""Reads of cases, always through the viewer's scope (the household's village subtree)."""

from __future__ import annotations

from django.db.models import Count, QuerySet
from django.http import Http404

from ejia.accounts.scope import filter_by_division, require_division
from ejia.cases.models import Case
from ejia.registry.selectors import REFERENCE_RE, person_by_id_number


def cases_for_user(*, user) -> QuerySet[Case]:
    return filter_by_division(
        Case.objects.select_related("division__parent", "applicant", "submitted_by", "window"), user
    ).annotate(request_count=Count("requests"))


def case_queue(*, user, query: str = "", status: str = "") -> QuerySet[Case]:
    """The window's queue: cases of households in the viewer's area, newest first.

    `query` is a reference number or an applicant's or member's ID number (exact, blind index).
    """
    qs = cases_for_user(user=user)
    if status:
        qs = qs.filter(status=status)
    query = (query or "").strip()
    if query:
        ref = REFERENCE_RE.match(query)
        person = person_by_id_number(query)
        if ref and person:
            qs = qs.filter(reference="-".join(ref.groups())) | qs.filter(household__memberships__person=person)
        elif ref:
            qs = qs.filter(reference="-".join(ref.groups()))
        elif person:
            qs = qs.filter(household__memberships__person=person).distinct()
        else:
            qs = qs.none()
    return qs.order_by("-submitted_at")


def case_get_for_user(*, user, public_id) -> Case:
    """404 if there is no such case, 403 if it lies outside the viewer's area."""
    case = (
        Case.objects.select_related("division__parent__parent", "household", "applicant", "submitted_by", "window")
        .filter(public_id=public_id)
        .first()
    )
    if case is None:
        raise Http404("没有找到该申请件。")
    require_division(user, case.division)
    return case
