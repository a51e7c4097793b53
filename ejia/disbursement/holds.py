"""Money that is held or waits for someone: nothing approved is ever dropped silently.

Three kinds, each listed on the batch pages and the county centre's 暂缓和待处理 page, and
counted on its home page:

- an approved cash decision that has no entitlement after a batch was built — no amount was
  decided, or a per-member programme has no member named (the county centre names one here);
- a payment line held out of the bank file — the household has no account or no account
  holder's name (户名); it goes into a later batch on its own once the account is registered;
- a line the bank answered that still needs a person — an amount to accept, a failure to
  re-issue.

The first is read live from the decisions (approved, cash, no entitlement), so it can never
go stale; the others are lines in their states.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from ejia.accounts.policies import Capability, allows, require
from ejia.accounts.scope import filter_by_division, require_division
from ejia.catalogue.models import Programme
from ejia.core.money import format_fen
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentLine

CASH = (Programme.BenefitForm.MONTHLY_CASH, Programme.BenefitForm.ONE_OFF_CASH)
S = PaymentLine.Status


@dataclass(frozen=True)
class HeldDecision:
    decision: object
    request: object
    reason: str
    can_name_member: bool

    @property
    def amount_text(self) -> str:
        amount = self.decision.amount_fen
        return format_fen(amount) if amount else "—"


def _held_decisions_qs() -> QuerySet:
    from ejia.cases.models import ProgrammeRequest
    from ejia.cases.workflow.models import Decision

    return (
        Decision.objects.filter(
            outcome=Decision.Outcome.APPROVED,
            procedure__request__status=ProgrammeRequest.Status.APPROVED,
            procedure__request__programme__benefit_form__in=CASH,
        )
        .filter(~Exists(Entitlement.objects.filter(request=OuterRef("procedure__request"))))
        .select_related(
            "procedure__request__programme",
            "procedure__request__case",
            "procedure__request__household__division",
        )
        .order_by("decided_at", "pk")
    )


def _reason(decision) -> tuple[str, bool]:
    request = decision.procedure.request
    if not decision.amount_fen or decision.amount_fen <= 0:
        return "批准时未核定金额（或金额为零），无法发放；须由审批环节重新作出写明金额的决定。", False
    if request.programme.target == Programme.Target.MEMBER:
        return "以个人为单位的项目，未能确定享受待遇的家庭成员；请指定成员后生成待遇。", True
    return "尚未生成待遇；下次生成本县发放批次时自动生成。", False


def _as_held(decisions) -> list[HeldDecision]:
    held = []
    for decision in decisions:
        reason, can_name = _reason(decision)
        held.append(HeldDecision(decision, decision.procedure.request, reason, can_name))
    return held


def held_decisions_for_user(*, user, limit: int = 200) -> list[HeldDecision]:
    if not allows(user, Capability.PAYMENT_MANAGE):
        return []
    qs = filter_by_division(_held_decisions_qs(), user, "procedure__request__household__division")
    return _as_held(qs[:limit])


def held_decisions_for_county(*, county_code: str, limit: int = 200) -> list[HeldDecision]:
    qs = _held_decisions_qs().filter(procedure__request__household__division__code__startswith=county_code[:6])
    return _as_held(qs[:limit])


def held_lines_for_user(*, user) -> QuerySet:
    """Lines out of the bank file for want of an account or its holder's name, not yet re-issued."""
    if not allows(user, Capability.PAYMENT_MANAGE):
        return PaymentLine.objects.none()
    qs = PaymentLine.objects.filter(status=S.HELD).select_related("batch__county", "household__division")
    return filter_by_division(qs, user, "batch__county").order_by("batch__period", "pk")


def open_answers_for_user(*, user) -> QuerySet:
    """Lines the bank answered that wait for a person: a mismatch to accept, a failure to re-issue."""
    if not allows(user, Capability.PAYMENT_MANAGE):
        return PaymentLine.objects.none()
    qs = PaymentLine.objects.filter(
        Q(status=S.MISMATCH) | Q(status__in=[S.FAILED, S.RETURNED], reissue_requested=False),
        batch__status=PaymentBatch.Status.EXPORTED,
    ).select_related("batch__county", "household__division")
    return filter_by_division(qs, user, "batch__county").order_by("batch__period", "pk")


def held_decision_get_for_user(*, user, decision_id: int):
    from django.http import Http404

    from ejia.cases.workflow.models import Decision

    require(user, Capability.PAYMENT_MANAGE)
    decision = _held_decisions_qs().filter(pk=decision_id).first()
    if decision is None:
        existing = Decision.objects.select_related("procedure__request__household__division").filter(pk=decision_id)
        existing = existing.first()
        if existing is None:
            raise Http404("没有找到该决定。")
        require_division(user, existing.procedure.request.household.division)
        # A second click, or a colleague was quicker: say so, change nothing.
        raise DisbursementError("该决定已生成待遇或无需发放，无需再指定。")
    require_division(user, decision.procedure.request.household.division)
    return decision


def held_decision_name_member(*, actor, decision, person) -> Entitlement:
    """指定享受人: the county centre names the member a per-member programme pays, and the
    approved decision becomes an entitlement now (from the programme's start month)."""
    from ejia.disbursement.services import entitlement_create_from_request, pay_start_month

    require(actor, Capability.PAYMENT_MANAGE)
    request = decision.procedure.request
    require_division(actor, request.household.division)
    if not decision.amount_fen or decision.amount_fen <= 0:
        raise DisbursementError("批准时未核定金额，不能生成待遇。")
    if request.programme.target != Programme.Target.MEMBER:
        raise DisbursementError("该项目以家庭为单位，无需指定成员。")
    members = {m.person_id for m in request.household.current_memberships()}
    if person is None or person.pk not in members:
        raise DisbursementError("请选择该户现有的家庭成员。")
    with transaction.atomic():
        return entitlement_create_from_request(
            actor=actor,
            request=request,
            amount_fen=decision.amount_fen,
            start_month=pay_start_month(
                request.programme,
                accepted_on=timezone.localtime(request.case.submitted_at).date(),
                decided_on=timezone.localtime(decision.decided_at).date(),
            ),
            person=person,
        )
