"""Entitlements, deliveries and 动态管理 (reviews, change reports, outcomes).

Every function here is one state change: keyword-only, one transaction, rows locked in the
fixed order household → entitlements (by id), an audit event, and for outcomes a written
notice to the household. Monthly payment batches live in `batches.py`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from ejia.accounts.policies import Capability, require
from ejia.accounts.scope import require_division
from ejia.catalogue.models import Programme
from ejia.core.audit import audit_record
from ejia.core.money import format_fen
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.messages import notice_message
from ejia.disbursement.models import (
    Delivery,
    Entitlement,
    Notice,
    Outcome,
    PaymentBatch,
    ReviewSchedule,
    add_months,
    month_start,
    period_label,
)
from ejia.disbursement.transitions import ENTITLEMENT, EntitlementAction, entitlement_transition
from ejia.registry.models import STATUS_BY_PROGRAMME, BenefitRecord, Household, Membership, Person
from ejia.registry.services import status_end

logger = logging.getLogger(__name__)
# The right to ask for review, on every written decision about a benefit (行政复议法 Art. 20).
REVIEW_RIGHT = "如对本决定有异议，可自收到本通知之日起 60 日内申请复核或行政复议。"
LIVE = (Entitlement.Status.ACTIVE, Entitlement.Status.SUSPENDED, Entitlement.Status.GRADUAL_EXIT)
ONE_PERIOD_FORMS = (Programme.BenefitForm.ONE_OFF_CASH,)
WORKING_AGE = (16, 59)

# Defaults when a programme has no ReviewSchedule rows (民政部 2021: 特困 and stable 低保 yearly,
# 低保 with working-age members or irregular income every six months).
DEFAULT_SCHEDULES = {
    ("tekun", "stable"): 12,
    ("tekun", "working_age"): 12,
    ("dibao", "stable"): 12,
    ("dibao", "working_age"): 6,
}


def _actor_or_system(actor):
    return actor if getattr(actor, "pk", None) else None


# ---------------------------------------------------------------- entitlements


def household_type(household: Household, on: dt.date) -> str:
    """working_age when any current member is of working age (16–59), else stable."""
    low, high = WORKING_AGE
    for birth in Membership.objects.filter(household=household, date_out__isnull=True).values_list(
        "person__birth_date", flat=True
    ):
        age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
        if low <= age <= high:
            return ReviewSchedule.HouseholdType.WORKING_AGE
    return ReviewSchedule.HouseholdType.STABLE


def review_interval(programme: Programme, kind: str) -> int | None:
    row = ReviewSchedule.objects.filter(programme=programme, household_type=kind).values_list(
        "interval_months", flat=True
    )
    value = row.first()
    if value is not None:
        return value
    return DEFAULT_SCHEDULES.get((programme.code, kind))


def review_schedules_ensure() -> int:
    """Seed the default schedule rows for the programmes present (idempotent)."""
    made = 0
    for (code, kind), months in DEFAULT_SCHEDULES.items():
        programme = Programme.objects.filter(code=code).first()
        if programme is not None:
            _, created = ReviewSchedule.objects.get_or_create(
                programme=programme, household_type=kind, defaults={"interval_months": months}
            )
            made += created
    return made


def entitlement_create(
    *,
    actor,
    household: Household,
    programme: Programme,
    amount_fen: int,
    start_month: dt.date,
    months: int | None = None,
    person: Person | None = None,
    request=None,
    facts: dict | None = None,
    rule_version: str = "",
    rule_date: dt.date | None = None,
    previous: Entitlement | None = None,
    reason: str = "",
    status: str = Entitlement.Status.ACTIVE,
) -> Entitlement:
    ENTITLEMENT.check(action=EntitlementAction.CREATE, source=None, actor=actor, target=status)
    if amount_fen < 0:
        raise DisbursementError("金额不能为负数。")
    if programme.pays_cash and amount_fen == 0:
        raise DisbursementError(f"{programme.name}是现金救助，每期金额须大于0元。")
    if programme.target == Programme.Target.MEMBER and person is None:
        raise DisbursementError(f"{programme.name}以个人为单位，须指定享受待遇的家庭成员。")
    start = month_start(start_month)
    if months is None and (
        programme.benefit_form in ONE_PERIOD_FORMS or programme.amount_period == Programme.AmountPeriod.ONCE
    ):
        months = 1  # a one-off payment is an entitlement of one period
    if months is not None and months < 1:
        raise DisbursementError("发放期数至少为 1。")
    end = add_months(start, months - 1) if months else None
    with transaction.atomic():
        household = Household.objects.select_for_update().select_related("division").get(pk=household.pk)
        interval = review_interval(programme, household_type(household, start))
        first_open = first_open_month(county_code=household.division.code[:6], household_id=household.pk, start=start)
        if first_open > start and previous is None and months == 1:
            # A one-off payment decided after its month's batch: paid in the next open batch.
            # (Monthly benefits keep their start: the first batch that includes them pays the
            # months before as arrears, 补发, in a line of their own.)
            start = end = first_open
        entitlement = Entitlement.objects.create(
            household=household,
            person=person,
            programme=programme,
            request=request,
            county_code=household.division.code[:6],
            amount_fen=int(amount_fen),
            facts=facts or {},
            rule_version=rule_version,
            rule_date=rule_date,
            start_month=start,
            end_month=end,
            previous=previous,
            status=status,
            next_review_on=add_months(start, interval) if interval and months is None else None,
            created_by=_actor_or_system(actor),
        )
        audit_record(
            actor=actor,
            action="disbursement.entitlement_create",
            obj=entitlement,
            reason=reason,
            data={
                "household": str(household.public_id),
                "programme": programme.code,
                "amount_fen": entitlement.amount_fen,
                "start": period_label(start),
                "end": period_label(end) if end else None,
            },
        )
    return entitlement


def first_open_month(*, county_code: str, household_id: int, start: dt.date) -> dt.date:
    """The first month from `start` whose county batch can still take this household: no batch
    yet, or one still building whose cursor has not passed the household. A building batch is
    locked first, so a chunk in progress finishes before we look (order: household → batch)."""
    month = month_start(start)
    batches = {
        b.period: b
        for b in PaymentBatch.objects.filter(county__code=county_code, period__gte=month).only(
            "period", "status", "build_cursor"
        )
    }
    while month in batches:
        batch = batches[month]
        if batch.status == PaymentBatch.Status.BUILDING:
            batch = PaymentBatch.objects.select_for_update().only("status", "build_cursor").get(pk=batch.pk)
            if batch.status == PaymentBatch.Status.BUILDING and batch.build_cursor < household_id:
                return month
        month = add_months(month, 1)
    return month


def pay_start_month(programme: Programme, *, accepted_on: dt.date, decided_on: dt.date) -> dt.date:
    """The first month an approved benefit is paid for, by the programme's rule (catalogue data)."""
    rule = programme.pay_from
    if rule == Programme.PayFrom.AFTER_ACCEPTANCE:
        return add_months(month_start(accepted_on), 1)
    if rule == Programme.PayFrom.AFTER_DECISION:
        return add_months(month_start(decided_on), 1)
    return month_start(decided_on)


