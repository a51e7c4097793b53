"""From lead to help: assign, record the visit's outcome, report what a grid worker saw.

Every move of a lead is one function: keyword-only arguments, one transaction, the lead locked,
the move checked against `TRANSITIONS`, an audit event naming the actor. A second click on the
same button finds the move already made and changes nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ejia.accounts.models import Division, Role, User
from ejia.accounts.policies import Capability, Reach, require
from ejia.accounts.scope import can_see_division
from ejia.core.audit import audit_record
from ejia.dashboards.tasks import enqueue_current_after_commit
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus

# status → the statuses it may move to (the scan's own closing, LAPSED, goes from either open one).
TRANSITIONS: dict[str, frozenset[str]] = {
    LeadStatus.OPEN: frozenset(
        {LeadStatus.ASSIGNED, LeadStatus.APPLIED, LeadStatus.DECLINED, LeadStatus.NOT_ELIGIBLE, LeadStatus.LAPSED}
    ),
    LeadStatus.ASSIGNED: frozenset(
        {LeadStatus.ASSIGNED, LeadStatus.APPLIED, LeadStatus.DECLINED, LeadStatus.NOT_ELIGIBLE, LeadStatus.LAPSED}
    ),
    LeadStatus.APPLIED: frozenset(),
    LeadStatus.DECLINED: frozenset(),
    LeadStatus.NOT_ELIGIBLE: frozenset(),
    LeadStatus.LAPSED: frozenset(),
}
OUTCOMES = (LeadStatus.APPLIED, LeadStatus.DECLINED, LeadStatus.NOT_ELIGIBLE)
VISITORS = (Role.VILLAGE_CLERK, Role.GRID_WORKER)
# Households one visitor may have waiting at a time (settings.EJIA_DISCOVERY_VISIT_CAP): about
# a month of visits for a grid worker beside the round, so that a handed-out list is walked,
# not parked. A family counts once, however many programmes its leads name.
VISIT_CAP_DEFAULT = 30


def visit_cap() -> int:
    return int(getattr(settings, "EJIA_DISCOVERY_VISIT_CAP", VISIT_CAP_DEFAULT))


def households_waiting(user) -> set[int]:
    """The visitor's waiting visits, one key per family (a report without a household by its own pk)."""
    return {
        household_id or -pk
        for pk, household_id in Lead.objects.filter(assigned_to=user, status=LeadStatus.ASSIGNED).values_list(
            "pk", "household_id"
        )
    }


class LeadError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _locked(lead_id: int) -> Lead:
    return (
        Lead.objects.select_for_update(of=("self",))
        .select_related("division", "household", "programme")
        .get(pk=lead_id)
    )


def _move(lead: Lead, to: str) -> None:
    if to not in TRANSITIONS[lead.status]:
        raise LeadError(f"该线索{lead.get_status_display()}，不能再改为“{LeadStatus(to).label}”。")


def assignees(lead: Lead):
    """Who may visit the lead: village clerks and grid workers of the lead's village."""
    return (
        User.objects.filter(is_active=True, unit__division=lead.division, roles__role__in=VISITORS)
        .distinct()
        .order_by("display_name", "pk")
    )


def lead_assign(*, actor, lead_id: int, assignee_id: int) -> Lead:
    """Hand the lead to a village clerk or grid worker of its village (again: to another one).
    The visit is to the family, so its other open leads of the village go to the same visitor;
    a visitor already waiting on `visit_cap()` other families is refused."""
    require(actor, Capability.LEAD_ASSIGN)
    with transaction.atomic():
        # The family's open leads of the village, locked in one statement in pk order (whichever
        # of them a clerk starts from), so two assignments of one family never deadlock.
        household_id, division_id = Lead.objects.filter(pk=lead_id).values_list("household_id", "division_id").get()
        same = Q(pk=lead_id)
        if household_id is not None:
            same |= Q(household_id=household_id, division_id=division_id, status__in=OPEN_STATUSES)
        family = list(
            Lead.objects.select_for_update(of=("self",))
            .select_related("division", "household", "programme")
            .filter(same)
            .order_by("pk")
        )
        lead = next(item for item in family if item.pk == lead_id)
        family = [lead] + [item for item in family if item.pk != lead_id and item.is_open]
        if not can_see_division(actor, lead.division):
            raise LeadError("该线索不在您的辖区。")
        assignee = assignees(lead).filter(pk=assignee_id).first()
        if assignee is None:
            raise LeadError("只能分派给该村（社区）的协理员或网格员。")
        moving = [item for item in family if not (item.is_open and item.assigned_to_id == assignee.pk)]
        if not moving:
            return lead  # the same click twice
        _move(lead, LeadStatus.ASSIGNED)
        # The visitor's row serialises assignments to them, so two clerks cannot both take the
        # last place under the cap.
        User.objects.select_for_update().filter(pk=assignee.pk).first()
        waiting = households_waiting(assignee)
        cap = visit_cap()
        if (lead.household_id or -lead.pk) not in waiting and len(waiting) >= cap:
            raise LeadError(
                f"{assignee.get_full_name()}已有{len(waiting)}户待走访家庭，达到每人{cap}户的上限。"
                "请等其完成部分走访，或分派给本村其他协理员、网格员。"
            )
        now = timezone.now()
        for item in moving:
            previous = item.assigned_to_id
            item.status = LeadStatus.ASSIGNED
            item.assigned_to = assignee
            item.assigned_at = now
            item.save(update_fields=["status", "assigned_to", "assigned_at", "updated_at"])
            audit_record(
                actor=actor,
                action="discovery.lead_assign",
                obj=item,
                data={"assignee": assignee.username, "previous": previous, "with": str(lead.public_id)},
            )
    return lead


