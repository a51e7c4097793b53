"""动态管理: periodic reviews, change reports, re-evaluation by the engine and written outcomes.

Each outcome is applied through the entitlement services (one transaction, locks in the order
household → entitlements, audit, a notice to the household).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from ejia.catalogue.plan import Plan, PlanOutcome
from ejia.core.audit import audit_record
from ejia.core.i18n import official_language
from ejia.core.money import format_fen
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import (
    ChangeReport,
    Entitlement,
    Outcome,
    Review,
    add_months,
    month_start,
    period_label,
)
from ejia.disbursement.services import (
    LIVE,
    _actor_or_system,
    _check_actor,
    _lock_household_entitlements,
    _notice,
    _require_reason,
    entitlement_change_amount,
    entitlement_end,
    entitlement_gradual_exit,
    gradual_exit_months,
    household_type,
    review_interval,
    statuses_follow_end,
)
from ejia.disbursement.transitions import EntitlementAction, entitlement_transition
from ejia.registry.models import Household, HouseholdStatus, Person, StatusKind


def review_complete(*, actor, entitlement: Entitlement, outcome: str, note: str, on: dt.date | None = None) -> Review:
    """定期核查 done: records the written outcome and schedules the next review."""
    _check_actor(actor, entitlement.household_id)
    on = on or timezone.localdate()
    with transaction.atomic():
        [ent] = _lock_household_entitlements(entitlement.household_id, [entitlement.pk])
        review = Review.objects.create(
            entitlement=ent,
            due_on=ent.next_review_on or on,
            reviewed_on=on,
            outcome=outcome,
            note=note.strip(),
            reviewer=actor,
        )
        interval = review_interval(ent.programme, household_type(ent.household, on))
        ent.next_review_on = add_months(month_start(on), interval) if interval and ent.status in LIVE else None
        ent.save(update_fields=["next_review_on", "updated_at"])
        audit_record(
            actor=actor,
            action="disbursement.review_complete",
            obj=ent,
            reason=note,
            data={"outcome": outcome, "next": ent.next_review_on.isoformat() if ent.next_review_on else None},
        )
    return review


def change_report_create(
    *,
    actor,
    household: Household,
    kind: str,
    effective_on: dt.date,
    channel: str = ChangeReport.Channel.CLERK,
    person: Person | None = None,
    details: dict | None = None,
) -> ChangeReport:
    """变更报告. A death ends that member's own entitlements from the next month at once;
    the household's other benefits wait for re-evaluation."""
    if kind in (ChangeReport.Kind.DEATH, ChangeReport.Kind.MOVED_OUT) and person is None:
        raise DisbursementError("请指定发生变化的家庭成员。")
    if channel == ChangeReport.Channel.CLERK:
        _check_actor(actor, household.pk)
    with transaction.atomic():
        Household.objects.select_for_update().filter(pk=household.pk).first()
        report = ChangeReport.objects.create(
            household=household,
            person=person,
            kind=kind,
            channel=channel,
            effective_on=effective_on,
            details=details or {},
            reported_by=_actor_or_system(actor),
        )
        audit_record(
            actor=actor,
            action="disbursement.change_report_create",
            obj=report,
            data={"kind": kind, "channel": channel, "effective_on": effective_on.isoformat()},
        )
        if kind == ChangeReport.Kind.DEATH:
            member_entitlements_end_on_death(actor=actor, person=person, died_on=effective_on)
    return report


def member_entitlements_end_on_death(*, actor, person: Person, died_on: dt.date) -> int:
    """A death ends the member's entitlements from the month after the death (the month itself is paid)."""
    next_month = add_months(month_start(died_on), 1)
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
                    exit_reason=f"享受人于 {died_on.isoformat()} 死亡",
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
                    body=f"{person.name}的{ent.programme.name}因本人死亡，自 {period_label(next_month)} 起终止发放。",
                )
        audit_record(
            actor=actor,
            action="disbursement.entitlements_end_on_death",
            obj=person,
            data={"died_on": died_on.isoformat(), "ended": ended, "from": period_label(next_month)},
        )
    return ended


def change_report_evaluate(*, actor, report: ChangeReport, on: dt.date | None = None) -> ChangeReport:
    """Re-evaluate the household with the catalogue's engine on the changed facts: the plan the
    engine gives on the registry's facts with the report's changes on top (no combination rules
    and nothing marked as held: each live entitlement is judged on its own rule)."""
    from ejia.cases.matching import PlanError, plan_evaluate
    from ejia.verification.engine_input import household_engine_input

    on = on or report.effective_on
    household = Household.objects.select_related("division").get(pk=report.household_id)
    engine_input = household_engine_input(household, on=on, declared=report.details.get("facts"))
    try:
        plan = plan_evaluate(engine_input=engine_input, on=on, combine=False)
    except PlanError as exc:
        raise DisbursementError(f"无法重新评估：{exc.message}") from None
    with transaction.atomic():
        locked = ChangeReport.objects.select_for_update().get(pk=report.pk)
        if locked.status == ChangeReport.Status.DECIDED:
            return locked
        locked.evaluation = plan
        locked.status = ChangeReport.Status.EVALUATED
        locked.save(update_fields=["evaluation", "status", "updated_at"])
        audit_record(actor=actor, action="disbursement.change_report_evaluate", obj=locked, data={"on": on.isoformat()})
    return locked


