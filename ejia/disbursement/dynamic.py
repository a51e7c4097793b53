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

from django.db import transaction
from django.utils import timezone

from ejia.catalogue.models import Programme
from ejia.core.audit import audit_record
from ejia.core.i18n import official_language
from ejia.core.money import format_fen
from ejia.disbursement.change_facts import CHANGE_KINDS, describe_facts
from ejia.disbursement.departures import member_entitlements_end, member_entitlements_end_on_death
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
from ejia.disbursement.moves import MoveAction, planned_moves
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
)
from ejia.registry.models import (
    STATUS_BY_PROGRAMME,
    Household,
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
