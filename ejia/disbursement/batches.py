# ruff: noqa: S608 -- SQL text is built from model table names only; every value is a parameter.
"""Monthly county payment batches: build, release, bank return, reconciliation, re-issue.

The build is set-based and resumable. It walks the county's households in id order, a chunk
per transaction; each chunk inserts the missing lines, then the missing items, then sums the
lines. Every INSERT skips what is already there (NOT EXISTS), and the items carry the
database's "never twice" constraint, so a build killed at any point and started again (or run
twice at once) ends with exactly the lines and items of a clean build.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.accounts.policies import Capability, require
from ejia.accounts.scope import require_division
from ejia.core.audit import audit_record
from ejia.core.money import format_fen
from ejia.disbursement.exceptions import DisbursementError, ReconciliationError
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentItem, PaymentLine, period_label

DEFAULT_CHUNK = 10000

E = Entitlement._meta.db_table
L = PaymentLine._meta.db_table
I = PaymentItem._meta.db_table  # noqa: E741
H = "registry_household"
P = "registry_person"

# An entitlement pays in period %(p)s unless suspended, inside its months.
_PAYS = "e.status <> 'suspended' AND e.start_month <= %s AND (e.end_month IS NULL OR e.end_month >= %s)"


def _d(day: dt.date):
    return connection.ops.adapt_datefield_value(day)


def _county(county: Division | str) -> Division:
    if isinstance(county, Division):
        division = county
    else:
        division = Division.objects.filter(code=str(county)[:6]).first()
        if division is None:
            raise DisbursementError(f"未找到县（区）代码 {county}。")
    if division.level != Division.Level.COUNTY:
        raise DisbursementError("发放批次按县（区、市）生成。")
    return division


def batch_get_or_create(*, actor, county: Division, period: dt.date) -> PaymentBatch:
    """The one batch of a county and month; a second call (or a concurrent one) returns it."""
    period = period.replace(day=1)
    existing = PaymentBatch.objects.filter(county=county, period=period).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            batch = PaymentBatch.objects.create(county=county, period=period, prepared_by=actor)
            audit_record(
                actor=actor,
                action="disbursement.batch_create",
                obj=batch,
                data={"county": county.code, "period": period_label(period)},
            )
            return batch
    except IntegrityError:
        return PaymentBatch.objects.get(county=county, period=period)


def _next_bound(county_code: str, cursor: int, chunk: int) -> int | None:
    """The upper household id of the next chunk: an index-only walk of (county_code, household_id).
    Counting entitlement rows rather than households only makes chunks a little smaller."""
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT household_id FROM {E} WHERE county_code = %s AND household_id > %s "
            "ORDER BY household_id LIMIT 1 OFFSET %s",
            [county_code, cursor, chunk - 1],
        )
        row = cur.fetchone()
        if row:
            return row[0]
        cur.execute(
            f"SELECT MAX(household_id) FROM {E} WHERE county_code = %s AND household_id > %s", [county_code, cursor]
        )
        row = cur.fetchone()
        return row[0] if row and row[0] is not None else None


def _build_chunk(batch: PaymentBatch, lo: int, hi: int) -> None:
    p = _d(batch.period)
    county_code = batch.county.code[:6]
    with connection.cursor() as cur:
        # 1. One line per household that has something unpaid this month (一卡发放), its amount
        #    the sum of those entitlements. Chunks cover disjoint household ranges, each in one
        #    transaction under the batch lock, so a line and its items always appear together.
        cur.execute(
            f"""INSERT INTO {L} (batch_id, household_id, bank_name, account_ciphertext, account_masked,
                    holder_name, amount_fen, status, bank_reference, failure_reason, reissue_requested)
            SELECT %s, h.id, h.bank_name, h.account_ciphertext, h.account_masked, COALESCE(pp.name, ''), due.total,
                   CASE WHEN h.account_ciphertext = '' THEN 'held' ELSE 'pending' END, '', '',
                   CASE WHEN h.account_ciphertext = '' THEN %s ELSE %s END
            FROM (
                SELECT e.household_id, SUM(e.amount_fen) AS total FROM {E} e
                WHERE e.county_code = %s AND e.household_id > %s AND e.household_id <= %s AND {_PAYS}
                  AND NOT EXISTS (SELECT 1 FROM {I} i WHERE i.entitlement_id = e.id AND i.period = %s)
                GROUP BY e.household_id
            ) due
            JOIN {H} h ON h.id = due.household_id
            LEFT JOIN {P} pp ON pp.id = h.account_holder_id
            WHERE NOT EXISTS (SELECT 1 FROM {L} l WHERE l.batch_id = %s AND l.household_id = h.id)""",
            [batch.pk, True, False, county_code, lo, hi, p, p, p, batch.pk],
        )
        # 2. The breakdown: each entitlement's month once (the unique constraint guards it too).
        cur.execute(
            f"""INSERT INTO {I} (line_id, entitlement_id, period, amount_fen)
            SELECT l.id, e.id, %s, e.amount_fen
            FROM {E} e JOIN {L} l ON l.batch_id = %s AND l.household_id = e.household_id
            WHERE e.county_code = %s AND e.household_id > %s AND e.household_id <= %s AND {_PAYS}
              AND NOT EXISTS (SELECT 1 FROM {I} i WHERE i.entitlement_id = e.id AND i.period = %s)""",
            [p, batch.pk, county_code, lo, hi, p, p, p],
        )


def _lines_off_their_items(batch_id: int) -> int:
    """Lines whose amount differs from the sum of their items (an entitlement written between the
    two statements of a chunk); normally none, checked in one grouped pass."""
    with connection.cursor() as cur:
        cur.execute(
            f"""SELECT COUNT(*) FROM {L} l LEFT JOIN (
                    SELECT i.line_id, SUM(i.amount_fen) AS total FROM {I} i JOIN {L} l2 ON l2.id = i.line_id
                    WHERE l2.batch_id = %s GROUP BY i.line_id) t ON t.line_id = l.id
                WHERE l.batch_id = %s AND (t.total IS NULL OR t.total <> l.amount_fen)""",
            [batch_id, batch_id],
        )
        return cur.fetchone()[0]


def _sum_lines(cur, batch_id: int, where: str) -> None:
    cur.execute(
        f"""UPDATE {L} SET amount_fen = COALESCE(
                (SELECT SUM(i.amount_fen) FROM {I} i WHERE i.line_id = {L}.id), 0)
            WHERE batch_id = %s AND {where}""",
        [batch_id],
    )
    cur.execute(
        f"DELETE FROM {L} WHERE batch_id = %s AND {where} AND NOT EXISTS (SELECT 1 FROM {I} i WHERE i.line_id = {L}.id)",
        [batch_id],
    )


def _carry_reissues(batch: PaymentBatch) -> int:
    """Move the items of lines marked for re-issue (failed, returned, held) into this batch."""
    county_path = batch.county.path
    old = list(
        PaymentLine.objects.filter(
            reissue_requested=True,
            reissued_to__isnull=True,
            status__in=[PaymentLine.Status.FAILED, PaymentLine.Status.RETURNED, PaymentLine.Status.HELD],
            batch__county__path=county_path,
            batch__period__lt=batch.period,
        ).values_list("pk", flat=True)
    )
    if not old:
        return 0
    marks = ",".join(["%s"] * len(old))
    with connection.cursor() as cur:
        cur.execute(
            f"""INSERT INTO {L} (batch_id, household_id, bank_name, account_ciphertext, account_masked,
                    holder_name, amount_fen, status, bank_reference, failure_reason, reissue_requested)
            SELECT %s, h.id, h.bank_name, h.account_ciphertext, h.account_masked, COALESCE(pp.name, ''), 0,
                   CASE WHEN h.account_ciphertext = '' THEN 'held' ELSE 'pending' END, '', '',
                   CASE WHEN h.account_ciphertext = '' THEN %s ELSE %s END
            FROM {H} h LEFT JOIN {P} pp ON pp.id = h.account_holder_id
            WHERE h.id IN (SELECT household_id FROM {L} WHERE id IN ({marks}))
              AND NOT EXISTS (SELECT 1 FROM {L} l WHERE l.batch_id = %s AND l.household_id = h.id)""",
            [batch.pk, True, False, *old, batch.pk],
        )
        new_line = (
            f"(SELECT nl.id FROM {L} nl WHERE nl.batch_id = %s AND nl.household_id = "
            f"(SELECT ol.household_id FROM {L} ol WHERE ol.id = {{ref}}))"
        )
        cur.execute(
            f"UPDATE {I} SET line_id = {new_line.format(ref=I + '.line_id')} WHERE line_id IN ({marks})",
            [batch.pk, *old],
        )
        cur.execute(
            f"UPDATE {L} SET reissued_to_id = {new_line.format(ref=L + '.id')} WHERE id IN ({marks})",
            [batch.pk, *old],
        )
        cur.execute(
            f"SELECT household_id FROM {L} WHERE id IN ({marks})",
            old,
        )
        households = [r[0] for r in cur.fetchall()]
        hmarks = ",".join(str(int(h)) for h in households)
        _sum_lines(cur, batch.pk, f"household_id IN ({hmarks})")
    return len(old)


def batch_build(
    *, actor, county: Division | str, period: dt.date, chunk_size: int = DEFAULT_CHUNK, max_chunks: int | None = None
) -> PaymentBatch:
    """Build (or finish building) the county's batch for the month; safe to run twice or resume."""
    county = _county(county)
    if actor is not None and getattr(actor, "pk", None) and not actor.is_superuser:
        require(actor, Capability.PAYMENT_MANAGE)
        require_division(actor, county)
    # Decisions approved since the last run become entitlements first (一卡发放 of the workflow's
    # results); creation is idempotent, so a resumed build repeats it harmlessly.
    from ejia.disbursement.services import entitlements_from_decisions

    entitlements_from_decisions(actor=actor, county_code=county.code)
    batch = batch_get_or_create(actor=actor, county=county, period=period)
    chunks = 0
    while max_chunks is None or chunks < max_chunks:
        with transaction.atomic():
            # The batch row lock serialises builders: a second worker waits, then sees the cursor moved.
            locked = PaymentBatch.objects.select_for_update().select_related("county").get(pk=batch.pk)
            if locked.status != PaymentBatch.Status.BUILDING:
                return locked
            if connection.vendor == "postgresql":
                # A chunk lost in a server crash is simply built again (its cursor is lost with it),
                # so chunks need not wait for the WAL flush; marking the batch built does wait.
                with connection.cursor() as cur:
                    cur.execute("SET LOCAL synchronous_commit = off")
            hi = _next_bound(county.code[:6], locked.build_cursor, chunk_size)
            if hi is None:
                break
            _build_chunk(locked, locked.build_cursor, hi)
            PaymentBatch.objects.filter(pk=locked.pk).update(build_cursor=hi)
        chunks += 1
    else:
        return PaymentBatch.objects.get(pk=batch.pk)
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().select_related("county").get(pk=batch.pk)
        if locked.status != PaymentBatch.Status.BUILDING:
            return locked
        carried = _carry_reissues(locked)
        if _lines_off_their_items(locked.pk):
            with connection.cursor() as cur:
                _sum_lines(cur, locked.pk, "1 = 1")
        totals = locked.lines.aggregate(
            n=Count("pk", filter=Q(status=PaymentLine.Status.PENDING)),
            total=Sum("amount_fen", filter=Q(status=PaymentLine.Status.PENDING)),
            held=Count("pk", filter=Q(status=PaymentLine.Status.HELD)),
        )
        locked.line_count = locked.declared_line_count = totals["n"] or 0
        locked.total_fen = locked.declared_total_fen = totals["total"] or 0
        locked.held_count = totals["held"] or 0
        locked.status = PaymentBatch.Status.BUILT
        locked.built_at = timezone.now()
        locked.save(
            update_fields=[
                "line_count",
                "declared_line_count",
                "total_fen",
                "declared_total_fen",
                "held_count",
                "status",
                "built_at",
                "updated_at",
            ]
        )
        audit_record(
            actor=actor,
            action="disbursement.batch_built",
            obj=locked,
            data={
                "lines": locked.line_count,
                "total_fen": locked.total_fen,
                "held": locked.held_count,
                "reissued": carried,
            },
        )
    return locked


