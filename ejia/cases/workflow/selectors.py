"""Reads of the workflow, always through the viewer's scope (ejia.accounts.scope).

A department approver sees only requests routed to the department inside the unit's
jurisdiction; everyone else sees the requests of households in the unit's subtree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ejia.accounts.policies import Capability, allows, get_or_refuse, scoped
from ejia.accounts.scope import division_q, filter_by_division
from ejia.cases.models import Case, CaseStatus, ProgrammeRequest
from ejia.cases.selectors import LIST_DEFERRED as CASE_LIST_DEFERRED
from ejia.cases.selectors import handover_note
from ejia.cases.workflow.deadlines import due_flag, due_soon_limit
from ejia.cases.workflow.models import (
    OPEN_STATES,
    Decision,
    DecisionNotice,
    ProcedureState,
    PublicNotice,
    RequestProcedure,
    StepRecord,
)
from ejia.cases.workflow.review import facts_for_decision  # noqa: F401
from ejia.cases.workflow.services import procedures_start_for_case
from ejia.core.workdays import WorkCalendar

TABS = (
    ("mine", _("待我办理")),
    ("claimed", _("我的（已认领）")),
    ("unit", _("本单位")),
    ("due_soon", _("即将到期")),
    ("overdue", _("超期督办")),
)


def procedures_for_user(*, user) -> QuerySet[RequestProcedure]:
    qs = RequestProcedure.objects.select_related(
        "case__applicant",
        "request__programme__department",
        "department",
        "step",
        "acting_unit",
        "division__parent",
        "escalated_to",
        "claimed_by",
    )
    return scoped(qs, user, Capability.PROCEDURE_HANDLE, division="division", department=routed_to_department)


def routed_to_department(department_id: int) -> Q:
    """Requests routed to a department: waiting at one of its units now, or handled there
    before (its own decisions). A 民政 programme that only the window and the centre handle
    (低保) is not routed to the 民政 department's approvers."""
    handled = StepRecord.objects.filter(procedure=OuterRef("pk"), unit__department_id=department_id)
    return Q(acting_unit__department_id=department_id) | Q(Exists(handled))


def start_missing_procedures(*, user, limit: int = 50) -> int:
    """Cases accepted before their procedures existed get them on first sight (lazy start)."""
    missing = ProgrammeRequest.objects.filter(
        case=OuterRef("pk"), status=ProgrammeRequest.Status.SUBMITTED, procedure__isnull=True
    )
    cases = filter_by_division(Case.objects.filter(status=CaseStatus.SUBMITTED), user).filter(Exists(missing))
    started = 0
    for case in cases.defer(*CASE_LIST_DEFERRED).order_by("pk")[:limit]:
        started += len(procedures_start_for_case(case))
    return started


# A list row shows the case's reference and the applicant's name, never the case's stored
# documents: decoding every row's plan (a few kB of JSON, typed on load) was most of the
# queue's time.
LIST_DEFERRED = (
    "case__plan",
    "case__declared_facts",
    "case__materials",
    "case__needs_note",
    "case__proxy_consent_signature",
)


@dataclass
class Queue:
    rows: list[RequestProcedure]
    counts: dict[str, int]
    today: dt.date


def _tab_filters(user, *, today: dt.date, soon: dt.date) -> dict[str, Q]:
    """What each tab holds among the open requests the user reaches."""
    unit_id = user.unit_id
    unit = Q(acting_unit_id=unit_id)
    return {
        # What the user may act on: the unit's requests at a step of the user's role that no
        # colleague has claimed.
        "mine": unit & Q(step__role__in=sorted(user.role_codes)) & (Q(claimed_by__isnull=True) | Q(claimed_by=user)),
        "claimed": Q(claimed_by=user),
        "unit": unit,
        "due_soon": unit & Q(step_due__gte=today, step_due__lte=soon),
        # The unit above sees overdue steps of the units below it (escalation), and its own.
        "overdue": Q(step_due__lt=today)
        & (unit | Q(escalated_to_id=unit_id) | (division_q(user, "acting_unit__division") & ~unit)),
    }


def _open_for_user(user) -> QuerySet[RequestProcedure]:
    return procedures_for_user(user=user).filter(state__in=OPEN_STATES)


def work_counts(*, user, today: dt.date | None = None) -> dict[str, int]:
    """The number of requests in each tab, in one query (the home page and the tab badges)."""
    start_missing_procedures(user=user)
    today = today or timezone.localdate()
    calendar = WorkCalendar.load()
    tabs = _tab_filters(user, today=today, soon=due_soon_limit(today=today, calendar=calendar))
    return _open_for_user(user).aggregate(**{key: Count("pk", filter=q) for key, q in tabs.items()})