def entitlement_create_from_request(
    *, actor, request, amount_fen: int, start_month: dt.date, months: int | None = None, person: Person | None = None
):
    """An approved request becomes money: called by the workflow on approval. Idempotent per request."""
    from ejia.cases.models import ProgrammeRequest
    from ejia.catalogue.selectors import programme_current_version

    with transaction.atomic():
        request = (
            ProgrammeRequest.objects.select_for_update(of=("self",))
            .select_related("case", "programme", "household", "person")
            .get(pk=request.pk)
        )
        if request.status != ProgrammeRequest.Status.APPROVED:
            raise DisbursementError("只有已批准的申请才能生成待遇。")
        existing = Entitlement.objects.filter(request=request).order_by("pk").first()
        if existing is not None:
            return existing
        case = request.case
        version = programme_current_version(request.programme, on=case.rule_date)
        entry = request.plan_entry()
        facts = {"declared": case.declared_facts, "plan": entry.to_json() if entry is not None else None}
        return entitlement_create(
            actor=actor,
            household=request.household,
            programme=request.programme,
            amount_fen=amount_fen,
            start_month=start_month,
            months=months,
            person=person or _beneficiary(request),
            request=request,
            facts=facts,
            rule_version=f"v{version.number}" if version else "",
            rule_date=case.rule_date,
            reason=f"申请 {case.reference} 已批准",
        )


