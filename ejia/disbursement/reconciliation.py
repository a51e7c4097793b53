"""Reconciliation that ends: every line of a bank file reaches an answer someone stands by.

- The bank's return is imported (`bankfiles.bank_return_import`); a corrected return may be
  imported later — the latest answer for a line wins, every answer is kept (PaymentReturn).
- A line paid with another amount than declared waits until a second person (not the one who
  imported the answer) accepts the bank's amount with a written reason, or a corrected return
  arrives.
- A failed or returned line is re-issued into a named later batch of the county, as a line of
  its own (never merged into that month's regular amount).
- The batch is reconciled when no line is without an answer, no mismatch is unaccepted and no
  failure is without a re-issue; what is still missing is listed in plain words.

The household's benefit history (the 360° page) follows what the bank actually paid.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from ejia.accounts.policies import Capability, require
from ejia.accounts.scope import require_division
from ejia.catalogue.models import Programme
from ejia.core.audit import audit_record
from ejia.core.money import format_fen
from ejia.disbursement.batches import _lock_batches, _retotal, line_reissue_into, line_status_counts
from ejia.disbursement.exceptions import DisbursementError, ReconciliationError
from ejia.disbursement.models import (
    Entitlement,
    PaymentBatch,
    PaymentItem,
    PaymentLine,
    add_months,
    line_reference,
    period_label,
)
from ejia.disbursement.transitions import (
    LINE,
    BatchAction,
    LineAction,
    batch_transition,
    line_transition,
)
from ejia.registry.models import BenefitRecord

S = PaymentLine.Status
READ_CHUNK = 5000
# Lines that still need someone: the bank has not answered, the amount is not accepted, or the
# money did not arrive and is not yet sent again.
UNRESOLVED = Q(status__in=[S.PENDING, S.MISMATCH]) | Q(status__in=[S.FAILED, S.RETURNED], reissue_requested=False)


def _refs(pks, limit: int) -> str:
    pks = list(pks)
    return "、".join(line_reference(pk) for pk in pks[:limit]) + (" 等" if len(pks) > limit else "")


def reconciliation_differences(batch: PaymentBatch, *, limit: int = 20) -> list[str]:
    """Why the batch cannot be reconciled yet, in words a clerk can act on; empty when it can."""
    sent = batch.lines.filter(hold_reason="")
    differences: list[str] = []
    pending = list(sent.filter(status=S.PENDING).order_by("pk").values_list("pk", flat=True)[: limit + 1])
    n_pending = sent.filter(status=S.PENDING).count() if len(pending) > limit else len(pending)
    if n_pending:
        differences.append(f"银行回盘缺少 {n_pending} 笔：{_refs(pending, limit)}")
    mismatch = sent.filter(status=S.MISMATCH).order_by("pk")
    for pk, amount, bank in mismatch.values_list("pk", "amount_fen", "bank_amount_fen")[:limit]:
        differences.append(
            f"{line_reference(pk)}：应发 {format_fen(amount)}，银行回盘 {format_fen(bank)}，差额 {format_fen((bank or 0) - amount)}"
            "（待另一位工作人员按银行金额确认，或导入更正后的回盘）"
        )
    n_mismatch = mismatch.count()
    if n_mismatch > limit:
        differences.append(f"另有 {n_mismatch - limit} 笔金额不符未列出")
    unsent = sent.filter(status__in=[S.FAILED, S.RETURNED], reissue_requested=False).order_by("pk")
    for pk, status, reason in unsent.values_list("pk", "status", "failure_reason")[:limit]:
        why = f"（{reason}）" if reason else ""
        differences.append(f"{line_reference(pk)}：{S(status).label}{why}，尚未安排重新发放")
    n_unsent = unsent.count()
    if n_unsent > limit:
        differences.append(f"另有 {n_unsent - limit} 笔失败或退回尚未安排重新发放")
    sums = sent.aggregate(declared=Sum("amount_fen"), n=Count("pk"))
    if batch.declared_total_fen is not None and (sums["declared"] or 0) != batch.declared_total_fen:
        differences.append(
            f"明细合计 {format_fen(sums['declared'] or 0)} 与批次申报总额 {format_fen(batch.declared_total_fen)} 不符"
        )
    if batch.declared_line_count is not None and sums["n"] != batch.declared_line_count:
        differences.append(f"明细笔数 {sums['n']} 与批次申报笔数 {batch.declared_line_count} 不符")
    return differences


def batch_reconcile(*, actor, batch: PaymentBatch) -> PaymentBatch:
    """对账: only when every line of the bank file has an answer that someone stands by."""
    require(actor, Capability.PAYMENT_MANAGE)
    require_division(actor, batch.county)
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status == PaymentBatch.Status.RECONCILED:
            return locked
        if locked.status != PaymentBatch.Status.EXPORTED:
            raise DisbursementError("批次须先导出银行文件并导入银行回盘后才能对账。")
        differences = reconciliation_differences(locked)
        if differences:
            raise ReconciliationError("对账未通过，差异如下：\n" + "\n".join(differences), differences)
        paid = locked.lines.filter(hold_reason="").aggregate(
            bank=Sum("bank_amount_fen", filter=Q(status__in=[S.PAID, S.ACCEPTED]))
        )
        return batch_transition(
            actor=actor,
            batch_id=locked.pk,
            action=BatchAction.RECONCILE,
            audit_action="disbursement.batch_reconcile",
            data={
                "counts": {c["status"]: c["n"] for c in line_status_counts(locked) if c["n"]},
                "bank_paid_fen": paid["bank"] or 0,
            },
            reconciled_at=timezone.now(),
        )


def line_get_in_batch(*, batch: PaymentBatch, reference: str) -> PaymentLine:
    text = (reference or "").strip()
    if not (text.startswith("L") and text[1:].isdigit()):
        raise DisbursementError(f"“{text[:20]}”不是有效的交易流水号。")
    line = PaymentLine.objects.filter(batch=batch, pk=int(text[1:])).select_related("household").first()
    if line is None:
        raise DisbursementError(f"{text} 不属于本批次。")
    return line


def line_accept_bank_amount(*, actor, line: PaymentLine, reason: str) -> PaymentLine:
    """按银行金额确认: the bank paid another amount than declared; a second person — not the one
    who imported the bank's answer — accepts it with a written reason. The household's history
    then shows what the bank paid."""
    reason = (reason or "").strip()
    if not reason:
        raise DisbursementError("按银行金额确认须填写书面理由。")
    require(actor, Capability.PAYMENT_MANAGE)
    batch = line.batch
    require_division(actor, batch.county)
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != PaymentBatch.Status.EXPORTED:
            raise DisbursementError("只有已导出银行文件、尚未对账的批次可以确认银行金额。")
        current = PaymentLine.objects.select_for_update().get(pk=line.pk)
        LINE.check(action=LineAction.ACCEPT, source=current.status, actor=actor)
        latest = current.returns.order_by("-pk").first()
        if latest is not None and latest.imported_by_id == actor.pk:
            raise DisbursementError("两人复核：银行回盘由您导入，须由另一位工作人员确认银行金额。")
        accepted = line_transition(
            actor=actor,
            line_id=current.pk,
            action=LineAction.ACCEPT,
            audit_action="disbursement.line_accept_bank_amount",
            reason=reason,
            data={"declared_fen": current.amount_fen, "bank_fen": current.bank_amount_fen},
            accepted_by=actor,
            accepted_at=timezone.now(),
            accept_reason=reason,
        )
        benefit_history_write([accepted.pk])
    return accepted


@dataclass(frozen=True)
class ReissueTarget:
    period: dt.date
    label: str
    batch: PaymentBatch | None


def reissue_targets(batch: PaymentBatch) -> list[ReissueTarget]:
    """Later months of the county that can still take a re-issued line: a batch being built or
    built and not yet released, or a month whose batch does not exist yet."""
    later = {b.period: b for b in PaymentBatch.objects.filter(county=batch.county, period__gt=batch.period)}
    last = max([batch.period, *later])
    targets = []
    month = add_months(batch.period, 1)
    while month <= add_months(last, 2):
        existing = later.get(month)
        if existing is None:
            targets.append(ReissueTarget(month, f"{period_label(month)}（批次尚未生成，生成时纳入）", None))
        elif existing.status in (PaymentBatch.Status.BUILDING, PaymentBatch.Status.BUILT):
            targets.append(ReissueTarget(month, f"{existing.reference}（{existing.get_status_display()}）", existing))
        month = add_months(month, 1)
    return targets


def line_reissue(*, actor, line: PaymentLine, period: dt.date, reason: str = "") -> PaymentLine:
    """重新发放: a failed, returned or held line goes into the county's batch of `period` as its
    own line. If that batch is built and not released, the line moves now (its totals follow);
    if it is being built or not built yet, it moves when that batch is finished."""
    require(actor, Capability.PAYMENT_MANAGE)
    require_division(actor, line.batch.county)
    period = period.replace(day=1)
    if period <= line.batch.period:
        raise DisbursementError("重新发放须转入更晚月份的批次。")
    with transaction.atomic():
        target = PaymentBatch.objects.filter(county_id=line.batch.county_id, period=period).first()
        _lock_batches([line.batch_id, *([target.pk] if target else [])])
        current = PaymentLine.objects.select_related("household__account_holder", "batch").get(pk=line.pk)
        LINE.check(action=LineAction.REISSUE, source=current.status, actor=actor)
        if current.reissued_to_id:
            raise DisbursementError(f"{current.reference} 已转入重新发放。")
        if target is not None:
            target.refresh_from_db()
            if target.status == PaymentBatch.Status.BUILT:
                new = line_reissue_into(actor=actor, old=current, batch=target, reason=reason)
                _retotal(actor, target, reason=f"{current.reference} 转入本批次重新发放为 {new.reference}")
                return PaymentLine.objects.get(pk=current.pk)
            if target.status != PaymentBatch.Status.BUILDING:
                raise DisbursementError(
                    f"{target.reference} 已{target.get_status_display()}，不能再加入明细；请选择更晚的月份。"
                )
        PaymentLine.objects.filter(pk=current.pk).update(reissue_requested=True, reissue_period=period)
        audit_record(
            actor=actor,
            action="disbursement.line_reissue_request",
            obj=current,
            object_id=current.reference,
            reason=reason,
            data={"batch": current.batch.reference, "period": period_label(period)},
        )
    return PaymentLine.objects.get(pk=current.pk)


# ---------------------------------------------------------------- the household's history


def benefit_history_write(line_ids: list[int]) -> int:
    """One BenefitRecord per item of each paid line (the 360° view shows each programme's month).
    Lines paid as declared are written set-based (a county's return is 100,000 lines); when the
    bank paid another amount and it was accepted, the largest item carries the difference, so
    the household's history adds up to what the bank actually paid."""
    written = 0
    for start in range(0, len(line_ids), READ_CHUNK):
        part = line_ids[start : start + READ_CHUNK]
        differs = list(
            PaymentLine.objects.filter(pk__in=part, bank_amount_fen__isnull=False)
            .exclude(bank_amount_fen=F("amount_fen"))
            .values_list("pk", flat=True)
        )
        exact = sorted(set(part) - set(differs))
        if exact:
            written += _history_insert(exact)
        if differs:
            written += _history_adjusted(differs)
    return written


def _history_insert(line_ids: list[int]) -> int:
    pg = connection.vendor == "postgresql"
    new_id = "gen_random_uuid()" if pg else "lower(hex(randomblob(16)))"
    last_day = (
        "CAST(i.period + interval '1 month' - interval '1 day' AS date)"
        if pg
        else "date(i.period, '+1 month', '-1 day')"
    )
    ref = "'L' || lpad(CAST(l.id AS text), 10, '0')" if pg else "printf('L%%010d', l.id)"
    now = timezone.now()
    marks = ", ".join(["%s"] * len(line_ids))
    with connection.cursor() as cur:
        cur.execute(
            f"""INSERT INTO {BenefitRecord._meta.db_table} (public_id, created_at, updated_at, household_id,
                    person_id, programme_id, programme_name, department_id, form, amount_fen, period_start,
                    period_end, source, source_ref, note)
                SELECT {new_id}, %s, %s, e.household_id, e.person_id, e.programme_id, p.name, p.department_id,
                       %s, i.amount_fen, i.period, {last_day}, %s, 'payitem:' || CAST(i.id AS text),
                       '一卡发放 ' || {ref}
                FROM {PaymentItem._meta.db_table} i
                JOIN {PaymentLine._meta.db_table} l ON l.id = i.line_id
                JOIN {Entitlement._meta.db_table} e ON e.id = i.entitlement_id
                JOIN {Programme._meta.db_table} p ON p.id = e.programme_id
                WHERE i.line_id IN ({marks})""",  # noqa: S608 -- table names from the models only
            [
                connection.ops.adapt_datetimefield_value(now),
                connection.ops.adapt_datetimefield_value(now),
                BenefitRecord.Form.CASH,
                BenefitRecord.Source.PAYMENT,
                *line_ids,
            ],
        )
        return cur.rowcount


def _history_adjusted(line_ids: list[int]) -> int:
    lines = dict(PaymentLine.objects.filter(pk__in=line_ids).values_list("pk", "bank_amount_fen"))
    items = list(
        PaymentItem.objects.filter(line_id__in=line_ids)
        .order_by("line_id", "-amount_fen", "pk")
        .values(
            "pk",
            "period",
            "amount_fen",
            "line_id",
            "line__amount_fen",
            "entitlement__household_id",
            "entitlement__person_id",
            "entitlement__programme_id",
            "entitlement__programme__name",
            "entitlement__programme__department_id",
        )
    )
    records, adjusted = [], set()
    for it in items:
        period = it["period"]
        amount = it["amount_fen"]
        note = f"一卡发放 {line_reference(it['line_id'])}"
        bank = lines[it["line_id"]]
        if it["line_id"] not in adjusted:
            adjusted.add(it["line_id"])
            amount += bank - it["line__amount_fen"]
            note += f"，银行实付 {format_fen(bank)}（应发 {format_fen(it['line__amount_fen'])}）"
        records.append(
            BenefitRecord(
                household_id=it["entitlement__household_id"],
                person_id=it["entitlement__person_id"],
                programme_id=it["entitlement__programme_id"],
                programme_name=it["entitlement__programme__name"],
                department_id=it["entitlement__programme__department_id"],
                form=BenefitRecord.Form.CASH,
                amount_fen=amount,
                period_start=period,
                period_end=period.replace(day=calendar.monthrange(period.year, period.month)[1]),
                source=BenefitRecord.Source.PAYMENT,
                source_ref=f"payitem:{it['pk']}",
                note=note[:200],
            )
        )
    BenefitRecord.objects.bulk_create(records, batch_size=2000)
    return len(records)


def benefit_history_remove(line_ids: list[int]) -> int:
    """A corrected return says the money did not arrive after all: its records go (the return
    history and the audit log keep what was believed before)."""
    removed = 0
    for start in range(0, len(line_ids), READ_CHUNK):
        refs = [
            f"payitem:{pk}"
            for pk in PaymentItem.objects.filter(line_id__in=line_ids[start : start + READ_CHUNK]).values_list(
                "pk", flat=True
            )
        ]
        removed += BenefitRecord.objects.filter(source=BenefitRecord.Source.PAYMENT, source_ref__in=refs).delete()[0]
    return removed