def batch_release(*, actor, batch: PaymentBatch) -> PaymentBatch:
    """复核发放: a second person releases what the first prepared. Releasing again is a no-op."""
    require(actor, Capability.PAYMENT_MANAGE)
    require_division(actor, batch.county)
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status in (
            PaymentBatch.Status.RELEASED,
            PaymentBatch.Status.EXPORTED,
            PaymentBatch.Status.RECONCILED,
        ):
            return locked
        if locked.status != PaymentBatch.Status.BUILT:
            raise DisbursementError("批次尚未生成完毕，不能发放。")
        if locked.prepared_by_id == actor.pk:
            raise DisbursementError("两人复核：批次的生成人不能同时作为发放人，请由另一位工作人员复核发放。")
        locked.status = PaymentBatch.Status.RELEASED
        locked.released_by = actor
        locked.released_at = timezone.now()
        locked.save(update_fields=["status", "released_by", "released_at", "updated_at"])
        audit_record(
            actor=actor,
            action="disbursement.batch_release",
            obj=locked,
            data={"lines": locked.declared_line_count, "total_fen": locked.declared_total_fen},
        )
    return locked


def batch_mark_exported(*, actor, batch: PaymentBatch, checksum: str, fmt: str) -> PaymentBatch:
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status not in (PaymentBatch.Status.RELEASED, PaymentBatch.Status.EXPORTED):
            if locked.status == PaymentBatch.Status.RECONCILED:
                return locked
            raise DisbursementError("批次须经复核发放后才能导出银行文件。")
        if locked.checksum and locked.checksum != checksum:
            # Same lines, same file: a different checksum means the batch changed after release.
            raise DisbursementError("银行文件校验码与首次导出不一致，请联系系统管理员。")
        locked.checksum = checksum
        if locked.status == PaymentBatch.Status.RELEASED:
            locked.status = PaymentBatch.Status.EXPORTED
            locked.exported_at = timezone.now()
        locked.save(update_fields=["checksum", "status", "exported_at", "updated_at"])
        audit_record(
            actor=actor, action="disbursement.bank_file_export", obj=locked, data={"format": fmt, "sha256": checksum}
        )
    return locked