def _beneficiary(request) -> Person | None:
    """For a member programme: the member the request names (from the plan entry ticked at
    intake). A request without one is refused, never paid to nobody."""
    if request.programme.target != Programme.Target.MEMBER:
        return None
    if request.person_id is None:
        raise DisbursementError(f"{request.programme.name}以个人为单位，申请未指明享受待遇的家庭成员。")
    return request.person


def _lock_household_entitlements(household_id: int, ids: Iterable[int] | None = None) -> list[Entitlement]:
    Household.objects.select_for_update().filter(pk=household_id).first()
    qs = Entitlement.objects.select_for_update(of=("self",)).filter(household_id=household_id).order_by("pk")
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return list(qs.select_related("programme", "person"))


def _notice(*, actor, household_id: int, entitlement: Entitlement | None, kind: str, title: str, body: str) -> Notice:
    """The written notice, and its SMS to the household through the outbox (same transaction)."""
    notice = Notice.objects.create(
        household_id=household_id,
        entitlement=entitlement,
        kind=kind,
        title=title,
        body=body,
        issued_by=_actor_or_system(actor),
    )
    household = Household.objects.select_related("division").get(pk=household_id)
    subject = ""
    if entitlement is not None and entitlement.request_id:
        subject = entitlement.request.case.reference
    notice_message(notice=notice, household=household, subject=subject)
    return notice


def statuses_follow_end(*, actor, entitlement: Entitlement, reason: str) -> None:
    """救助身份 ends with the entitlement behind it (低保、特困 …): on the last day of its last
    paid month, unless another entitlement of the programme still runs with no end (for the
    person's status: of that person; for the household's: of anyone in it). Call in the
    transaction that ended it, with the household locked."""
    kind = STATUS_BY_PROGRAMME.get(entitlement.programme.code)
    if kind is None:
        return
    same = Entitlement.objects.filter(household_id=entitlement.household_id, programme_id=entitlement.programme_id)
    scopes = [(None, same)]
    if entitlement.person_id:
        scopes.insert(0, (entitlement.person, same.filter(person_id=entitlement.person_id)))
    for person, qs in scopes:
        rows = list(qs.values_list("status", "start_month", "end_month"))
        if any(end is None and status != Entitlement.Status.ENDED for status, _start, end in rows):
            continue
        paid = [end for _status, start, end in rows if end is not None and end >= start]
        # The status ends the day before the first month nothing is paid: the last day of the
        # last month paid, or, if it never paid, the day before it would have begun.
        unpaid_from = add_months(max(paid), 1) if paid else entitlement.start_month
        status_end(
            actor=actor,
            household=entitlement.household,
            kind=kind,
            end=unpaid_from - dt.timedelta(days=1),
            person=person,
            reason=reason,
        )


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DisbursementError("须填写书面理由。")
    return reason


def _check_actor(actor, household_id: int) -> None:
    if actor is None or getattr(actor, "is_superuser", False):
        return
    require(actor, Capability.ENTITLEMENT_MANAGE)
    require_division(actor, Household.objects.select_related("division").get(pk=household_id).division)


def entitlement_end(
    *, actor, entitlement: Entitlement, from_month: dt.date, reason: str, kind: str = Outcome.TERMINATE
) -> Entitlement:
    """终止: nothing is paid from `from_month` on (months already paid stay paid)."""
    reason = _require_reason(reason)
    _check_actor(actor, entitlement.household_id)
    start = month_start(from_month)
    with transaction.atomic():
        [ent] = _lock_household_entitlements(entitlement.household_id, [entitlement.pk])
        if ent.status == Entitlement.Status.ENDED and ent.end_month and ent.end_month < start:
            return ent
        # An end before the start month means it never pays (cancelled before its first month).
        ent = entitlement_transition(
            actor=actor,
            entitlement_id=ent.pk,
            action=EntitlementAction.END,
            audit_action="disbursement.entitlement_end",
            reason=reason,
            data={"from": period_label(start), "outcome": kind},
            end_month=add_months(start, -1),
            exit_reason=reason,
            next_review_on=None,
        )
        statuses_follow_end(actor=actor, entitlement=ent, reason=reason)
        _notice(
            actor=actor,
            household_id=ent.household_id,
            entitlement=ent,
            kind=kind,
            title=f"{ent.programme.name}终止通知书",
            body=f"经审核，您家享受的{ent.programme.name}自 {period_label(start)} 起终止发放。理由：{reason}。"
            "如有异议，可自收到本通知之日起 60 日内申请行政复议。",
        )
    return ent


