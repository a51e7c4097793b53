"""动态管理: periodic reviews, change reports, re-evaluation by the engine and written outcomes.

A change report records new facts (ejia/disbursement/change_facts.py); re-evaluation runs the
one engine input builder twice — on what the registry (and the last one-click check) knows, and
with the report's facts on top — and the 梯度 moves follow from the two plans (`planned_moves`):
stays, changes amount, enters 渐退期 (programme data) then ends, ends, or moves tier. Each
outcome is applied through the entitlement services (one transaction, locks in the order
household → entitlements, audit, a written notice with the right to ask for review).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ejia.catalogue.models import Programme
from ejia.catalogue.plan import Plan, PlanEntry, PlanOutcome
from ejia.core.audit import audit_record
from ejia.core.i18n import official_language
from ejia.core.money import format_fen
from ejia.disbursement.change_facts import CHANGE_KINDS, describe_facts
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import (
    ChangeReport,
    Entitlement,
    Outcome,
    PaymentItem,
    Recovery,
    Review,
    add_months,
    month_start,
    period_label,
)
from ejia.disbursement.services import (
    LIVE,
    REVIEW_RIGHT,
    _actor_or_system,
    _check_actor,
    _lock_household_entitlements,
    _notice,
    _require_reason,
    entitlement_change_amount,
    entitlement_create,
    entitlement_end,
    entitlement_gradual_exit,
    household_type,
    review_interval,
    statuses_follow_end,
)
from ejia.disbursement.transitions import EntitlementAction, entitlement_transition
from ejia.registry.models import (
    STATUS_BY_PROGRAMME,
    Household,
    HouseholdStatus,
    Membership,
    Person,
    StatusKind,
)
from ejia.registry.services import (
    household_update,
    membership_add,
    membership_end,
    person_death_register,
    person_ensure,
    status_begin,
    status_end,
)

# Leaving 低保 for one of these is a step down the ladder, not out of it (梯度救助).
LOWER_TIERS = ("dibao_edge", "expense_hardship")


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
    source: str = "",
    source_detail: str = "",
    newcomer: dict | None = None,
) -> ChangeReport:
    """变更报告 with the new facts (`details["facts"]`, in the engine input builder's shape).

    What the report states about the household itself is recorded in the registry at once: a
    death (the person is deceased and leaves the count; their own entitlements end from the
    next month; months paid after the death are listed for recovery), a member who moved out,
    a member who joined (`newcomer`: id_number, name, relation). The household's other benefits
    wait for re-evaluation and a decision."""
    if kind not in CHANGE_KINDS:
        raise DisbursementError("请选择列出的变化类型。")
    change = CHANGE_KINDS[kind]
    if change.subject == "member" and person is None:
        raise DisbursementError("请指定发生变化的家庭成员。")
    if change.subject == "newcomer" and not newcomer:
        raise DisbursementError("请填写新成员的姓名、身份证号码和与户主关系。")
    if channel != ChangeReport.Channel.DEPARTMENT or actor is not None:
        _check_actor(actor, household.pk)
    details = dict(details or {})
    with transaction.atomic():
        Household.objects.select_for_update().filter(pk=household.pk).first()
        if kind == ChangeReport.Kind.MEMBER_JOINED:
            person = person_ensure(
                actor=actor, id_number=newcomer["id_number"], name=newcomer["name"], reason="变更报告：家庭成员增加"
            )
            ref = str(person.public_id)
            facts = details.get("facts") or {}
            staged = (facts.get("members") or {}).pop("new", None)
            if staged:
                facts.setdefault("members", {})[ref] = staged
            membership_add(
                actor=actor,
                household=household,
                person=person,
                relation=newcomer["relation"],
                date_in=effective_on,
                facts=dict(staged or {}),
            )
        report = ChangeReport.objects.create(
            household=household,
            person=person,
            kind=kind,
            channel=channel,
            effective_on=effective_on,
            details=details,
            source=source,
            source_detail=source_detail[:120],
            reported_by=_actor_or_system(actor),
        )
        audit_record(
            actor=actor,
            action="disbursement.change_report_create",
            obj=report,
            data={
                "kind": kind,
                "channel": channel,
                "effective_on": effective_on.isoformat(),
                "source": source,
                "source_detail": source_detail,
                "facts": sorted(_fact_names(details.get("facts"))),
            },
        )
        if kind == ChangeReport.Kind.DEATH:
            person_death_register(actor=actor, person=person, died_on=effective_on, source=source_detail or "变更报告")
            member_entitlements_end_on_death(actor=actor, person=person, died_on=effective_on)
        elif kind == ChangeReport.Kind.MOVED_OUT:
            for membership in Membership.objects.filter(household=household, person=person, date_out__isnull=True):
                membership_end(actor=actor, membership=membership, date_out=effective_on, reason="变更报告：成员迁出")
            member_entitlements_end(
                actor=actor, person=person, last_day=effective_on, why=f"已于 {effective_on.isoformat()} 迁出本户"
            )
    return report


def _fact_names(facts: dict | None) -> set[str]:
    facts = facts or {}
    names = set(facts.get("household") or {})
    for member in (facts.get("members") or {}).values():
        names |= set(member)
    return names


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


# ---------------------------------------------------------------- re-evaluation


def _last_verified(household: Household, report: ChangeReport) -> dict | None:
    """The last finished one-click check's verified facts, minus the facts the report changes
    (the report is newer than the check)."""
    from ejia.verification.models import CheckStatus, VerificationCheck

    check = (
        VerificationCheck.objects.filter(household=household, status__in=(CheckStatus.COMPLETE, CheckStatus.PARTIAL))
        .exclude(facts={})
        .order_by("-finished_at", "-pk")
        .first()
    )
    if check is None:
        return None
    declared = report.details.get("facts") or {}
    household_names = set(declared.get("household") or {})
    members = declared.get("members") or {}
    return {
        "household": {n: v for n, v in (check.facts.get("household") or {}).items() if n not in household_names},
        "members": {
            ref: {n: v for n, v in facts.items() if n not in set(members.get(ref) or {})}
            for ref, facts in (check.facts.get("members") or {}).items()
        },
    }


def change_report_evaluate(*, actor, report: ChangeReport, on: dt.date | None = None) -> ChangeReport:
    """Re-evaluate the household with the catalogue's engine, before and after the change: the
    plan on the registry's facts (with the last check's verified facts), and the plan with the
    report's facts on top (no combination rules: each programme on its own rule)."""
    from ejia.cases.matching import PlanError, plan_evaluate
    from ejia.verification.engine_input import household_engine_input

    _check_actor(actor, report.household_id)
    on = on or report.effective_on
    household = Household.objects.select_related("division").get(pk=report.household_id)
    verified = _last_verified(household, report)
    try:
        before = plan_evaluate(engine_input=_before_input(household, report, on, verified), on=on, combine=False)
        after = plan_evaluate(
            engine_input=household_engine_input(
                household, on=on, declared=report.details.get("facts"), verified=verified
            ),
            on=on,
            combine=False,
        )
    except PlanError as exc:
        raise DisbursementError(f"无法重新评估：{exc.message}") from None
    with transaction.atomic():
        locked = ChangeReport.objects.select_for_update().get(pk=report.pk)
        if locked.status == ChangeReport.Status.DECIDED:
            return locked
        locked.evaluation_before = before
        locked.evaluation = after
        locked.status = ChangeReport.Status.EVALUATED
        locked.save(update_fields=["evaluation_before", "evaluation", "status", "updated_at"])
        audit_record(actor=actor, action="disbursement.change_report_evaluate", obj=locked, data={"on": on.isoformat()})
    return locked


