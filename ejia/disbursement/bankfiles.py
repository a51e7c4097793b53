"""Bank files for 一卡发放: the payment file out (CSV, XLSX) and the bank's return file in.

The payment file starts with a header the bank checks before paying: batch reference, month,
declared line count, declared total and the SHA-256 of the detail rows. Every text cell that
a spreadsheet could read as a formula (= + - @, tab, CR) is prefixed with an apostrophe.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ejia.accounts.policies import Capability, require
from ejia.accounts.scope import require_division
from ejia.core import crypto
from ejia.core.audit import audit_record
from ejia.core.money import InvalidAmount, format_fen, format_fen_plain, yuan_to_fen
from ejia.disbursement.batches import batch_mark_exported
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.messages import payment_messages
from ejia.disbursement.models import PaymentBatch, PaymentItem, PaymentLine
from ejia.registry.models import ACCOUNT_PURPOSE, BenefitRecord

DETAIL_HEADER = ["序号", "交易流水号", "户名", "账号", "开户行", "金额（元）"]
RETURN_HEADER = ["交易流水号", "金额（元）", "结果", "银行流水号", "说明"]
RESULT_WORDS = {
    "成功": PaymentLine.Status.PAID,
    "paid": PaymentLine.Status.PAID,
    "失败": PaymentLine.Status.FAILED,
    "failed": PaymentLine.Status.FAILED,
    "退回": PaymentLine.Status.RETURNED,
    "退票": PaymentLine.Status.RETURNED,
    "returned": PaymentLine.Status.RETURNED,
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


def detail_rows(batch: PaymentBatch) -> Iterator[list[str]]:
    """The detail rows in line order, account numbers decrypted for the bank only."""
    qs = batch.lines.filter(
        status__in=[
            PaymentLine.Status.PENDING,
            PaymentLine.Status.PAID,
            PaymentLine.Status.FAILED,
            PaymentLine.Status.RETURNED,
        ]
    )
    last, seq = 0, 0
    decrypt = _account_decryptor()
    while True:
        chunk = list(
            qs.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "holder_name", "account_ciphertext", "bank_name", "amount_fen")[:READ_CHUNK]
        )
        if not chunk:
            return
        for pk, holder, cipher, bank, amount in chunk:
            seq += 1
            account = decrypt(cipher)
            yield [
                str(seq),
                f"L{pk:010d}",
                safe_cell(holder),
                safe_cell(account),
                safe_cell(bank),
                format_fen_plain(amount),
            ]
        last = chunk[-1][0]


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
    failed: int = 0
    returned: int = 0
    unchanged: int = 0
    errors: list[str] | None = None


def _parse_return(data: bytes) -> tuple[list[tuple[int, int, str, str, str]], list[str]]:
    text = data.decode("utf-8-sig", errors="replace")
    rows: list[tuple[int, int, str, str, str]] = []
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
        status = RESULT_WORDS.get(cells[2].lower())
        if status is None:
            errors.append(f"第 {n} 行：结果“{cells[2][:10]}”应为 成功、失败 或 退回。")
            continue
        bank_ref = cells[3][:64] if len(cells) > 3 else ""
        note = cells[4][:200] if len(cells) > 4 else ""
        rows.append((int(ref[1:]), amount, status, bank_ref, note))
    if not started:
        errors.append(f"未找到表头行（{'，'.join(RETURN_HEADER)}）。")
    return rows, errors


def bank_return_import(*, actor, batch: PaymentBatch, data: bytes) -> ReturnResult:
    """Import the bank's answer for each line; paid lines enter the households' benefit history."""
    require(actor, Capability.PAYMENT_MANAGE)
    require_division(actor, batch.county)
    rows, errors = _parse_return(data)
    if errors:
        raise DisbursementError("银行回盘文件有误：\n" + "\n".join(errors[:20]))
    with transaction.atomic():
        locked = PaymentBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != PaymentBatch.Status.EXPORTED:
            raise DisbursementError("只有已导出银行文件、尚未对账的批次可以导入银行回盘。")
        ids = [r[0] for r in rows]
        if len(set(ids)) != len(ids):
            raise DisbursementError("银行回盘中有重复的交易流水号。")
        lines = {}
        for start in range(0, len(ids), READ_CHUNK):
            part = ids[start : start + READ_CHUNK]
            lines.update(dict(PaymentLine.objects.filter(batch=locked, pk__in=part).values_list("pk", "status")))
        unknown = [f"L{i:010d}" for i in ids if i not in lines]
        if unknown:
            raise DisbursementError(f"银行回盘中有 {len(unknown)} 笔不属于本批次：{'、'.join(unknown[:10])}")
        result = ReturnResult()
        changed: list[PaymentLine] = []
        newly_paid: list[int] = []
        for pk, amount, status, bank_ref, note in rows:
            current = lines[pk]
            if current == PaymentLine.Status.HELD:
                raise DisbursementError(f"L{pk:010d} 为暂缓笔，未发往银行。")
            if current != PaymentLine.Status.PENDING:
                if current != status:
                    raise DisbursementError(
                        f"L{pk:010d} 已记为{PaymentLine.Status(current).label}，回盘却为{PaymentLine.Status(status).label}。"
                    )
                result.unchanged += 1
                continue
            changed.append(
                PaymentLine(pk=pk, status=status, bank_amount_fen=amount, bank_reference=bank_ref, failure_reason=note)
            )
            setattr(result, status, getattr(result, status) + 1)
            if status == PaymentLine.Status.PAID:
                newly_paid.append(pk)
        PaymentLine.objects.bulk_update(
            changed, ["status", "bank_amount_fen", "bank_reference", "failure_reason"], batch_size=2000
        )
        _benefit_history_write(newly_paid)
        payment_messages(newly_paid)
        locked.return_imported_at = timezone.now()
        locked.save(update_fields=["return_imported_at", "updated_at"])
        audit_record(
            actor=actor,
            action="disbursement.bank_return_import",
            obj=locked,
            data={"paid": result.paid, "failed": result.failed, "returned": result.returned},
        )
    return result


def _benefit_history_write(line_ids: list[int]) -> int:
    """One BenefitRecord per paid item (the 360° view shows each programme's month)."""
    import calendar

    written = 0
    for start in range(0, len(line_ids), READ_CHUNK):
        part = line_ids[start : start + READ_CHUNK]
        items = PaymentItem.objects.filter(line_id__in=part).values(
            "pk",
            "period",
            "amount_fen",
            "line_id",
            "entitlement__household_id",
            "entitlement__person_id",
            "entitlement__programme_id",
            "entitlement__programme__name",
            "entitlement__programme__department_id",
        )
        records = []
        for it in items:
            period = it["period"]
            last_day = period.replace(day=calendar.monthrange(period.year, period.month)[1])
            records.append(
                BenefitRecord(
                    household_id=it["entitlement__household_id"],
                    person_id=it["entitlement__person_id"],
                    programme_id=it["entitlement__programme_id"],
                    programme_name=it["entitlement__programme__name"],
                    department_id=it["entitlement__programme__department_id"],
                    form=BenefitRecord.Form.CASH,
                    amount_fen=it["amount_fen"],
                    period_start=period,
                    period_end=last_day,
                    source=BenefitRecord.Source.PAYMENT,
                    source_ref=f"payitem:{it['pk']}",
                    note=f"一卡发放 L{it['line_id']:010d}",
                )
            )
        BenefitRecord.objects.bulk_create(records, batch_size=2000)
        written += len(records)
    return written


def reconciliation_summary(batch: PaymentBatch) -> str:
    return f"{batch.reference}：{batch.declared_line_count or 0} 笔，{format_fen(batch.declared_total_fen or 0)}"