def entitlement_suspend(*, actor, entitlement: Entitlement, reason: str) -> Entitlement:
    """暂停: the next batches skip it until resumed (e.g. the household cannot be reached for review)."""
    reason = _require_reason(reason)
    _check_actor(actor, entitlement.household_id)
    with transaction.atomic():
        [ent] = _lock_household_entitlements(entitlement.household_id, [entitlement.pk])
        if ent.status == Entitlement.Status.SUSPENDED:
            return ent
        ent = entitlement_transition(
            actor=actor,
            entitlement_id=ent.pk,
            action=EntitlementAction.SUSPEND,
            audit_action="disbursement.entitlement_suspend",
            reason=reason,
            exit_reason=reason,
        )
        _notice(
            actor=actor,
            household_id=ent.household_id,
            entitlement=ent,
            kind=Outcome.SUSPEND,
            title=f"{ent.programme.name}暂停发放通知书",
            body=f"您家享受的{ent.programme.name}暂停发放。理由：{reason}。情况核实后将恢复或作出处理决定。",
        )
    return ent


def entitlement_resume(*, actor, entitlement: Entitlement, reason: str) -> Entitlement:
    reason = _require_reason(reason)
    _check_actor(actor, entitlement.household_id)
    with transaction.atomic():
        [ent] = _lock_household_entitlements(entitlement.household_id, [entitlement.pk])
        if ent.status == Entitlement.Status.ACTIVE:
            return ent
        ent = entitlement_transition(
            actor=actor,
            entitlement_id=ent.pk,
            action=EntitlementAction.RESUME,
            audit_action="disbursement.entitlement_resume",
            reason=reason,
        )
    return ent


def entitlement_change_amount(
    *, actor, entitlement: Entitlement, amount_fen: int, from_month: dt.date, reason: str, facts: dict | None = None
) -> Entitlement:
    """调整金额: the old entitlement ends before `from_month`, a successor pays the new amount."""
    reason = _require_reason(reason)
    _check_actor(actor, entitlement.household_id)
    start = month_start(from_month)
    with transaction.atomic():
        [ent] = _lock_household_entitlements(entitlement.household_id, [entitlement.pk])
        if ent.status == Entitlement.Status.ENDED:
            raise DisbursementError("已终止的待遇不能调整金额。")
        if ent.amount_fen == amount_fen:
            return ent
        old_amount = ent.amount_fen
        open_month = first_open_month(county_code=ent.county_code, household_id=ent.household_id, start=start)
        if open_month > start:
            raise DisbursementError(
                f"{period_label(start)} 的发放批次已生成，金额调整最早自 {period_label(open_month)} 起执行。"
            )
        remaining = None
        if ent.end_month is not None:
            remaining = (ent.end_month.year - start.year) * 12 + ent.end_month.month - start.month + 1
            if remaining < 1:
                raise DisbursementError("调整月份晚于待遇终止月份。")
        entitlement_transition(
            actor=actor,
            entitlement_id=ent.pk,
            action=EntitlementAction.END,
            audit_action="disbursement.entitlement_end",
            reason=reason,
            data={"from": period_label(start), "outcome": Outcome.CHANGE_AMOUNT},
            end_month=add_months(start, -1),
            exit_reason=f"调整金额：{reason}",
            next_review_on=None,
        )
        successor = entitlement_create(
            actor=actor,
            household=ent.household,
            programme=ent.programme,
            amount_fen=amount_fen,
            start_month=start,
            months=remaining,
            person=ent.person,
            request=ent.request,
            facts=facts or ent.facts,
            rule_version=ent.rule_version,
            rule_date=ent.rule_date,
            previous=ent,
            reason=reason,
            status=Entitlement.Status.GRADUAL_EXIT
            if ent.status == Entitlement.Status.GRADUAL_EXIT
            else Entitlement.Status.ACTIVE,
        )
        _notice(
            actor=actor,
            household_id=ent.household_id,
            entitlement=successor,
            kind=Outcome.CHANGE_AMOUNT,
            title=f"{ent.programme.name}待遇调整通知书",
            body=f"自 {period_label(start)} 起，{ent.programme.name}由每月 {format_fen(old_amount)} 调整为 "
            f"{format_fen(amount_fen)}。理由：{reason}。",
        )
    return successor


