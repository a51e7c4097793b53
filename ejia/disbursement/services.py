"""Entitlements, deliveries and 动态管理 (reviews, change reports, outcomes).

Every function here is one state change: keyword-only, one transaction, rows locked in the
fixed order household → entitlements (by id), an audit event, and for outcomes a written
notice to the household. Monthly payment batches live in `batches.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ejia.accounts.models import Role
from ejia.accounts.scope import require_division, require_role
from ejia.catalogue.models import Programme
from ejia.core.audit import audit_record
from ejia.core.money import format_fen
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import (
    ChangeReport,
    Delivery,
    Entitlement,
    Notice,
    Outcome,
    PaymentBatch,
    Review,
    ReviewSchedule,
    add_months,
    month_start,
    period_label,
)
from ejia.registry.models import BenefitRecord, Household, HouseholdStatus, Membership, Person, StatusKind

DECISION_ROLES = (Role.WINDOW_CLERK, Role.COUNTY_REVIEWER, Role.CENTRE_DIRECTOR)
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


def gradual_exit_months() -> int:
    return int(getattr(settings, "EJIA_GRADUAL_EXIT_MONTHS", 6))


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
) -> Entitlement:
    if amount_fen < 0:
        raise DisbursementError("金额不能为负数。")
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
        missed = 0
        if first_open > start and previous is None:
            if months == 1:
                # A one-off payment decided after its month's batch: paid in the next open batch.
                start = end = first_open
            else:
                last_missed = add_months(first_open, -1) if end is None else min(add_months(first_open, -1), end)
                missed = (last_missed.year - start.year) * 12 + last_missed.month - start.month + 1
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
        if missed > 0:
            # 补发: the months whose batches were already built are paid once, as one period in
            # the first open batch (the main entitlement has no items for them, so never twice).
            entitlement_create(
                actor=actor,
                household=household,
                programme=programme,
                amount_fen=int(amount_fen) * missed,
                start_month=first_open,
                months=1,
                person=person,
                request=request,
                facts={"back_pay_for": str(entitlement.public_id), "months": missed},
                rule_version=rule_version,
                rule_date=rule_date,
                previous=entitlement,
                reason=f"补发 {period_label(start)} 起 {missed} 个月（当月批次已生成）",
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


def entitlement_create_from_request(
    *, actor, request, amount_fen: int, start_month: dt.date, months: int | None = None, person: Person | None = None
):
    """An approved request becomes money: called by the workflow on approval. Idempotent per request."""
    from ejia.cases.models import ProgrammeRequest
    from ejia.catalogue.selectors import programme_current_version

    with transaction.atomic():
        request = (
            ProgrammeRequest.objects.select_for_update()
            .select_related("case", "programme", "household")
            .get(pk=request.pk)
        )
        if request.status != ProgrammeRequest.Status.APPROVED:
            raise DisbursementError("只有已批准的申请才能生成待遇。")
        existing = Entitlement.objects.filter(request=request).order_by("pk").first()
        if existing is not None:
            return existing
        case = request.case
        version = programme_current_version(request.programme, on=case.rule_date)
        facts = {
            "declared": case.declared_facts,
            "plan": next((p for p in case.plan if p.get("code") == request.programme.code), None),
        }
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
    """For a member programme: the one member the intake plan found eligible (by plan index →
    declared member → person). Several eligible members need an explicit `person`."""
    if request.programme.target != Programme.Target.MEMBER:
        return None
    plan = next((p for p in request.case.plan if p.get("code") == request.programme.code), None) or {}
    declared = (request.case.declared_facts or {}).get("members") or []
    eligible = [m.get("index") for m in plan.get("members") or [] if m.get("result") == "eligible"]
    people = [declared[i].get("person") for i in eligible if isinstance(i, int) and i < len(declared)]
    people = [p for p in people if p]
    if len(people) != 1:
        raise DisbursementError(f"{request.programme.name}以个人为单位，请指定享受待遇的家庭成员。")
    return Person.objects.filter(public_id=people[0]).first()


def _lock_household_entitlements(household_id: int, ids: Iterable[int] | None = None) -> list[Entitlement]:
    Household.objects.select_for_update().filter(pk=household_id).first()
    qs = Entitlement.objects.select_for_update().filter(household_id=household_id).order_by("pk")
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return list(qs.select_related("programme"))


def _notice(*, actor, household_id: int, entitlement: Entitlement | None, kind: str, title: str, body: str) -> Notice:
    return Notice.objects.create(
        household_id=household_id,
        entitlement=entitlement,
        kind=kind,
        title=title,
        body=body,
        issued_by=_actor_or_system(actor),
    )


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise DisbursementError("须填写书面理由。")
    return reason


def _check_actor(actor, household_id: int) -> None:
    if actor is None or getattr(actor, "is_superuser", False):
        return
    require_role(actor, *DECISION_ROLES)
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
        ent.end_month = add_months(start, -1)
        ent.status = Entitlement.Status.ENDED
        ent.exit_reason = reason
        ent.next_review_on = None
        ent.save(update_fields=["end_month", "status", "exit_reason", "next_review_on", "updated_at"])
        audit_record(
            actor=actor,
            action="disbursement.entitlement_end",
            obj=ent,
            reason=reason,
            data={"from": period_label(start), "outcome": kind},
        )
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
        if ent.status == Entitlement.Status.ENDED:
            raise DisbursementError("已终止的待遇不能暂停。")
        ent.status = Entitlement.Status.SUSPENDED
        ent.exit_reason = reason
        ent.save(update_fields=["status", "exit_reason", "updated_at"])
        audit_record(actor=actor, action="disbursement.entitlement_suspend", obj=ent, reason=reason)
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
        if ent.status != Entitlement.Status.SUSPENDED:
            return ent
        ent.status = Entitlement.Status.ACTIVE
        ent.save(update_fields=["status", "updated_at"])
        audit_record(actor=actor, action="disbursement.entitlement_resume", obj=ent, reason=reason)
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
        Entitlement.objects.filter(pk=ent.pk).update(
            end_month=add_months(start, -1),
            status=Entitlement.Status.ENDED,
            exit_reason=f"调整金额：{reason}",
            next_review_on=None,
            updated_at=timezone.now(),
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
        )
        if ent.status == Entitlement.Status.GRADUAL_EXIT:
            Entitlement.objects.filter(pk=successor.pk).update(status=Entitlement.Status.GRADUAL_EXIT)
            successor.status = Entitlement.Status.GRADUAL_EXIT
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
    """渐退期: income rose above the line because someone found work; pay `months` more, then end."""
    reason = _require_reason(reason)
    _check_actor(actor, entitlement.household_id)
    months = months or gradual_exit_months()
    start = month_start(from_month)
    last = add_months(start, months - 1)
    with transaction.atomic():
        [ent] = _lock_household_entitlements(entitlement.household_id, [entitlement.pk])
        if ent.status == Entitlement.Status.GRADUAL_EXIT:
            return ent
        if ent.status == Entitlement.Status.ENDED:
            raise DisbursementError("已终止的待遇不能进入渐退期。")
        ent.status = Entitlement.Status.GRADUAL_EXIT
        ent.end_month = last if ent.end_month is None else min(ent.end_month, last)
        ent.exit_reason = reason
        ent.next_review_on = None
        ent.save(update_fields=["status", "end_month", "exit_reason", "next_review_on", "updated_at"])
        audit_record(
            actor=actor,
            action="disbursement.entitlement_gradual_exit",
            obj=ent,
            reason=reason,
            data={"from": period_label(start), "months": months, "last": period_label(ent.end_month)},
        )
        _notice(
            actor=actor,
            household_id=ent.household_id,
            entitlement=ent,
            kind=Outcome.GRADUAL_EXIT,
            title=f"{ent.programme.name}渐退告知书",
            body=f"您家因家庭成员就业，收入已超过保障标准。按照渐退政策，{ent.programme.name}继续发放 {months} 个月"
            f"（{period_label(start)} 至 {period_label(ent.end_month)}），自 {period_label(add_months(ent.end_month, 1))} 起停发。"
            f"理由：{reason}。",
        )
    return ent


def entitlements_close_elapsed(*, on: dt.date) -> int:
    """Mark entitlements whose last month has passed as ended (set-based; safe to run twice)."""
    month = month_start(on)
    return Entitlement.objects.filter(
        status__in=[Entitlement.Status.ACTIVE, Entitlement.Status.GRADUAL_EXIT], end_month__lt=month
    ).update(status=Entitlement.Status.ENDED, next_review_on=None, updated_at=timezone.now())


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


# ---------------------------------------------------------------- reviews and change reports


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
                last = add_months(next_month, -1)
                ent.end_month = last
                ent.status = Entitlement.Status.ENDED
                ent.exit_reason = f"享受人于 {died_on.isoformat()} 死亡"
                ent.next_review_on = None
                ent.save(update_fields=["end_month", "status", "exit_reason", "next_review_on", "updated_at"])
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


def registry_engine_input(household: Household, *, on: dt.date, overrides: dict | None = None):
    """The household's facts as the engine takes them, from the registry plus the report's changes."""
    overrides = overrides or {}
    facts = {**(household.facts or {}), **(overrides.get("household") or {})}
    members, people = [], []
    member_over = overrides.get("members") or {}
    for m in (
        Membership.objects.filter(household=household, date_out__isnull=True)
        .select_related("person")
        .order_by("relation", "pk")
    ):
        if m.person.deceased_on and m.person.deceased_on <= on:
            continue
        row = {**(m.facts or {}), **(member_over.get(str(m.person.public_id)) or {})}
        row.update(birth_date=m.person.birth_date.isoformat(), sex=m.person.sex, relation=m.relation)
        members.append(row)
        people.append(m.person_id)
    return facts, members, people


def evaluation_from_results(results: dict, people: list[int]) -> dict:
    """The engine's results as stored JSON: {code: {"result", "amount_fen", "members": {person_id: …}}}."""
    out = {}
    for code, res in results.items():
        entry = {"result": str(res.outcome), "amount_fen": res.amount_fen}
        if getattr(res, "members", None):
            entry["members"] = {
                str(people[m.index]): {"result": str(m.outcome), "amount_fen": m.amount_fen}
                for m in res.members
                if m.index < len(people)
            }
        out[code] = entry
    return out