def may_visit(actor, lead: Lead) -> bool:
    from ejia.accounts.policies import reach

    found = reach(actor, Capability.LEAD_VISIT)
    if found == Reach.NONE or not can_see_division(actor, lead.division):
        return False
    if found == Reach.OWN:
        return lead.assigned_to_id == actor.pk or lead.reported_by_id == actor.pk
    return True


def lead_close(*, actor, lead_id: int, outcome: str, reason: str = "") -> Lead:
    """Record the visit's outcome: an application started, the family declined, or not eligible
    after the visit (with the reason). Closes the lead; a repeat of the same outcome is harmless."""
    if outcome not in OUTCOMES:
        raise LeadError("请选择走访结果。")
    reason = reason.strip()
    if outcome == LeadStatus.NOT_ELIGIBLE and not reason:
        raise LeadError("请写明走访后不符合条件的原因。")
    with transaction.atomic():
        lead = _locked(lead_id)
        if not may_visit(actor, lead):
            raise LeadError("该线索未分派给您，不能登记走访结果。")
        if lead.status == outcome:
            return lead  # the same click twice
        _move(lead, outcome)
        lead.status = outcome
        lead.closed_at = timezone.now()
        lead.closed_by = actor
        lead.close_reason = reason[:300]
        lead.save(update_fields=["status", "closed_at", "closed_by", "close_reason", "updated_at"])
        audit_record(
            actor=actor,
            action=f"discovery.lead_{outcome}",
            obj=lead,
            reason=reason[:200],
            data={"programme": lead.programme.code if lead.programme_id else ""},
        )
        enqueue_current_after_commit(trigger="lead_closed", parts=["data"])
    return lead


def lead_report(*, actor, division: Division, name: str, address: str, seen: str) -> Lead:
    """网格员上报: a family the grid worker saw, as a lead of the village for the township."""
    require(actor, Capability.LEAD_REPORT)
    name, address, seen = name.strip(), address.strip(), seen.strip()
    if not (name or address):
        raise LeadError("请填写姓名或住址，至少一项。")
    if not seen:
        raise LeadError("请写下看到的情况。")
    if len(name) > 40 or len(address) > 200 or len(seen) > 2000:
        raise LeadError("填写的内容过长：姓名不超过40字，住址不超过200字，情况不超过2000字。")
    if division.level != Division.Level.VILLAGE or not can_see_division(actor, division):
        raise LeadError("请选择您所在的村（社区）。")
    with transaction.atomic():
        # The same report sent twice (a double tap, a retry on a slow network) is one lead.
        same = (
            Lead.objects.select_for_update()
            .filter(
                source=Lead.Source.REPORT,
                reported_by=actor,
                division=division,
                reported_name=name,
                reported_address=address,
                reported_seen=seen,
                status__in=OPEN_STATUSES,
            )
            .first()
        )
        if same is not None:
            return same
        lead = Lead.objects.create(
            source=Lead.Source.REPORT,
            division=division,
            reported_name=name,
            reported_address=address,
            reported_seen=seen,
            reported_by=actor,
        )
        audit_record(actor=actor, action="discovery.lead_report", obj=lead, data={"village": division.code})
    return lead


def application_draft(*, actor, lead: Lead) -> dict:
    """The intake draft for the lead's household, pre-filled from the registry, with the lead's
    programme chosen and its reasons as the needs note. Raises LeadError when there is none to
    start from (a report without a registered household)."""
    from ejia.cases.intake import intake_prefill
    from ejia.cases.matching import NEED_CATEGORIES
    from ejia.cases.services import CaseError
    from ejia.core import crypto
    from ejia.registry.models import ID_PURPOSE

    if lead.household_id is None:
        raise LeadError("上报的线索尚未对应到登记家庭，请在一门受理中按身份证号码开始申请。")
    head = lead.household.head() or next(
        (m.person for m in lead.household.current_memberships().select_related("person").order_by("pk")), None
    )
    if head is None:
        raise LeadError("该家庭没有在册成员，无法发起申请。")
    number = crypto.decrypt(head.id_number_ciphertext, purpose=ID_PURPOSE)
    try:
        data = intake_prefill(user=actor, id_number=number)
    except CaseError as exc:
        raise LeadError(exc.message) from exc
    category = lead.programme.category if lead.programme_id else ""
    data["needs"] = [need for need, categories in NEED_CATEGORIES.items() if category in categories][:1]
    data["needs_note"] = (
        f"主动发现：{lead.programme.name}（{lead.get_likelihood_display()}）" if lead.programme_id else ""
    )
    data["lead"] = str(lead.public_id)
    data["lead_programme"] = lead.programme.code if lead.programme_id else ""
    return data


def lead_start_application(*, actor, lead_id: int) -> Lead:
    """The visit's outcome "start an application": the intake draft is pre-filled from the lead
    and the lead closes as applied (the open request then keeps the next scan from re-finding it;
    a draft discarded without submitting lets the next scan find the family again)."""
    from ejia.cases import drafts

    lead = Lead.objects.select_related("household", "programme", "division").get(pk=lead_id)
    if not may_visit(actor, lead):
        raise LeadError("该线索未分派给您，不能登记走访结果。")
    if lead.status == LeadStatus.APPLIED and lead.closed_by_id == actor.pk:
        data = application_draft(actor=actor, lead=lead)
        drafts.draft_start(user=actor, channel=data["channel"], data=data)
        return lead  # a second click reopens the pre-filled draft
    data = application_draft(actor=actor, lead=lead)
    with transaction.atomic():
        lead = lead_close(actor=actor, lead_id=lead_id, outcome=LeadStatus.APPLIED, reason="已发起救助申请")
        drafts.draft_start(user=actor, channel=data["channel"], data=data)
    return lead