def line_status_counts(batch: PaymentBatch) -> dict[str, dict[str, int]]:
    rows = batch.lines.values("status").annotate(n=Count("pk"), total=Sum("amount_fen"))
    return {r["status"]: {"n": r["n"], "total": r["total"] or 0} for r in rows}


def batch_reconcile(*, actor, batch: PaymentBatch) -> PaymentBatch:
    """对账: only when every line has the bank's answer and every amount matches."""
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
        locked.status = PaymentBatch.Status.RECONCILED
        locked.reconciled_at = timezone.now()
        locked.save(update_fields=["status", "reconciled_at", "updated_at"])
        counts = line_status_counts(locked)
        audit_record(actor=actor, action="disbursement.batch_reconcile", obj=locked, data={"counts": counts})
    return locked


def reconciliation_differences(batch: PaymentBatch, *, limit: int = 20) -> list[str]:
    sent = batch.lines.exclude(status=PaymentLine.Status.HELD)
    differences: list[str] = []
    pending = sent.filter(status=PaymentLine.Status.PENDING)
    n_pending = pending.count()
    if n_pending:
        refs = "、".join(f"L{pk:010d}" for pk in pending.values_list("pk", flat=True)[:limit])
        differences.append(f"银行回盘缺少 {n_pending} 笔：{refs}{' 等' if n_pending > limit else ''}")
    wrong = sent.exclude(status=PaymentLine.Status.PENDING).exclude(bank_amount_fen=F("amount_fen"))
    for pk, amount, bank in wrong.values_list("pk", "amount_fen", "bank_amount_fen")[:limit]:
        differences.append(
            f"L{pk:010d}：应发 {format_fen(amount)}，银行回盘 {format_fen(bank)}，差额 {format_fen((bank or 0) - amount)}"
        )
    n_wrong = wrong.count()
    if n_wrong > limit:
        differences.append(f"另有 {n_wrong - limit} 笔金额不符未列出")
    sums = sent.aggregate(declared=Sum("amount_fen"), bank=Sum("bank_amount_fen"), n=Count("pk"))
    if batch.declared_total_fen is not None and (sums["declared"] or 0) != batch.declared_total_fen:
        differences.append(
            f"明细合计 {format_fen(sums['declared'] or 0)} 与批次申报总额 {format_fen(batch.declared_total_fen)} 不符"
        )
    if batch.declared_line_count is not None and sums["n"] != batch.declared_line_count:
        differences.append(f"明细笔数 {sums['n']} 与批次申报笔数 {batch.declared_line_count} 不符")
    if not n_pending and (sums["bank"] or 0) != (sums["declared"] or 0):
        differences.append(
            f"银行回盘合计 {format_fen(sums['bank'] or 0)}，应发合计 {format_fen(sums['declared'] or 0)}，"
            f"差额 {format_fen((sums['bank'] or 0) - (sums['declared'] or 0))}"
        )
    return differences


def lines_reissue_request(*, actor, batch: PaymentBatch, reason: str = "") -> int:
    """Mark the batch's failed and returned lines for re-issue in the county's next batch."""
    require(actor, Capability.PAYMENT_MANAGE)
    require_division(actor, batch.county)
    with transaction.atomic():
        PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        n = PaymentLine.objects.filter(
            batch=batch,
            status__in=[PaymentLine.Status.FAILED, PaymentLine.Status.RETURNED],
            reissue_requested=False,
            reissued_to__isnull=True,
        ).update(reissue_requested=True)
        if n:
            audit_record(
                actor=actor, action="disbursement.lines_reissue_request", obj=batch, reason=reason, data={"lines": n}
            )
    return n