def work_queue(
    *,
    user,
    tab: str = "mine",
    programme: str = "",
    step: str = "",
    village: str = "",
    today: dt.date | None = None,
) -> Queue:
    start_missing_procedures(user=user)
    today = today or timezone.localdate()
    calendar = WorkCalendar.load()
    tabs = _tab_filters(user, today=today, soon=due_soon_limit(today=today, calendar=calendar))
    base = _open_for_user(user)
    qs = base.filter(tabs.get(tab, tabs["mine"])).defer(*LIST_DEFERRED)
    if programme:
        qs = qs.filter(request__programme__code=programme)
    if step:
        qs = qs.filter(step__key=step)
    if village:
        qs = qs.filter(division__code=village)
    rows = list(qs.order_by("step_due", "pk")[:300])
    for row in rows:
        row.flag = due_flag(row.step_due, today=today, calendar=calendar)
    counts = base.aggregate(**{key: Count("pk", filter=q) for key, q in tabs.items()})
    return Queue(rows=rows, counts=counts, today=today)


def procedure_get_for_user(*, user, public_id) -> RequestProcedure:
    """404 if there is no such request, 403 if it is not in the viewer's reach."""
    return get_or_refuse(
        procedures_for_user(user=user),
        exists=lambda: RequestProcedure.objects.filter(public_id=public_id).exists(),
        what=_("该事项"),
        public_id=public_id,
    )


def joint_review_queue(*, user) -> QuerySet[Case]:
    """Cases of the county whose every request is decided or withdrawn, without a notice yet."""
    if not allows(user, Capability.JOINT_REVIEW):
        return Case.objects.none()
    open_ = RequestProcedure.objects.filter(case=OuterRef("pk"), state__in=OPEN_STATES)
    any_ = RequestProcedure.objects.filter(case=OuterRef("pk"))
    notice = DecisionNotice.objects.filter(case=OuterRef("pk"))
    return (
        filter_by_division(Case.objects.select_related("applicant", "division__parent"), user)
        .exclude(status=CaseStatus.WITHDRAWN)
        .filter(Exists(any_))
        .exclude(Exists(open_))
        .exclude(Exists(notice))
        .order_by("submitted_at")
    )


def notices_for_user(*, user) -> QuerySet[PublicNotice]:
    return scoped(
        PublicNotice.objects.select_related("village__parent", "unit"), user, Capability.NOTICE_READ, division="village"
    )


def notice_get_for_user(*, user, public_id) -> PublicNotice:
    return get_or_refuse(
        notices_for_user(user=user),
        exists=lambda: PublicNotice.objects.filter(public_id=public_id).exists(),
        what=_("该公示"),
        public_id=public_id,
    )


def notice_candidates(*, user) -> dict:
    """Requests at a notice step waiting to be published by the viewer's unit, per village."""
    rows = (
        procedures_for_user(user=user)
        .filter(acting_unit_id=user.unit_id, state=ProcedureState.PENDING, step__needs_public_notice=True)
        .order_by("division__code", "pk")
    )
    by_village: dict = {}
    for row in rows:
        by_village.setdefault(row.division, []).append(row)
    return by_village


def case_progress(case: Case) -> dict:
    """What the case tracker / case detail shows of the handling: one line per request and
    the decision notice when issued. Contains no personal data beyond the case itself."""
    rows = []
    for p in (
        RequestProcedure.objects.filter(case=case)
        .select_related("request__programme", "step", "acting_unit", "decision", "template")
        .prefetch_related("template__steps")
        .order_by("request_id")
    ):
        decision = getattr(p, "decision", None)
        steps = list(p.template.steps.all())
        rows.append(
            {
                "programme": p.request.programme.name,
                "state": p.state,
                "state_label": p.get_state_display(),
                "step": p.step.name,
                "step_no": p.step.order,
                "steps": len(steps),
                "step_names": [s.name for s in steps],
                "unit": p.acting_unit.name,
                "due": p.step_due if p.is_open else None,
                "amount_fen": decision.amount_fen if decision else None,
                "reasons": decision.reasons if decision else "",
            }
        )
    notice = DecisionNotice.objects.filter(case=case).first()
    return {
        "handover": handover_note(case),
        "rows": rows,
        "notice": notice,
        "case": case,
        "withdrawable": case.status == CaseStatus.SUBMITTED and any(r["state"] in OPEN_STATES for r in rows),
    }


def case_requests_for_withdrawal(case: Case) -> list[ProgrammeRequest]:
    """Every request of the case with its procedure (if started), for the withdrawal screen."""
    requests = list(case.requests.select_related("programme", "procedure__step", "procedure__acting_unit"))
    for r in requests:
        r.proc = getattr(r, "procedure", None)
    return requests


def decisions_for_household(household) -> QuerySet[Decision]:
    """Every decision on the household's programme requests, newest first (the citizen's
    household, already resolved by its caller: ejia.cases.tracking.household_for_phone)."""
    return (
        Decision.objects.filter(procedure__case__household=household)
        .select_related("procedure__case", "procedure__request__programme__department")
        # What the citizen's list shows: not the case's documents, nor the programme's texts.
        .only(
            "outcome",
            "amount_fen",
            "reasons",
            "decided_at",
            "procedure__case__reference",
            "procedure__request__programme__code",
            "procedure__request__programme__name",
            "procedure__request__programme__department__name",
        )
        .order_by("-decided_at", "-pk")
    )