def entitlement_gradual_exit(
    *, actor, entitlement: Entitlement, from_month: dt.date, reason: str, months: int | None = None
) -> Entitlement:
    """渐退期: income rose above the line; pay `months` more (the programme's 渐退期 unless given)
    at the current amount, then end."""
    reason = _require_reason(reason)
    _check_actor(actor, entitlement.household_id)
    months = months or entitlement.programme.gradual_exit_months
    if not months:
        raise DisbursementError(f"{entitlement.programme.name}未设渐退期。")
    start = month_start(from_month)
    last = add_months(start, months - 1)
    with transaction.atomic():
        [ent] = _lock_household_entitlements(entitlement.household_id, [entitlement.pk])
        if ent.status == Entitlement.Status.GRADUAL_EXIT:
            return ent
        end = last if ent.end_month is None else min(ent.end_month, last)
        ent = entitlement_transition(
            actor=actor,
            entitlement_id=ent.pk,
            action=EntitlementAction.GRADUAL_EXIT,
            audit_action="disbursement.entitlement_gradual_exit",
            reason=reason,
            data={"from": period_label(start), "months": months, "last": period_label(end)},
            end_month=end,
            exit_reason=reason,
            next_review_on=None,
        )
        statuses_follow_end(actor=actor, entitlement=ent, reason=f"渐退期：{reason}")
        _notice(
            actor=actor,
            household_id=ent.household_id,
            entitlement=ent,
            kind=Outcome.GRADUAL_EXIT,
            title=f"{ent.programme.name}渐退告知书",
            body=f"您家收入已超过保障标准。按照渐退政策，{ent.programme.name}按每月 {format_fen(ent.amount_fen)} "
            f"继续发放 {months} 个月（{period_label(start)} 至 {period_label(ent.end_month)}），"
            f"自 {period_label(add_months(ent.end_month, 1))} 起停发。理由：{reason}。{REVIEW_RIGHT}",
        )
    return ent


def entitlements_close_elapsed(*, on: dt.date) -> int:
    """Mark entitlements whose last month has passed as ended (set-based; safe to run twice)."""
    month = month_start(on)
    sources = [m.source for m in ENTITLEMENT.moves if m.action == EntitlementAction.CLOSE_ELAPSED]
    target = ENTITLEMENT.check(action=EntitlementAction.CLOSE_ELAPSED, source=sources[0]).target
    with transaction.atomic():
        rows = list(
            Entitlement.objects.select_for_update()
            .filter(status__in=sources, end_month__lt=month)
            .order_by("pk")
            .values_list("pk", "status")
        )
        if not rows:
            return 0
        ids = [pk for pk, _status in rows]
        Entitlement.objects.filter(pk__in=ids).update(status=target, next_review_on=None, updated_at=timezone.now())
        # A gradual exit that ran out is a step the household is told about (渐退期届满).
        for ent in Entitlement.objects.filter(
            pk__in=[pk for pk, status in rows if status == Entitlement.Status.GRADUAL_EXIT]
        ).select_related("programme"):
            _notice(
                actor=None,
                household_id=ent.household_id,
                entitlement=ent,
                kind=Outcome.TERMINATE,
                title=f"{ent.programme.name}渐退期届满告知书",
                body=f"{ent.programme.name}渐退期已于 {period_label(ent.end_month)} 届满，"
                f"自 {period_label(add_months(ent.end_month, 1))} 起停止发放。{REVIEW_RIGHT}",
            )
        audit_record(
            actor=None,
            action="disbursement.entitlements_close_elapsed",
            object_type="disbursement.entitlement",
            data={"before": period_label(month), "ended": len(ids)},
        )
    return len(ids)


# ---------------------------------------------------------------- deliveries


