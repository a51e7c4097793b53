"""Bank files for 一卡发放: the payment file out (CSV, XLSX) and the bank's return file in
(`return_file` writes one in the bank's shape, for whatever plays the bank: the demo history).

The payment file starts with a header the bank checks before paying: batch reference, month,
declared line count, declared total and the SHA-256 of the detail rows. Every text cell that
a spreadsheet could read as a formula (= + - @, tab, CR) is prefixed with an apostrophe.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ejia.accounts.policies import Capability, require
from ejia.accounts.scope import require_division
from ejia.core import crypto
from ejia.core.i18n import official_language
from ejia.core.money import InvalidAmount, format_fen, format_fen_plain, yuan_to_fen
from ejia.dashboards.tasks import enqueue_after_commit
from ejia.disbursement.batches import batch_mark_exported, batch_periods
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.messages import payment_messages
from ejia.disbursement.models import PaymentBatch, PaymentLine, PaymentReturn, line_reference
from ejia.disbursement.reconciliation import benefit_history_remove, benefit_history_write
from ejia.disbursement.transitions import (
    BATCH,
    LINE,
    BatchAction,
    LineAction,
    LineChange,
    lines_transition_bulk,
)
from ejia.registry.models import ACCOUNT_PURPOSE

DETAIL_HEADER = ["序号", "交易流水号", "户名", "账号", "开户行", "金额（元）", "用途"]
RETURN_HEADER = ["交易流水号", "金额（元）", "结果", "银行流水号", "说明"]
# The bank's result words; 成功 becomes 已到账 or 金额不符 once the amount is compared.
RESULT_WORDS = {
    "成功": LineAction.BANK_PAID,
    "paid": LineAction.BANK_PAID,
    "失败": LineAction.BANK_FAILED,
    "failed": LineAction.BANK_FAILED,
    "退回": LineAction.BANK_RETURNED,
    "退票": LineAction.BANK_RETURNED,
    "returned": LineAction.BANK_RETURNED,
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
READ_CHUNK = 5000


def safe_cell(value: str) -> str:
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _account_decryptor():
    """Decrypt many account numbers: one AES-GCM object per key id instead of one per row.
    Same token format and purpose binding as ejia.core.crypto.decrypt (which has no batch form)."""
    keys = crypto._keys(settings.EJIA_FIELD_KEYS)
    ciphers: dict[str, AESGCM] = {}
    aad = ACCOUNT_PURPOSE.encode("utf-8")

    def decrypt(token: str) -> str:
        key_id, _, b64 = token.partition(":")
        aes = ciphers.get(key_id)
        if aes is None:
            if key_id not in keys:
                raise crypto.DecryptionError(f"unknown key id {key_id!r}")
            aes = ciphers[key_id] = AESGCM(keys[key_id])
        raw = base64.b64decode(b64)
        try:
            return aes.decrypt(raw[:12], raw[12:], aad).decode("utf-8")
        except Exception as exc:
            raise crypto.DecryptionError("ciphertext does not decrypt") from exc

    return decrypt


@official_language
def _purposes(batch: PaymentBatch) -> dict[str, str]:
    """用途 of each kind of line, in the official language whatever the clerk reads (once per file:
    a translation per row costs seconds at 100,000 rows)."""
    return {value: f"{label} {batch.period_label}" for value, label in PaymentLine.Kind.choices}


def detail_rows(batch: PaymentBatch) -> Iterator[list[str]]:
    """The detail rows in line order, account numbers decrypted for the bank only. Held lines
    (no account or no holder's name) are never in the file; a line in the file without them
    stops the export rather than reach the bank blank."""
    rows = (
        batch.lines.filter(hold_reason="")
        .order_by("pk")
        .values_list("pk", "holder_name", "account_ciphertext", "bank_name", "amount_fen", "kind")
        # One streamed query (a server-side cursor on PostgreSQL), memory bounded by the chunk.
        .iterator(chunk_size=READ_CHUNK)
    )
    decrypt = _account_decryptor()
    purposes = _purposes(batch)
    for seq, (pk, holder, cipher, bank, amount, kind) in enumerate(rows, start=1):
        if not holder.strip() or not cipher:
            raise DisbursementError(f"{line_reference(pk)} 缺少户名或账号，已停止导出。")
        yield [
            str(seq),
            line_reference(pk),
            safe_cell(holder),
            safe_cell(decrypt(cipher)),
            safe_cell(bank),
            format_fen_plain(amount),
            purposes[kind],
        ]


@dataclass
class BankFile:
    filename: str
    content: bytes
    content_type: str
    checksum: str


def _rows_and_checksum(batch: PaymentBatch) -> tuple[list[list[str]], str]:
    rows = list(detail_rows(batch))
    digest = hashlib.sha256()
    for row in rows:
        digest.update(("\x1f".join(row) + "\n").encode("utf-8"))
    return rows, digest.hexdigest()


def _header(batch: PaymentBatch, checksum: str) -> list[list[str]]:
    return [
        ["批次号", batch.reference],
        ["发放月份", batch.period_label],
        ["笔数", str(batch.declared_line_count or 0)],
        ["总金额（元）", format_fen_plain(batch.declared_total_fen or 0)],
        ["校验码（SHA-256）", checksum],
        DETAIL_HEADER,
    ]


def bank_file_export(*, actor, batch: PaymentBatch, fmt: str = "csv") -> BankFile:
    """The released batch's payment file. Exporting again gives the same rows and checksum."""
    require(actor, Capability.PAYMENT_MANAGE)
    require_division(actor, batch.county)
    if batch.status not in (PaymentBatch.Status.RELEASED, PaymentBatch.Status.EXPORTED, PaymentBatch.Status.RECONCILED):
        raise DisbursementError("批次须经复核发放后才能导出银行文件。")
    rows, checksum = _rows_and_checksum(batch)
    if len(rows) != batch.declared_line_count:
        raise DisbursementError("银行文件笔数与批次申报笔数不一致，已停止导出。")
    head = _header(batch, checksum)
    name = f"bank-{batch.reference}"
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook(write_only=True)
        ws = wb.create_sheet("发放明细")
        for row in head:
            ws.append(row)
        for row in rows:
            # Text cells stay text: account numbers must not turn into floats.
            ws.append(row)
        out = io.BytesIO()
        wb.save(out)
        content, ctype, filename = (
            out.getvalue(),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            name + ".xlsx",
        )
    else:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows(head)
        writer.writerows(rows)
        content, ctype, filename = ("\ufeff" + out.getvalue()).encode("utf-8"), "text/csv; charset=utf-8", name + ".csv"
    batch_mark_exported(actor=actor, batch=batch, checksum=checksum, fmt=fmt)
    return BankFile(filename=filename, content=content, content_type=ctype, checksum=checksum)


@dataclass
class ReturnResult:
    paid: int = 0
    mismatch: int = 0
    failed: int = 0
    returned: int = 0
    unchanged: int = 0
    corrected: int = 0


@dataclass(frozen=True)
class BankAnswer:
    """One row of the bank's return file: the line, the amount the bank paid, what happened
    (`LineAction.BANK_PAID`, `BANK_FAILED` or `BANK_RETURNED`), the bank's reference and note."""

    line_id: int
    amount_fen: int
    action: str
    bank_reference: str = ""
    note: str = ""


# The word the bank writes for each result (the first of RESULT_WORDS that names it).
_RESULT_WORD = {action: word for word, action in reversed(RESULT_WORDS.items())}


def return_file(answers: Iterable[BankAnswer]) -> bytes:
    """A return file (回盘文件) as the bank sends it and `bank_return_import` reads it: UTF-8 CSV,
    the header, then one row per answer (交易流水号, amount in 元, result word, reference, note)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RETURN_HEADER)
    for a in answers:
        writer.writerow(
            [
                line_reference(a.line_id),
                format_fen_plain(a.amount_fen),
                _RESULT_WORD[a.action],
                a.bank_reference,
                a.note,
            ]
        )
    return out.getvalue().encode("utf-8")


def _parse_return(data: bytes) -> tuple[list[BankAnswer], list[str]]:
    text = data.decode("utf-8-sig", errors="replace")
    rows: list[BankAnswer] = []
    errors: list[str] = []
    started = False
    for n, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or not any(c.strip() for c in row):
            continue
        cells = [c.strip().lstrip("'") for c in row]
        if not started:
            if cells[0] == RETURN_HEADER[0]:
                started = True
            continue
        if len(cells) < 3:
            errors.append(f"第 {n} 行：列数不足。")
            continue
        ref = cells[0]
        if not (ref.startswith("L") and ref[1:].isdigit()):
            errors.append(f"第 {n} 行：交易流水号“{ref[:20]}”无效。")
            continue
        try:
            amount = yuan_to_fen(cells[1])
        except InvalidAmount as exc:
            errors.append(f"第 {n} 行：{exc}")
            continue
        action = RESULT_WORDS.get(cells[2].lower())
        if action is None:
            errors.append(f"第 {n} 行：结果“{cells[2][:10]}”应为 成功、失败 或 退回。")
            continue
        bank_ref = cells[3][:64] if len(cells) > 3 else ""
        note = cells[4][:200] if len(cells) > 4 else ""
        rows.append(BankAnswer(int(ref[1:]), amount, action, bank_ref, note))
    if not started:
        errors.append(f"未找到表头行（{'，'.join(RETURN_HEADER)}）。")
    return rows, errors


_ANSWER_OF = {
    PaymentLine.Status.PAID: LineAction.BANK_PAID,
    PaymentLine.Status.MISMATCH: LineAction.BANK_MISMATCH,
    PaymentLine.Status.ACCEPTED: LineAction.BANK_MISMATCH,
    PaymentLine.Status.FAILED: LineAction.BANK_FAILED,
    PaymentLine.Status.RETURNED: LineAction.BANK_RETURNED,
}
_ARRIVED = (PaymentLine.Status.PAID, PaymentLine.Status.ACCEPTED)


def bank_return_import(*, actor, batch: PaymentBatch, data: bytes) -> ReturnResult:
    """Import the bank's answer for lines of the batch — the first answer, or a corrected one:
    the latest answer for a line wins and every answer is kept. A line paid with another amount
    than declared waits for a second person's acceptance (reconciliation.py). Lines whose money
    arrived enter the household's benefit history; a correction that says it did not takes
    them out again."""
    require(actor, Capability.PAYMENT_MANAGE)
    require_division(actor, batch.county)
    answers, errors = _parse_return(data)
    if errors:
        raise DisbursementError("银行回盘文件有误：\n" + "\n".join(errors[:20]))
    sha = hashlib.sha256(data).hexdigest()
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != PaymentBatch.Status.EXPORTED:
            raise DisbursementError("只有已导出银行文件、尚未对账的批次可以导入银行回盘。")
        BATCH.check(action=BatchAction.IMPORT_RETURN, source=locked.status, actor=actor)
        ids = [a.line_id for a in answers]
        if len(set(ids)) != len(ids):
            raise DisbursementError("银行回盘中有重复的交易流水号。")
        lines: dict[int, tuple] = {}
        for start in range(0, len(ids), READ_CHUNK):
            part = ids[start : start + READ_CHUNK]
            for row in PaymentLine.objects.filter(batch=locked, pk__in=part).values_list(
                "pk",
                "status",
                "amount_fen",
                "bank_amount_fen",
                "bank_reference",
                "failure_reason",
                "hold_reason",
                "reissued_to_id",
                "reissue_requested",
            ):
                lines[row[0]] = row[1:]
        unknown = [line_reference(i) for i in ids if i not in lines]
        if unknown:
            raise DisbursementError(f"银行回盘中有 {len(unknown)} 笔不属于本批次：{'、'.join(unknown[:10])}")
        result = ReturnResult()
        changes: list[LineChange] = []
        history: list[PaymentReturn] = []
        arrived: list[int] = []
        gone: list[int] = []
        now = timezone.now()
        for a in answers:
            status, declared, bank_amount, bank_ref, reason, hold, reissued_to, reissue_asked = lines[a.line_id]
            ref = line_reference(a.line_id)
            if hold:
                raise DisbursementError(f"{ref} 为暂缓笔，未发往银行。")
            action = a.action
            if action == LineAction.BANK_PAID and a.amount_fen != declared:
                action = LineAction.BANK_MISMATCH
            if status != PaymentLine.Status.PENDING and (
                _ANSWER_OF.get(status) == action
                and bank_amount == a.amount_fen
                and bank_ref == a.bank_reference
                and reason == a.note
            ):
                result.unchanged += 1  # the same answer again: nothing to do, nothing twice
                continue
            if reissued_to is not None:
                raise DisbursementError(
                    f"{ref} 已转入后续批次重新发放，不能再更改银行结果；如银行实际已付款，请先与银行核实并联系系统管理员。"
                )
            fields = {"bank_amount_fen": a.amount_fen, "bank_reference": a.bank_reference, "failure_reason": a.note}
            # A new answer replaces an acceptance and a pending re-issue request.
            if status == PaymentLine.Status.ACCEPTED:
                fields.update(accepted_by=None, accepted_at=None, accept_reason="")
            if reissue_asked:
                fields.update(reissue_requested=False, reissue_period=None)
            changes.append(LineChange(a.line_id, status, action, fields))
            history.append(
                PaymentReturn(
                    line_id=a.line_id,
                    status=LINE.check(action=action, source=status, actor=actor).target,
                    bank_amount_fen=a.amount_fen,
                    bank_reference=a.bank_reference,
                    note=a.note,
                    imported_by=actor,
                    imported_at=now,
                    file_sha256=sha,
                )
            )
            target = history[-1].status
            if status != PaymentLine.Status.PENDING:
                result.corrected += 1
            setattr(result, target, getattr(result, target) + 1)
            was_in_history = status in _ARRIVED
            if was_in_history:
                gone.append(a.line_id)
            if target == PaymentLine.Status.PAID:
                arrived.append(a.line_id)
        benefit_history_remove(gone)
        lines_transition_bulk(
            actor=actor,
            batch=locked,
            changes=changes,
            audit_action="disbursement.bank_return_import",
            data={
                "sha256": sha,
                "paid": result.paid,
                "mismatch": result.mismatch,
                "failed": result.failed,
                "returned": result.returned,
                "corrected": result.corrected,
                "unchanged": result.unchanged,
            },
        )
        PaymentReturn.objects.bulk_create(history, batch_size=2000)
        benefit_history_write(arrived)
        payment_messages(arrived)
        PaymentBatch.objects.filter(pk=locked.pk).update(return_imported_at=now, updated_at=now)
        # The dashboards follow the bank's answer once it is committed (never blocks this import).
        enqueue_after_commit(trigger="bank_return", months=batch_periods(locked), parts=["money"])
    return result


def reconciliation_summary(batch: PaymentBatch) -> str:
    return f"{batch.reference}：{batch.declared_line_count or 0} 笔，{format_fen(batch.declared_total_fen or 0)}"