def change_report_evaluate(*, actor, report: ChangeReport, on: dt.date | None = None) -> ChangeReport:
    """Re-evaluate the household with the catalogue's engine on the changed facts."""
    from ejia.catalogue.selectors import evaluate_household

    on = on or report.effective_on
    household = Household.objects.select_related("division").get(pk=report.household_id)
    facts, members, people = registry_engine_input(household, on=on, overrides=report.details.get("facts"))
    results = evaluate_household(division_code=household.division.code, household=facts, members=members, on=on)
    with transaction.atomic():
        locked = ChangeReport.objects.select_for_update().get(pk=report.pk)
        if locked.status == ChangeReport.Status.DECIDED:
            return locked
        locked.evaluation = {"on": on.isoformat(), "programmes": evaluation_from_results(results, people)}
        locked.status = ChangeReport.Status.EVALUATED
        locked.save(update_fields=["evaluation", "status", "updated_at"])
        audit_record(actor=actor, action="disbursement.change_report_evaluate", obj=locked, data={"on": on.isoformat()})
    return locked


def _result_for(evaluation: dict, ent: Entitlement) -> tuple[str | None, int | None]:
    entry = (evaluation.get("programmes") or {}).get(ent.programme.code)
    if entry is None:
        return None, None
    if ent.person_id is not None and entry.get("members") is not None:
        member = entry["members"].get(str(ent.person_id))
        if member is None:
            return "not_eligible", None
        return member["result"], member.get("amount_fen")
    return entry["result"], entry.get("amount_fen")


def change_report_decide(*, actor, report: ChangeReport, from_month: dt.date, reason: str) -> ChangeReport:
    """Apply the evaluation to every live entitlement of the household, with written outcomes:
    eligible → continue or change amount; no longer eligible → gradual exit when the change is
    employment (渐退期), else termination. When 低保 ends and 低保边缘 now applies, the household's
    status moves down a tier (梯度) and the special assistance the engine still grants continues."""
    reason = _require_reason(reason)
    _check_actor(actor, report.household_id)
    evaluation = report.evaluation or {}
    if not evaluation.get("programmes"):
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
            if result == "eligible":
                if amount is not None and amount != ent.amount_fen and ent.status != Entitlement.Status.GRADUAL_EXIT:
                    entitlement_change_amount(
                        actor=actor, entitlement=ent, amount_fen=amount, from_month=start, reason=reason
                    )
                    lines.append(f"{ent.programme.name}：调整为每月 {format_fen(amount)}")
                    overall = Outcome.CHANGE_AMOUNT if overall == Outcome.CONTINUE else overall
                else:
                    lines.append(f"{ent.programme.name}：继续享受")
            elif result == "possibly_eligible":
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
        edge = (evaluation["programmes"].get("dibao_edge") or {}).get("result") == "eligible"
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