def _before_input(household: Household, report: ChangeReport, on: dt.date, verified: dict | None):
    """The household as it was before the change: the registry recorded a death, a move or a
    new member when the report was made, so the member is put back (or left out) here."""
    from ejia.verification.engine_input import (
        MemberSource,
        active_statuses,
        build_engine_input,
        registry_members,
    )

    members = registry_members(household, on)
    ref = str(report.person.public_id) if report.person_id else ""
    if report.kind == ChangeReport.Kind.MEMBER_JOINED:
        members = [m for m in members if m.ref != ref]
    elif report.kind in (ChangeReport.Kind.DEATH, ChangeReport.Kind.MOVED_OUT) and ref:
        left = Membership.objects.filter(household=household, person=report.person).order_by("-pk").first()
        if left is not None and all(m.ref != ref for m in members):
            members.append(
                MemberSource(
                    ref=ref,
                    name=report.person.name,
                    birth_date=report.person.birth_date,
                    sex=report.person.sex,
                    relation=left.relation,
                    registry=dict(left.facts or {}),
                )
            )
    return build_engine_input(
        division=household.division,
        on=on,
        members=members,
        registry=household.facts or {},
        verified=verified,
        statuses=active_statuses(household.pk, on),
    )


class MoveAction(models.TextChoices):
    STAY = "stay", _("继续享受")
    PENDING = "pending", _("尚有事实待核实，暂继续享受")
    AMOUNT = "amount", _("调整金额")
    GRADUAL_EXIT = "gradual_exit", _("进入渐退期")
    END = "end", _("终止")
    START = "start", _("转入（梯度调整）")
    STATUS_BEGIN = "status_begin", _("认定身份（梯度调整）")
    STATUS_END = "status_end", _("身份终止")
    MAY_APPLY = "may_apply", _("可另行申请")
    NONE = "none", _("不符合")


