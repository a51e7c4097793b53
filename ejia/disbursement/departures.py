"""A member leaves a household (death, moving out): their own entitlements end after the month,
each with a notice; months of a dead person's benefits already paid are listed for recovery
(待追回) until staff close them with a note."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from ejia.core.audit import audit_record
from ejia.disbursement.models import Entitlement, Outcome, PaymentItem, Recovery, add_months, month_start, period_label
from ejia.disbursement.services import (
    LIVE,
    REVIEW_RIGHT,
    _check_actor,
    _lock_household_entitlements,
    _notice,
    _require_reason,
    statuses_follow_end,
)
from ejia.disbursement.transitions import EntitlementAction, entitlement_transition
from ejia.registry.models import Person


def member_entitlements_end_on_death(*, actor, person: Person, died_on: dt.date) -> int:
    """A death ends the member's entitlements from the month after the death (the month itself is
    paid); months already paid after that are listed for recovery (待追回)."""
    with transaction.atomic():
        ended = member_entitlements_end(
            actor=actor, person=person, last_day=died_on, why=f"享受人于 {died_on.isoformat()} 死亡"
        )
        recoveries_after_death(person=person, died_on=died_on)
    return ended


def member_entitlements_end(*, actor, person: Person, last_day: dt.date, why: str) -> int:
    """The person's own entitlements end after the month of `last_day`, each with a notice."""
    next_month = add_months(month_start(last_day), 1)
    with transaction.atomic():
        ids = list(
            Entitlement.objects.filter(person=person, status__in=LIVE).order_by("pk").values_list("pk", flat=True)
        )
        if not ids:
            return 0
        household_ids = sorted(set(Entitlement.objects.filter(pk__in=ids).values_list("household_id", flat=True)))
        ended = 0
        for household_id in household_ids:
            for ent in _lock_household_entitlements(household_id, ids):
                if ent.end_month is not None and ent.end_month < next_month:
                    continue
                ent = entitlement_transition(
                    actor=actor,
                    entitlement_id=ent.pk,
                    action=EntitlementAction.END,
                    audit_action="disbursement.entitlement_end",
                    data={"from": period_label(next_month), "outcome": Outcome.TERMINATE},
                    end_month=add_months(next_month, -1),
                    exit_reason=why,
                    next_review_on=None,
                )
                statuses_follow_end(actor=actor, entitlement=ent, reason=ent.exit_reason)
                ended += 1
                _notice(
                    actor=actor,
                    household_id=household_id,
                    entitlement=ent,
                    kind=Outcome.TERMINATE,
                    title=f"{ent.programme.name}终止通知书",
                    body=f"{person.name}的{ent.programme.name}因{why}，自 {period_label(next_month)} 起终止发放。"
                    f"{REVIEW_RIGHT}",
                )
        audit_record(
            actor=actor,
            action="disbursement.member_entitlements_end",
            obj=person,
            reason=why,
            data={"last_day": last_day.isoformat(), "ended": ended, "from": period_label(next_month)},
        )
    return ended


def recoveries_after_death(*, person: Person, died_on: dt.date) -> int:
    """Months of the person's own entitlements paid for after the month of death: 待追回. Safe to
    run twice (one recovery per payment item)."""
    after = add_months(month_start(died_on), 1)
    items = (
        PaymentItem.objects.filter(entitlement__person=person, period__gte=after, recovery__isnull=True)
        .select_related("entitlement__programme", "line")
        .order_by("period", "pk")
    )
    made = 0
    for item in items:
        if item.line.status in ("failed", "returned", "held", "reissued"):
            continue  # never reached the household's account
        Recovery.objects.create(
            household_id=item.entitlement.household_id,
            person=person,
            item=item,
            period=item.period,
            amount_fen=item.amount_fen,
            reason=f"{person.name}于 {died_on.isoformat()} 死亡，{period_label(item.period)} "
            f"{item.entitlement.programme.name}已发放",
        )
        made += 1
    if made:
        audit_record(
            actor=None,
            action="disbursement.recoveries_after_death",
            obj=person,
            data={"died_on": died_on.isoformat(), "items": made},
        )
    return made


def recovery_close(*, actor, recovery: Recovery, note: str) -> Recovery:
    """A recovery is closed with a note (recovered, offset, or waived and why)."""
    note = _require_reason(note)
    _check_actor(actor, recovery.household_id)
    with transaction.atomic():
        locked = Recovery.objects.select_for_update().get(pk=recovery.pk)
        if locked.status == Recovery.Status.CLOSED:
            return locked
        locked.status = Recovery.Status.CLOSED
        locked.note = note
        locked.closed_by = actor
        locked.closed_at = timezone.now()
        locked.save(update_fields=["status", "note", "closed_by", "closed_at", "updated_at"])
        audit_record(
            actor=actor, action="disbursement.recovery_close", obj=locked, reason=note, data={"fen": locked.amount_fen}
        )
    return locked