def _result_for(plan: Plan, ent: Entitlement) -> tuple[PlanOutcome, int | None]:
    """The re-evaluated outcome and amount of one live entitlement: its person's entry for a
    member programme, the household's otherwise."""
    if ent.person_id is not None:
        entry = plan.get(f"{ent.programme.code}:{ent.person.public_id}")
        if entry is None:
            return PlanOutcome.UNLIKELY, None
    else:
        entry = next(iter(plan.for_code(ent.programme.code)), None)
        if entry is None:
            return PlanOutcome.UNLIKELY, None
    return entry.outcome, entry.amount_fen


@official_language
def change_report_decide(*, actor, report: ChangeReport, from_month: dt.date, reason: str) -> ChangeReport:
    """Apply the evaluation to every live entitlement of the household, with written outcomes:
    eligible → continue or change amount; no longer eligible → gradual exit when the change is
    employment (渐退期), else termination. When 低保 ends and 低保边缘 now applies, the household's
    status moves down a tier (梯度) and the special assistance the engine still grants continues."""
    reason = _require_reason(reason)
    _check_actor(actor, report.household_id)
    evaluation = report.evaluation
    if evaluation is None:
        raise DisbursementError("请先对变更后的家庭情况进行重新评估。")
    start = month_start(from_month)
    employment = report.kind == ChangeReport.Kind.EMPLOYMENT or bool(report.details.get("found_work"))
    lines: list[str] = []
    with transaction.atomic():
        locked = ChangeReport.objects.select_for_update().get(pk=report.pk)
        if locked.status == ChangeReport.Status.DECIDED:
            return locked
        live = [e for e in _lock_household_entitlements(locked.household_id) if e.status in LIVE]
        overall = Outcome.CONTINUE
        ended_dibao = False
        for ent in live:
            result, amount = _result_for(evaluation, ent)
            if result == PlanOutcome.LIKELY:
                if amount is not None and amount != ent.amount_fen and ent.status != Entitlement.Status.GRADUAL_EXIT:
                    entitlement_change_amount(
                        actor=actor, entitlement=ent, amount_fen=amount, from_month=start, reason=reason
                    )
                    lines.append(f"{ent.programme.name}：调整为每月 {format_fen(amount)}")
                    overall = Outcome.CHANGE_AMOUNT if overall == Outcome.CONTINUE else overall
                else:
                    lines.append(f"{ent.programme.name}：继续享受")
            elif result == PlanOutcome.POSSIBLE:
                lines.append(f"{ent.programme.name}：尚有事实待核实，暂继续享受")
            elif employment and ent.programme.code in ("dibao",):
                entitlement_gradual_exit(actor=actor, entitlement=ent, from_month=start, reason=reason)
                lines.append(f"{ent.programme.name}：进入渐退期 {gradual_exit_months()} 个月")
                overall = Outcome.GRADUAL_EXIT
                ended_dibao = True
            else:
                entitlement_end(actor=actor, entitlement=ent, from_month=start, reason=reason)
                lines.append(f"{ent.programme.name}：自 {period_label(start)} 起终止")
                if ent.programme.code == "dibao":
                    ended_dibao = True
                if overall in (Outcome.CONTINUE, Outcome.CHANGE_AMOUNT):
                    overall = Outcome.TERMINATE
        edge = any(e.outcome == PlanOutcome.LIKELY for e in evaluation.for_code("dibao_edge"))
        if ended_dibao and edge:
            overall = Outcome.TIER_MOVE
            _tier_move_status(household_id=locked.household_id, start=start)
            lines.append("家庭救助身份由低保调整为低保边缘家庭")
        locked.status = ChangeReport.Status.DECIDED
        locked.outcome = overall
        locked.decision_reason = reason
        locked.decided_by = _actor_or_system(actor)
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "outcome", "decision_reason", "decided_by", "decided_at", "updated_at"])
        _notice(
            actor=actor,
            household_id=locked.household_id,
            entitlement=None,
            kind=overall,
            title="救助待遇变更决定书",
            body=f"根据您家 {locked.get_kind_display()} 的情况（{locked.effective_on.isoformat()}），经重新核定：\n"
            + "\n".join(lines)
            + f"\n理由：{reason}。",
        )
        audit_record(
            actor=actor,
            action="disbursement.change_report_decide",
            obj=locked,
            reason=reason,
            data={"outcome": overall, "lines": lines},
        )
    return locked


def _tier_move_status(*, household_id: int, start: dt.date) -> None:
    """梯度: the household's 低保 status ends and a 低保边缘 status begins at `start`."""
    day_before = start - dt.timedelta(days=1)
    HouseholdStatus.objects.filter(
        household_id=household_id, kind=StatusKind.DIBAO, end__isnull=True, start__lte=day_before
    ).update(end=day_before)
    if not HouseholdStatus.objects.filter(
        household_id=household_id, kind=StatusKind.DIBAO_EDGE, end__isnull=True
    ).exists():
        HouseholdStatus.objects.create(
            household_id=household_id, kind=StatusKind.DIBAO_EDGE, start=start, note="梯度调整（由低保转入）"
        )
