"""Reads of cases, always through the access policy (ejia.accounts.policies): the capability
asked for, the reach the viewer's roles give for it, and the viewer's area."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from ejia.accounts.policies import Capability, get_or_refuse, scope_q
from ejia.cases.models import Case
from ejia.registry.selectors import REFERENCE_RE, person_by_id_number


def case_own_q(user) -> Q:
    """The cases a village clerk or grid worker "started, holds or is assigned": submitted by
    them, waiting at their unit, claimed by them, or handled by them at some step."""
    from ejia.cases.workflow.models import RequestProcedure, StepRecord

    holds = RequestProcedure.objects.filter(case=OuterRef("pk")).filter(
        Q(acting_unit_id=user.unit_id) | Q(claimed_by=user)
    )
    handled = StepRecord.objects.filter(procedure__case=OuterRef("pk"), actor=user)
    return Q(submitted_by=user) | Q(Exists(holds)) | Q(Exists(handled))


def case_scope_q(user, capability: Capability = Capability.CASE_READ) -> Q:
    return scope_q(user, capability, division="division", model=Case)


def cases_for_user(*, user, capability: Capability = Capability.CASE_READ) -> QuerySet[Case]:
    return (
        Case.objects.select_related("division__parent", "applicant", "submitted_by", "window")
        .filter(case_scope_q(user, capability))
        .annotate(request_count=Count("requests"))
    )


def case_queue(*, user, query: str = "", status: str = "") -> QuerySet[Case]:
    """The window's queue: cases of households in the viewer's area, newest first.

    `query` is a reference number or an applicant's or member's ID number (exact, blind index).
    """
    qs = cases_for_user(user=user, capability=Capability.CASE_LIST)
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


def case_get_for_user(*, user, public_id, capability: Capability = Capability.CASE_READ) -> Case:
    """404 if there is no such case, 403 if the viewer's reach for `capability` misses it."""
    visible = Case.objects.select_related(
        "division__parent__parent", "household", "applicant", "submitted_by", "window"
    ).filter(case_scope_q(user, capability))
    return get_or_refuse(
        visible,
        exists=lambda: Case.objects.filter(public_id=public_id).exists(),
        what=_("该申请件"),
        public_id=public_id,
    )
