# ruff: noqa: S608 -- SQL text is built from model table names only; every value is a parameter.
"""Monthly county payment batches: build, release, export; held lines brought back.

The build is set-based and resumable. It walks the county's households in id order, a chunk
per transaction; each chunk inserts the missing lines, then the missing items, then sums the
lines. Every INSERT skips what is already there (NOT EXISTS), and the items carry the
database's "never twice" constraint, so a build killed at any point and started again (or run
twice at once) ends with exactly the lines and items of a clean build.

Every state change of a batch or a line goes through `transitions.py`. Reconciliation (the
bank's answers, acceptance of the bank's amount, re-issue) lives in `reconciliation.py`.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.accounts.policies import Capability, require
from ejia.accounts.scope import require_division
from ejia.core.audit import audit_record
from ejia.dashboards.tasks import enqueue_after_commit
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentItem, PaymentLine, add_months, period_label
from ejia.disbursement.transitions import (
    BATCH,
    LINE,
    BatchAction,
    LineAction,
    batch_transition,
    line_transition,
)

DEFAULT_CHUNK = 10000

E = Entitlement._meta.db_table
L = PaymentLine._meta.db_table
I = PaymentItem._meta.db_table  # noqa: E741
H = "registry_household"
P = "registry_person"

# An entitlement pays in period %(p)s unless suspended, inside its months.
_PAYS = "e.status <> 'suspended' AND e.start_month <= %s AND (e.end_month IS NULL OR e.end_month >= %s)"
# A line goes into the bank file only with an account and the account holder's name (户名).
_HOLD = (
    "CASE WHEN h.account_ciphertext = '' THEN 'no_account' "
    "WHEN TRIM(COALESCE(pp.name, '')) = '' THEN 'no_holder' ELSE '' END"
)


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


def _require_batch_actor(actor, county: Division) -> None:
    if actor is not None and getattr(actor, "pk", None) and not actor.is_superuser:
        require(actor, Capability.PAYMENT_MANAGE)
        require_division(actor, county)


def batch_get_or_create(*, actor, county: Division, period: dt.date) -> PaymentBatch:
    """The one batch of a county and month; a second call (or a concurrent one) returns it."""
    period = period.replace(day=1)
    existing = PaymentBatch.objects.filter(county=county, period=period).first()
    if existing is not None:
        return existing
    move = BATCH.check(action=BatchAction.CREATE, source=None, actor=actor)
    try:
        with transaction.atomic():
            batch = PaymentBatch.objects.create(
                county=county,
                period=period,
                prepared_by=actor,
                status=move.target,
                build_total=_entitlement_rows(county.code[:6], 0),
            )
            audit_record(
                actor=actor,
                action="disbursement.batch_create",
                obj=batch,
                data={"county": county.code, "period": period_label(period)},
            )
            return batch
    except IntegrityError:
        return PaymentBatch.objects.get(county=county, period=period)


def _entitlement_rows(county_code: str, above: int, upto: int | None = None) -> int:
    """Entitlement rows of the county in a household id range: the unit of build progress."""
    with connection.cursor() as cur:
        sql = f"SELECT COUNT(*) FROM {E} WHERE county_code = %s AND household_id > %s"
        params: list = [county_code, above]
        if upto is not None:
            sql += " AND household_id <= %s"
            params.append(upto)
        cur.execute(sql, params)
        return cur.fetchone()[0]


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


# An entitlement the batch includes for the first time (no item yet, whatever the month).
_FIRST_TIME = (
    f"e.status <> 'suspended' AND e.start_month < %s AND NOT EXISTS (SELECT 1 FROM {I} i WHERE i.entitlement_id = e.id)"
)


def _months_table(months: list[dt.date]) -> tuple[str, list]:
    """A one-column table of months as a portable subquery (UNION ALL of typed parameters)."""
    cast = "CAST(%s AS date)" if connection.vendor == "postgresql" else "%s"
    sql = " UNION ALL ".join(f"SELECT {cast} AS month" for _ in months)
    return f"({sql})", [_d(m) for m in months]


def _arrears(cur, batch: PaymentBatch, lo: int, hi: int) -> None:
    """补发: the first batch that includes an entitlement also pays its months before this one
    (from its start month, e.g. the month after acceptance), in one arrears line per household,
    one item per month. Runs before the month's own items, which would make it "not first"."""
    p = _d(batch.period)
    county_code = batch.county.code[:6]
    chunk = "e.county_code = %s AND e.household_id > %s AND e.household_id <= %s"
    cur.execute(f"SELECT MIN(e.start_month) FROM {E} e WHERE {chunk} AND {_FIRST_TIME}", [county_code, lo, hi, p])
    first = cur.fetchone()[0]
    if first is None:
        return
    if isinstance(first, str):  # SQLite
        first = dt.date.fromisoformat(first)
    months, month = [], first
    while month < batch.period:
        months.append(month)
        month = add_months(month, 1)
    table, month_params = _months_table(months)
    due = (
        f"FROM {E} e JOIN {table} m ON m.month >= e.start_month AND (e.end_month IS NULL OR m.month <= e.end_month)"
        f" WHERE {chunk} AND {_FIRST_TIME}"
    )
    due_params = [*month_params, county_code, lo, hi, p]
    cur.execute(
        f"""INSERT INTO {L} (batch_id, household_id, kind, bank_name, account_ciphertext, account_masked,
                holder_name, amount_fen, status, hold_reason, bank_reference, failure_reason,
                accept_reason, reissue_requested)
        SELECT %s, h.id, 'arrears', h.bank_name, h.account_ciphertext, h.account_masked,
               TRIM(COALESCE(pp.name, '')), due.total,
               CASE WHEN {_HOLD} = '' THEN 'pending' ELSE 'held' END, {_HOLD}, '', '', '',
               CASE WHEN {_HOLD} = '' THEN %s ELSE %s END
        FROM (SELECT e.household_id, SUM(e.amount_fen) AS total {due} GROUP BY e.household_id) due
        JOIN {H} h ON h.id = due.household_id
        LEFT JOIN {P} pp ON pp.id = h.account_holder_id
        WHERE NOT EXISTS (
            SELECT 1 FROM {L} l WHERE l.batch_id = %s AND l.household_id = h.id AND l.kind = 'arrears')""",
        [batch.pk, False, True, *due_params, batch.pk],
    )
    cur.execute(
        f"""INSERT INTO {I} (line_id, entitlement_id, period, amount_fen)
        SELECT l.id, e.id, m.month, e.amount_fen
        {due.replace(" WHERE ", f" JOIN {L} l ON l.batch_id = %s AND l.household_id = e.household_id AND l.kind = 'arrears' WHERE ", 1)}""",
        [*month_params, batch.pk, county_code, lo, hi, p],
    )