@dataclass
class Move:
    """One row of the before → after table, and what the decision does about it."""

    code: str
    name: str
    person_name: str
    held: str  # "" | "entitlement" | "status"
    before: PlanEntry | None
    after: PlanEntry | None
    action: str
    entitlement: Entitlement | None = None
    amount_fen: int | None = None
    months: int = 0

    @property
    def action_label(self) -> str:
        label = MoveAction(self.action).label
        if self.action == MoveAction.AMOUNT:
            return f"{label}：{format_fen(self.entitlement.amount_fen)} → {format_fen(self.amount_fen)}"
        if self.action == MoveAction.GRADUAL_EXIT:
            return f"{label}：按原金额再发 {self.months} 个月后停发"
        return str(label)


def _entry(plan: Plan | None, code: str, person_ref: str) -> PlanEntry | None:
    if plan is None:
        return None
    if person_ref:
        return plan.get(f"{code}:{person_ref}")
    return next(iter(plan.for_code(code)), None)


def _likely(entry: PlanEntry | None) -> bool:
    return entry is not None and entry.outcome == PlanOutcome.LIKELY


def planned_moves(report: ChangeReport, *, on: dt.date | None = None) -> list[Move]:
    """Every programme the household holds or could now get, before and after, with its move."""
    before, after = report.evaluation_before, report.evaluation
    if after is None:
        return []
    on = on or timezone.localdate()
    change = CHANGE_KINDS.get(report.kind)
    live = list(
        Entitlement.objects.filter(household_id=report.household_id, status__in=LIVE)
        .select_related("programme", "person")
        .order_by("programme__sort_order", "pk")
    )
    statuses = set(
        HouseholdStatus.objects.filter(household_id=report.household_id, start__lte=on)
        .filter(models.Q(end__isnull=True) | models.Q(end__gte=on))
        .values_list("kind", flat=True)
    )
    moves: list[Move] = []
    seen: set[str] = set()
    leaving_dibao = False
    for ent in live:
        ref = str(ent.person.public_id) if ent.person_id else ""
        seen.add(f"{ent.programme.code}:{ref}" if ref else ent.programme.code)
        b, a = _entry(before, ent.programme.code, ref), _entry(after, ent.programme.code, ref)
        move = Move(
            code=ent.programme.code,
            name=ent.programme.name,
            person_name=ent.person.name if ent.person_id else "",
            held="entitlement",
            before=b,
            after=a,
            action=MoveAction.STAY,
            entitlement=ent,
        )
        if _likely(a):
            changed = a.amount_fen is not None and a.amount_fen != ent.amount_fen and ent.programme.pays_cash
            if changed and ent.status != Entitlement.Status.GRADUAL_EXIT:
                move.action, move.amount_fen = MoveAction.AMOUNT, a.amount_fen
        elif a is not None and a.outcome == PlanOutcome.POSSIBLE:
            move.action = MoveAction.PENDING
        elif ent.status == Entitlement.Status.GRADUAL_EXIT:
            move.action = MoveAction.STAY  # already on its way out
        elif ent.programme.gradual_exit and ent.programme.gradual_exit_months and change and change.income:
            move.action, move.months = MoveAction.GRADUAL_EXIT, ent.programme.gradual_exit_months
        else:
            move.action = MoveAction.END
        if ent.programme.code == "dibao" and move.action in (MoveAction.GRADUAL_EXIT, MoveAction.END):
            leaving_dibao = True
        moves.append(move)
    for entry in after.entries:
        key = entry.key
        if key in seen:
            continue
        b = before.get(key) if before is not None else None
        held_status = STATUS_BY_PROGRAMME.get(entry.code) in statuses and not entry.person
        if not (held_status or _likely(entry) or entry.outcome == PlanOutcome.POSSIBLE or _likely(b)):
            continue
        seen.add(key)
        move = Move(
            code=entry.code,
            name=entry.name,
            person_name=entry.person_name,
            held="status" if held_status else "",
            before=b,
            after=entry,
            action=MoveAction.MAY_APPLY if entry.outcome != PlanOutcome.UNLIKELY else MoveAction.NONE,
        )
        if held_status:
            keeps = _likely(entry) or entry.outcome == PlanOutcome.POSSIBLE
            move.action = MoveAction.STAY if keeps else MoveAction.STATUS_END
        moves.append(move)
    # 梯度: into 低保 from a lower tier when things got worse (the lower tier then ends with the
    # 低保 decision); out of 低保 into a lower tier when it no longer applies but that one does.
    on_lower = any(m.held == "status" and m.code in LOWER_TIERS for m in moves)
    for move in moves:
        if move.code == "dibao" and not move.held and _likely(move.after) and on_lower:
            move.action, move.amount_fen = MoveAction.START, move.after.amount_fen
        elif move.code in LOWER_TIERS and not move.held and _likely(move.after) and leaving_dibao:
            move.action = MoveAction.STATUS_BEGIN
    return moves