def delivery_record(
    *,
    actor,
    entitlement: Entitlement,
    kind: str,
    delivered_on: dt.date,
    description: str,
    quantity: str = "",
    value_fen: int = 0,
    provider: str = "",
) -> Delivery:
    """实物或服务: recorded against the entitlement and shown in the household's history."""
    _check_actor(actor, entitlement.household_id)
    if not description.strip():
        raise DisbursementError("请填写发放或服务内容。")
    with transaction.atomic():
        [ent] = _lock_household_entitlements(entitlement.household_id, [entitlement.pk])
        if not ent.pays_in(month_start(delivered_on)):
            raise DisbursementError(f"{period_label(month_start(delivered_on))} 不在该待遇的享受期内。")
        delivery = Delivery.objects.create(
            entitlement=ent,
            kind=kind,
            delivered_on=delivered_on,
            description=description.strip(),
            quantity=quantity.strip(),
            value_fen=value_fen,
            provider=provider.strip(),
            recorded_by=actor,
        )
        BenefitRecord.objects.create(
            household_id=ent.household_id,
            person_id=ent.person_id,
            programme=ent.programme,
            programme_name=ent.programme.name,
            department_id=ent.programme.department_id,
            form=BenefitRecord.Form.IN_KIND if kind == Delivery.Kind.GOODS else BenefitRecord.Form.SERVICE,
            amount_fen=value_fen,
            period_start=delivered_on,
            period_end=delivered_on,
            source=BenefitRecord.Source.PAYMENT,
            source_ref=f"delivery:{delivery.pk}",
            note=description.strip()[:200],
        )
        audit_record(
            actor=actor,
            action="disbursement.delivery_record",
            obj=delivery,
            data={"entitlement": str(ent.public_id), "kind": kind, "value_fen": value_fen},
        )
    return delivery


def entitlements_from_decisions(*, actor, county_code: str) -> tuple[list[Entitlement], list[str]]:
    """Approved cash decisions of the county that have no entitlement yet become entitlements,
    starting in the month the programme's rule says (`pay_start_month`). Safe to run twice
    (entitlement creation is idempotent per request). Returns the new entitlements and, for
    approved decisions that cannot be paid as they stand (a member programme whose request
    names no member, an approval without an amount), the reasons — each also written as an
    audit event."""
    from ejia.cases.models import ProgrammeRequest
    from ejia.cases.workflow.models import Decision

    cash = (Programme.BenefitForm.MONTHLY_CASH, Programme.BenefitForm.ONE_OFF_CASH)
    decisions = (
        Decision.objects.filter(
            outcome=Decision.Outcome.APPROVED,
            procedure__request__status=ProgrammeRequest.Status.APPROVED,
            procedure__request__programme__benefit_form__in=cash,
            procedure__request__household__division__code__startswith=county_code[:6],
        )
        .exclude(procedure__request__entitlements__isnull=False)
        .select_related("procedure__request__case", "procedure__request__programme", "procedure__request__person")
        .order_by("pk")
    )
    created: list[Entitlement] = []
    problems: list[str] = []
    for decision in decisions:
        entitlement, problem = _entitlement_for_decision(actor=actor, decision=decision)
        if entitlement is not None:
            created.append(entitlement)
        if problem:
            problems.append(problem)
    return created, problems


def entitlement_on_approval(*, actor, decision) -> None:
    """一卡发放 starts at the approval: inside the decision's transaction an approved cash
    decision becomes its entitlement. One that cannot be paid as it stands stays on 暂缓和待处理
    (and the county centre's home page) with its reason, and is audited; the approval stands."""
    if decision.outcome != decision.Outcome.APPROVED or not decision.procedure.request.programme.pays_cash:
        return
    _entitlement_for_decision(actor=actor, decision=decision)


def _entitlement_for_decision(*, actor, decision) -> tuple[Entitlement | None, str]:
    request = decision.procedure.request
    if not decision.amount_fen:
        # Approvals are refused without an amount now; one taken before must not vanish.
        return (
            None,
            f"{request.case.reference} {request.programme.name}：批准决定未核定发放金额，无法发放，请复核该决定。",
        )
    decided = timezone.localtime(decision.decided_at).date()
    try:
        entitlement = entitlement_create_from_request(
            actor=actor,
            request=request,
            amount_fen=decision.amount_fen,
            start_month=pay_start_month(
                request.programme,
                accepted_on=timezone.localtime(request.case.submitted_at).date(),
                decided_on=decided,
            ),
        )
    except DisbursementError as exc:
        who = f"（{request.person.name}）" if request.person_id else ""
        # On the record where it stops, not only in the caller's hands.
        audit_record(
            actor=actor,
            action="disbursement.decision_not_payable",
            obj=request,
            reason=str(exc),
            data={"case": request.case.reference, "programme": request.programme.code, "decision": decision.pk},
        )
        logger.warning("approved decision %s cannot be paid: %s", decision.pk, exc)
        return None, f"{request.case.reference} {request.programme.name}{who}：{exc}"
    return entitlement, ""
