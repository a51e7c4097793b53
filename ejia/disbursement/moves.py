"""The 梯度 moves: from a change report's two plans (before and after the change) to what the
decision does about every programme the household holds or could now get — stays, changes
amount, enters 渐退期 (programme data), ends, or moves tier."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ejia.catalogue.plan import Plan, PlanEntry, PlanOutcome
from ejia.core.money import format_fen
from ejia.disbursement.change_facts import CHANGE_KINDS
from ejia.disbursement.models import ChangeReport, Entitlement
from ejia.disbursement.services import LIVE
from ejia.registry.models import STATUS_BY_PROGRAMME, HouseholdStatus

# Leaving 低保 for one of these is a step down the ladder, not out of it (梯度救助).
LOWER_TIERS = ("dibao_edge", "expense_hardship")


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