@official_language
def change_report_decide(*, actor, report: ChangeReport, from_month: dt.date, reason: str) -> ChangeReport:
    """Apply the planned moves from `from_month`, record the report's facts in the registry, and
    send one written notice (reasons and the right to ask for review)."""
    reason = _require_reason(reason)
    _check_actor(actor, report.household_id)
    if report.evaluation is None:
        raise DisbursementError("请先对变更后的家庭情况进行重新评估。")
    start = month_start(from_month)
    lines: list[str] = []
    with transaction.atomic():
        locked = ChangeReport.objects.select_for_update().get(pk=report.pk)
        if locked.status == ChangeReport.Status.DECIDED:
            return locked
        _lock_household_entitlements(locked.household_id)
        household = Household.objects.select_related("division").get(pk=locked.household_id)
        moves = planned_moves(locked, on=max(locked.effective_on, timezone.localdate()))
        overall = Outcome.CONTINUE
        dibao_last: dt.date | None = None
        for move in moves:
            ent = move.entitlement
            who = f"（{move.person_name}）" if move.person_name else ""
            if move.action == MoveAction.STAY and move.held:
                lines.append(f"{move.name}{who}：继续享受")
            elif move.action == MoveAction.PENDING:
                lines.append(f"{move.name}{who}：尚有事实待核实，暂继续享受")
            elif move.action == MoveAction.AMOUNT:
                entitlement_change_amount(
                    actor=actor, entitlement=ent, amount_fen=move.amount_fen, from_month=start, reason=reason
                )
                lines.append(f"{move.name}{who}：自 {period_label(start)} 起调整为每月 {format_fen(move.amount_fen)}")
                overall = Outcome.CHANGE_AMOUNT if overall == Outcome.CONTINUE else overall
            elif move.action == MoveAction.GRADUAL_EXIT:
                ent = entitlement_gradual_exit(
                    actor=actor, entitlement=ent, from_month=start, reason=reason, months=move.months
                )
                lines.append(
                    f"{move.name}{who}：进入渐退期，{period_label(start)} 至 {period_label(ent.end_month)} "
                    f"按每月 {format_fen(ent.amount_fen)} 继续发放，自 {period_label(add_months(ent.end_month, 1))} 起停发"
                )
                overall = Outcome.GRADUAL_EXIT
                if move.code == "dibao":
                    dibao_last = ent.end_month
            elif move.action == MoveAction.END:
                entitlement_end(actor=actor, entitlement=ent, from_month=start, reason=reason)
                lines.append(f"{move.name}{who}：自 {period_label(start)} 起终止")
                if move.code == "dibao":
                    dibao_last = add_months(start, -1)
                if overall in (Outcome.CONTINUE, Outcome.CHANGE_AMOUNT):
                    overall = Outcome.TERMINATE
            elif move.action == MoveAction.START:
                programme = Programme.objects.get(code=move.code)
                entitlement_create(
                    actor=actor,
                    household=household,
                    programme=programme,
                    amount_fen=move.amount_fen,
                    start_month=start,
                    reason=reason,
                    facts=locked.details.get("facts") or {},
                    rule_date=locked.evaluation.on,
                )
                status_begin(
                    actor=actor,
                    household=household,
                    kind=STATUS_BY_PROGRAMME[move.code],
                    start=start,
                    note="梯度调整：情况变化后转入",
                )
                lines.append(f"{move.name}：自 {period_label(start)} 起纳入，每月 {format_fen(move.amount_fen)}")
                overall = Outcome.TIER_MOVE
            elif move.action == MoveAction.STATUS_END:
                if not any(m.action == MoveAction.START for m in moves):
                    status_end(
                        actor=actor,
                        household=household,
                        kind=STATUS_BY_PROGRAMME[move.code],
                        end=start - dt.timedelta(days=1),
                        reason=reason,
                    )
                    lines.append(f"{move.name}：自 {period_label(start)} 起不再认定")
                    if overall == Outcome.CONTINUE:
                        overall = Outcome.TERMINATE
                else:
                    lines.append(f"{move.name}：转入低保后不再另行认定")
        for move in moves:
            if move.action == MoveAction.STATUS_BEGIN and dibao_last is not None:
                begins = add_months(dibao_last, 1)
                status_begin(
                    actor=actor,
                    household=household,
                    kind=STATUS_BY_PROGRAMME[move.code],
                    start=begins,
                    note="梯度调整（由低保转入）",
                )
                lines.append(
                    f"家庭救助身份自 {period_label(begins)} 起由低保调整为{StatusKind(STATUS_BY_PROGRAMME[move.code]).label}家庭"
                )
                overall = Outcome.TIER_MOVE if overall != Outcome.GRADUAL_EXIT else overall
        _record_facts(actor=actor, report=locked, household=household)
        locked.status = ChangeReport.Status.DECIDED
        locked.outcome = overall
        locked.decision_reason = reason
        locked.decided_by = _actor_or_system(actor)
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "outcome", "decision_reason", "decided_by", "decided_at", "updated_at"])
        names = {str(m.person.public_id): m.person.name for m in household.memberships.select_related("person")}
        facts = "；".join(describe_facts(locked.details.get("facts"), names))
        _notice(
            actor=actor,
            household_id=locked.household_id,
            entitlement=None,
            kind=overall,
            title="救助待遇变更决定书",
            body=f"根据您家{locked.get_kind_display()}的情况（{locked.effective_on.isoformat()}"
            + (f"，{facts}" if facts else "")
            + "），经重新核定：\n"
            + "\n".join(lines or ["现享受的救助待遇不变"])
            + f"\n理由：{reason}。{REVIEW_RIGHT}",
        )
        audit_record(
            actor=actor,
            action="disbursement.change_report_decide",
            obj=locked,
            reason=reason,
            data={"outcome": overall, "lines": lines, "from": period_label(start)},
        )
    return locked


def _record_facts(*, actor, report: ChangeReport, household: Household) -> None:
    """The decided facts become the registry's, so the next evaluation starts from them."""
    facts = report.details.get("facts") or {}
    if facts.get("household"):
        household_update(actor=actor, household=household, facts={**(household.facts or {}), **facts["household"]})
    for ref, member in (facts.get("members") or {}).items():
        membership = (
            Membership.objects.filter(household=household, person__public_id=ref, date_out__isnull=True)
            .select_related("person")
            .first()
        )
        if membership is not None and member:
            membership_add(
                actor=actor,
                household=household,
                person=membership.person,
                relation=membership.relation,
                facts={**(membership.facts or {}), **member},
            )