def _build_chunk(batch: PaymentBatch, lo: int, hi: int) -> None:
    p = _d(batch.period)
    county_code = batch.county.code[:6]
    with connection.cursor() as cur:
        _arrears(cur, batch, lo, hi)
        # 1. One line per household that has something unpaid this month (一卡发放), its amount
        #    the sum of those entitlements. Chunks cover disjoint household ranges, each in one
        #    transaction under the batch lock, so a line and its items always appear together.
        #    Without an account or the holder's name the line is held (never in the bank file).
        cur.execute(
            f"""INSERT INTO {L} (batch_id, household_id, kind, bank_name, account_ciphertext, account_masked,
                    holder_name, amount_fen, status, hold_reason, bank_reference, failure_reason,
                    accept_reason, reissue_requested)
            SELECT %s, h.id, 'regular', h.bank_name, h.account_ciphertext, h.account_masked,
                   TRIM(COALESCE(pp.name, '')), due.total,
                   CASE WHEN {_HOLD} = '' THEN 'pending' ELSE 'held' END, {_HOLD}, '', '', '',
                   CASE WHEN {_HOLD} = '' THEN %s ELSE %s END
            FROM (
                SELECT e.household_id, SUM(e.amount_fen) AS total FROM {E} e
                WHERE e.county_code = %s AND e.household_id > %s AND e.household_id <= %s AND {_PAYS}
                  AND NOT EXISTS (SELECT 1 FROM {I} i WHERE i.entitlement_id = e.id AND i.period = %s)
                GROUP BY e.household_id
            ) due
            JOIN {H} h ON h.id = due.household_id
            LEFT JOIN {P} pp ON pp.id = h.account_holder_id
            WHERE NOT EXISTS (
                SELECT 1 FROM {L} l WHERE l.batch_id = %s AND l.household_id = h.id AND l.kind = 'regular')""",
            [batch.pk, False, True, county_code, lo, hi, p, p, p, batch.pk],
        )
        # 2. The breakdown: each entitlement's month once (the unique constraint guards it too).
        cur.execute(
            f"""INSERT INTO {I} (line_id, entitlement_id, period, amount_fen)
            SELECT l.id, e.id, %s, e.amount_fen
            FROM {E} e JOIN {L} l ON l.batch_id = %s AND l.household_id = e.household_id AND l.kind = 'regular'
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


def _sum_lines(batch_id: int) -> None:
    with connection.cursor() as cur:
        cur.execute(
            f"""UPDATE {L} SET amount_fen = COALESCE(
                    (SELECT SUM(i.amount_fen) FROM {I} i WHERE i.line_id = {L}.id), 0)
                WHERE batch_id = %s""",
            [batch_id],
        )
        cur.execute(
            f"DELETE FROM {L} WHERE batch_id = %s AND NOT EXISTS (SELECT 1 FROM {I} i WHERE i.line_id = {L}.id)",
            [batch_id],
        )


def _hold_reason(household) -> str:
    if not household.account_ciphertext:
        return PaymentLine.HoldReason.NO_ACCOUNT
    holder = household.account_holder
    if holder is None or not holder.name.strip():
        return PaymentLine.HoldReason.NO_HOLDER
    return ""


def _carry_candidates(batch: PaymentBatch):
    """Earlier lines of the county to re-issue in this batch: the failed or returned ones asked
    for this month (or an earlier month whose batch was never built), and held ones — once the
    household's account is complete — into the first batch after theirs."""
    L_ = PaymentLine.Status
    return (
        PaymentLine.objects.filter(
            reissue_requested=True,
            reissued_to__isnull=True,
            status__in=[L_.FAILED, L_.RETURNED, L_.HELD],
            batch__county_id=batch.county_id,
            batch__period__lt=batch.period,
        )
        .filter(Q(reissue_period__isnull=True) | Q(reissue_period__lte=batch.period))
        .select_related("household__account_holder", "batch")
        .order_by("pk")
    )


def line_reissue_into(*, actor, old: PaymentLine, batch: PaymentBatch, reason: str = "") -> PaymentLine:
    """Carry one failed, returned or held line's items into `batch` as a line of its own.
    The caller holds both batches' locks (older batch first)."""
    household = old.household
    hold = _hold_reason(household)
    move = LINE.check(
        action=LineAction.CREATE,
        source=None,
        actor=actor,
        target=PaymentLine.Status.HELD if hold else PaymentLine.Status.PENDING,
    )
    amount = PaymentItem.objects.filter(line=old).aggregate(t=Sum("amount_fen"))["t"] or 0
    new = PaymentLine.objects.create(
        batch=batch,
        household=household,
        kind=PaymentLine.Kind.REISSUE,
        bank_name=household.bank_name,
        account_ciphertext=household.account_ciphertext,
        account_masked=household.account_masked,
        holder_name=household.account_holder.name.strip() if household.account_holder_id else "",
        amount_fen=amount,
        status=move.target,
        hold_reason=hold,
        reissue_requested=bool(hold),
    )
    PaymentItem.objects.filter(line=old).update(line=new)
    line_transition(
        actor=actor,
        line_id=old.pk,
        action=LineAction.REISSUE,
        audit_action="disbursement.line_reissue",
        reason=reason,
        data={"into": new.reference, "into_batch": batch.reference, "amount_fen": amount},
        reissued_to=new,
    )
    return new


def _carry_reissues(actor, batch: PaymentBatch) -> list[str]:
    """Run inside the finishing transaction, with every involved batch locked (older first)."""
    carried = []
    for old in _carry_candidates(batch):
        if old.status == PaymentLine.Status.HELD and _hold_reason(old.household):
            continue  # still no account or holder: it stays held and listed where it is
        new = line_reissue_into(actor=actor, old=old, batch=batch, reason="转入本批次重新发放")
        carried.append(f"{old.reference}→{new.reference}")
    return carried


def _lock_batches(batch_ids) -> list[PaymentBatch]:
    """Batches are always locked oldest month first, so a build finishing (which carries lines
    out of older batches) and a re-issue request (older batch → later batch) never deadlock."""
    return list(
        PaymentBatch.objects.select_for_update()
        .select_related("county")
        .filter(pk__in=set(batch_ids))
        .order_by("period", "pk")
    )


def batch_totals(batch_id: int) -> dict[str, int]:
    totals = PaymentLine.objects.filter(batch_id=batch_id).aggregate(
        n=Count("pk", filter=Q(status=PaymentLine.Status.PENDING)),
        total=Sum("amount_fen", filter=Q(status=PaymentLine.Status.PENDING)),
        held=Count("pk", filter=Q(status=PaymentLine.Status.HELD)),
    )
    return {"n": totals["n"] or 0, "total": totals["total"] or 0, "held": totals["held"] or 0}


def batch_periods(batch: PaymentBatch) -> list[dt.date]:
    """The months a batch pays for: its own and those of the arrears (补发) it carries, which the
    dashboards count in the month they were owed."""
    owed = PaymentItem.objects.filter(line__batch=batch).values_list("period", flat=True).distinct().order_by()
    return sorted({batch.period, *owed})


def batch_build(
    *, actor, county: Division | str, period: dt.date, chunk_size: int = DEFAULT_CHUNK, max_chunks: int | None = None
) -> PaymentBatch:
    """Build (or finish building) the county's batch for the month; safe to run twice or resume."""
    county = _county(county)
    _require_batch_actor(actor, county)
    # Decisions approved since the last run become entitlements first (一卡发放 of the workflow's
    # results); creation is idempotent, so a resumed build repeats it harmlessly. A decision
    # that cannot become an entitlement is never dropped: it is audited where it fails and
    # handed to the caller, who shows it (`batch.decision_problems`).
    from ejia.disbursement.services import entitlements_from_decisions

    _, problems = entitlements_from_decisions(actor=actor, county_code=county.code)
    batch = _build(actor=actor, county=county, period=period, chunk_size=chunk_size, max_chunks=max_chunks)
    batch.decision_problems = problems
    return batch


def _build(*, actor, county: Division, period: dt.date, chunk_size: int, max_chunks: int | None) -> PaymentBatch:
    batch = batch_get_or_create(actor=actor, county=county, period=period)
    if batch.status == PaymentBatch.Status.BUILDING and batch.build_cursor == 0:
        # Decisions just turned into entitlements count too (progress only; nothing depends on it).
        PaymentBatch.objects.filter(pk=batch.pk, build_cursor=0).update(
            build_total=_entitlement_rows(county.code[:6], 0)
        )
        batch.refresh_from_db()
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
            walked = _entitlement_rows(county.code[:6], locked.build_cursor, hi)
            PaymentBatch.objects.filter(pk=locked.pk).update(
                build_cursor=hi, build_done=locked.build_done + walked, updated_at=timezone.now()
            )
        chunks += 1
    else:
        return PaymentBatch.objects.get(pk=batch.pk)
    return _finish(actor, batch)


def _finish(actor, batch: PaymentBatch) -> PaymentBatch:
    older = set(_carry_candidates(batch).values_list("batch_id", flat=True))
    with transaction.atomic():
        _lock_batches([*older, batch.pk])
        locked = PaymentBatch.objects.select_related("county").get(pk=batch.pk)
        if locked.status != PaymentBatch.Status.BUILDING:
            return locked
        carried = _carry_reissues(actor, locked)
        if _lines_off_their_items(locked.pk):
            _sum_lines(locked.pk)
        totals = batch_totals(locked.pk)
        return batch_transition(
            actor=actor,
            batch_id=locked.pk,
            action=BatchAction.FINISH,
            audit_action="disbursement.batch_built",
            data={"lines": totals["n"], "total_fen": totals["total"], "held": totals["held"], "reissued": carried},
            line_count=totals["n"],
            declared_line_count=totals["n"],
            total_fen=totals["total"],
            declared_total_fen=totals["total"],
            held_count=totals["held"],
            build_done=locked.build_total if locked.build_done < locked.build_total else locked.build_done,
            build_error="",
            built_at=timezone.now(),
        )


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
        if locked.status == PaymentBatch.Status.BUILT and locked.prepared_by_id == actor.pk:
            raise DisbursementError("两人复核：批次的生成人不能同时作为发放人，请由另一位工作人员复核发放。")
        enqueue_after_commit(trigger="batch_release", months=batch_periods(locked), parts=["money"])
        return batch_transition(
            actor=actor,
            batch_id=locked.pk,
            action=BatchAction.RELEASE,
            audit_action="disbursement.batch_release",
            data={"lines": locked.declared_line_count, "total_fen": locked.declared_total_fen},
            released_by=actor,
            released_at=timezone.now(),
        )


def batch_mark_exported(*, actor, batch: PaymentBatch, checksum: str, fmt: str) -> PaymentBatch:
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status == PaymentBatch.Status.RECONCILED:
            return locked  # the file of a finished batch may be downloaded again
        if locked.checksum and locked.checksum != checksum:
            # Same lines, same file: a different checksum means the batch changed after release.
            raise DisbursementError("银行文件校验码与首次导出不一致，请联系系统管理员。")
        changes = {"checksum": checksum}
        if locked.status == PaymentBatch.Status.RELEASED:
            changes["exported_at"] = timezone.now()
        return batch_transition(
            actor=actor,
            batch_id=locked.pk,
            action=BatchAction.EXPORT,
            audit_action="disbursement.bank_file_export",
            data={"format": fmt, "sha256": checksum},
            **changes,
        )


def held_lines_recheck(*, actor, batch: PaymentBatch) -> int:
    """Before release: held lines whose household now has an account and its holder's name go
    back into the bank file (the declared totals follow). Returns how many came back."""
    _require_batch_actor(actor, batch.county)
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        BATCH.check(action=BatchAction.AMEND, source=locked.status, actor=actor)
        back = 0
        for line in (
            PaymentLine.objects.filter(batch=locked, status=PaymentLine.Status.HELD)
            .select_related("household__account_holder")
            .order_by("pk")
        ):
            household = line.household
            if _hold_reason(household):
                continue
            line_transition(
                actor=actor,
                line_id=line.pk,
                action=LineAction.RECHECK,
                audit_action="disbursement.line_recheck",
                bank_name=household.bank_name,
                account_ciphertext=household.account_ciphertext,
                account_masked=household.account_masked,
                holder_name=household.account_holder.name.strip(),
                hold_reason="",
                reissue_requested=False,
            )
            back += 1
        if back and locked.status == PaymentBatch.Status.BUILT:
            _retotal(actor, locked, reason=f"{back} 笔暂缓明细补登账户后纳入银行文件")
        return back


def _retotal(actor, batch: PaymentBatch, *, reason: str) -> PaymentBatch:
    """A built batch whose lines changed before release: new declared totals, audited."""
    totals = batch_totals(batch.pk)
    return batch_transition(
        actor=actor,
        batch_id=batch.pk,
        action=BatchAction.AMEND,
        audit_action="disbursement.batch_amend",
        reason=reason,
        data={"lines": totals["n"], "total_fen": totals["total"], "held": totals["held"]},
        line_count=totals["n"],
        declared_line_count=totals["n"],
        total_fen=totals["total"],
        declared_total_fen=totals["total"],
        held_count=totals["held"],
    )


def line_status_counts(batch: PaymentBatch) -> list[dict]:
    """Every state a line can be in, in order, with its Chinese name, count and sum."""
    rows = batch.lines.values("status").annotate(n=Count("pk"), total=Sum("amount_fen"))
    found = {r["status"]: r for r in rows}
    return [
        {
            "status": value,
            "label": label,
            "n": found.get(value, {}).get("n", 0),
            "total": found.get(value, {}).get("total") or 0,
        }
        for value, label in PaymentLine.Status.choices
    ]
