"""Reads of cases and of the messages to their households, always through the access policy
(ejia.accounts.policies): the capability asked for, the reach the viewer's roles give for it,
and the viewer's area."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ejia.accounts.policies import Capability, get_or_refuse, require, scope_q
from ejia.accounts.scope import scope_for
from ejia.cases.models import Case, ProgrammeRequest
from ejia.core.models import OutboxMessage
from ejia.core.sms import normalise_mobile
from ejia.registry.models import Household
from ejia.registry.selectors import REFERENCE_RE, current_membership, person_by_id_number


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


# A list row shows the reference, the applicant and the counts, never the stored documents
# (the plan, the declared facts, the materials): decoding them was most of the list's time.
LIST_DEFERRED = ("plan", "declared_facts", "materials", "needs_note", "proxy_consent_signature")


def case_queue(*, user, query: str = "", status: str = "") -> QuerySet[Case]:
    """The window's queue: cases of households in the viewer's area, newest first.

    `query` is a reference number or an applicant's or member's ID number (exact, blind index).
    """
    qs = cases_for_user(user=user, capability=Capability.CASE_LIST).defer(*LIST_DEFERRED)
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


def case_queue_count(*, user, status: str = "") -> int:
    """How many cases the queue holds (the home page), without the list's joins and counts."""
    qs = Case.objects.filter(case_scope_q(user, Capability.CASE_LIST))
    return (qs.filter(status=status) if status else qs).count()


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


# ---------------------------------------------------------------- the outbox

# The county assistance centre answers for the messages of its area (受理回执、办理进度、决定、
# 发放和变更通知): the policy's OUTBOX_READ.
OUTBOX_FILTERS = {
    "": Q(),
    "pending": Q(status=OutboxMessage.Status.PENDING),
    "sent": Q(status=OutboxMessage.Status.SENT),
    "failed": Q(status=OutboxMessage.Status.FAILED),
    "no_recipient": Q(status=OutboxMessage.Status.NO_RECIPIENT),
    # Sent or not, it needed more than one attempt or was put back by staff.
    "retried": Q(attempts__gt=1) | Q(retries__gt=0),
}


def outbox_for_user(*, user, show: str = "", query: str = "") -> QuerySet[OutboxMessage]:
    """Messages to households of the viewer's area, newest first; `show` one of OUTBOX_FILTERS,
    `query` a case or batch reference (prefix) or a full phone number."""
    require(user, Capability.OUTBOX_READ)
    scope = scope_for(user)
    if scope.empty:
        return OutboxMessage.objects.none()
    qs = OutboxMessage.objects.filter(area_path__startswith=scope.division_path).filter(OUTBOX_FILTERS.get(show, Q()))
    query = (query or "").strip()
    if query:
        phone = normalise_mobile(query)
        qs = qs.filter(recipient=phone) if phone else qs.filter(subject__startswith=query)
    return qs.select_related("retried_by").order_by("-created_at", "-pk")


def outbox_counts(*, user) -> dict[str, int]:
    qs = outbox_for_user(user=user)
    return qs.aggregate(**{key or "all": Count("pk", filter=q) for key, q in OUTBOX_FILTERS.items()})


def outbox_message_get_for_user(*, user, public_id) -> OutboxMessage:
    """404 if there is no such message, 403 if it concerns a household outside the viewer's area."""
    require(user, Capability.OUTBOX_READ)
    message = OutboxMessage.objects.filter(public_id=public_id).first()
    if message is None:
        raise Http404("没有找到该短信。")
    scope = scope_for(user)
    if scope.empty or not message.area_path.startswith(scope.division_path):
        raise PermissionDenied("该短信不在您的数据权限范围内。")
    return message


# ---------------------------------------------------------------- duplicates at intake


@dataclass(frozen=True)
class OpenCase:
    """An application of the household still being handled, as the first intake step shows it:
    the reference and, per open programme, the stage it is at — never a member's details."""

    reference: str
    channel: str
    submitted_at: dt.datetime
    programmes: tuple[tuple[str, str], ...]  # (programme name, stage)


def draft_household(data: dict) -> Household | None:
    """The registered household an intake draft is for: the applicant's current one, else the one
    the draft started from (unscoped: the intake services and steps only)."""
    applicant = next((m for m in data.get("members") or [] if m.get("key") == data.get("applicant")), None)
    person = person_by_id_number(applicant["id_number"]) if applicant else None
    membership = current_membership(person) if person else None
    if membership is not None:
        return membership.household
    if data.get("household_id"):
        return Household.objects.filter(public_id=data["household_id"]).select_related("division").first()
    return None


def open_cases_of_household(household: Household | None) -> list[OpenCase]:
    """The household's applications with a programme still open, any channel, newest first."""
    if household is None:
        return []
    requests = (
        ProgrammeRequest.objects.filter(household=household, is_open=True)
        .select_related("case", "programme", "procedure__step")
        .order_by("-case__submitted_at", "pk")
    )
    found: dict[int, list] = {}
    cases: dict[int, Case] = {}
    for request in requests:
        cases[request.case_id] = request.case
        procedure = getattr(request, "procedure", None)
        stage = procedure.step.name if procedure is not None else str(request.get_status_display())
        found.setdefault(request.case_id, []).append((request.programme.name, stage))
    return [
        OpenCase(
            reference=case.reference,
            channel=str(case.get_channel_display()),
            submitted_at=case.submitted_at,
            programmes=tuple(found[pk]),
        )
        for pk, case in cases.items()
    ]


def handover_note(case: Case) -> str:
    """The hand-over line of the case history (全市通办), shown to both units; '' if none."""
    if not case.handed_over:
        return ""
    to = case.window.name if case.window_id else case.division.parent.name
    return _("%(day)s 由%(accepted)s受理（全市通办），转%(to)s办理。") % {
        "day": timezone.localtime(case.submitted_at).date().isoformat(),
        "accepted": case.accepted_unit.name,
        "to": to,
    }
