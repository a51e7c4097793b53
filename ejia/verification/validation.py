"""Row validation against a source's declared schema.

`RowValidator.for_header(columns, header)` maps the file's header onto the schema (refusing the
whole file when a required column is missing, naming it) and compiles one converter per
column, so that the per-row path is a loop over closures: cheap enough for a million rows.
A row either becomes (person_index, id_ciphertext, data) or a list of Chinese reasons.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ejia.core import crypto, idnumber
from ejia.core.money import InvalidAmount, yuan_to_fen
from ejia.verification.files import FileRefused
from ejia.verification.models import PERSON_INDEX_PURPOSE, SOURCE_ID_PURPOSE, ColumnType

_DATE_SEP = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
)
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_HEADER_NORMALISE = str.maketrans({"（": "(", "）": ")", " ": "", "\u3000": "", "\ufeff": ""})


class CellError(ValueError):
    pass


def normalise_header(text: str) -> str:
    return str(text or "").translate(_HEADER_NORMALISE).strip()


def parse_date(text: str) -> str:
    m = _DATE_COMPACT.match(text) or _DATE_SEP.match(text)
    if not m:
        raise CellError(f"“{text}”不是有效日期（应为 2025-01-31、2025/01/31 或 20250131 的形式）")
    try:
        day = dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        raise CellError(f"“{text}”不是有效日期") from None
    if not 1900 <= day.year <= 2100:
        raise CellError(f"日期“{text}”不在合理范围内")
    return day.isoformat()


def _money(text: str) -> int:
    try:
        return yuan_to_fen(text)
    except InvalidAmount as exc:
        # Exports write amounts as floats: 1234.5600000001 is still 1234.56 yuan.
        try:
            amount = Decimal(text.replace(",", ""))
        except InvalidOperation:
            amount = None
        if amount is not None and amount.is_finite() and abs(amount * 100 - round(amount * 100)) < Decimal("0.0001"):
            return round(amount * 100)
        raise CellError(str(exc).rstrip("。")) from None


def _decimal(text: str) -> str:
    try:
        value = Decimal(text.replace(",", ""))
    except InvalidOperation:
        raise CellError(f"“{text}”不是有效数值") from None
    if not value.is_finite():
        raise CellError(f"“{text}”不是有效数值")
    return str(value)


def _int(text: str) -> int:
    try:
        return int(text.replace(",", ""))
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise CellError(f"“{text}”不是整数") from None
    if not value.is_integer():
        raise CellError(f"“{text}”不是整数")
    return int(value)


def _code_converter(codes) -> Callable[[str], str]:
    mapping = {str(k): str(k) for k in codes} if isinstance(codes, list) else {str(k): str(v) for k, v in codes.items()}
    # A department may send the code itself instead of its label.
    for value in list(mapping.values()):
        mapping.setdefault(value, value)
    allowed = "、".join(str(k) for k in (codes if isinstance(codes, list) else codes.keys()))

    def convert(text: str) -> str:
        try:
            return mapping[text]
        except KeyError:
            raise CellError(f"“{text}”不在允许的代码中（{allowed}）") from None

    return convert


def _converter(column: dict) -> Callable[[str], object]:
    kind = column["type"]
    if kind == ColumnType.DATE:
        return parse_date
    if kind == ColumnType.MONEY_YUAN:
        return _money
    if kind == ColumnType.DECIMAL:
        return _decimal
    if kind == ColumnType.INT:
        return _int
    if kind == ColumnType.CODE:
        return _code_converter(column.get("codes") or [])
    if kind == ColumnType.ID_NUMBER:
        # A second ID column (e.g. a spouse) is kept as a blind index, never in plaintext.
        def other_id(text: str) -> str:
            try:
                number = idnumber.parse(text).number
            except idnumber.InvalidIdNumber as exc:
                raise CellError(exc.message.rstrip("。")) from None
            return crypto.blind_index(number, purpose=PERSON_INDEX_PURPOSE)

        return other_id
    if column.get("mask"):
        return idnumber.mask
    return str


@dataclass
class RowValidator:
    columns: list[dict]
    header: list[str]
    key_position: int
    key_header: str
    plan: list[tuple[int, str, str, bool, Callable]]  # (position, field, header, required, convert)
    ignored: list[str]
    sensitive_positions: frozenset[int]
    today: dt.date

    @classmethod
    def for_header(cls, columns: list[dict], header: list[str]) -> RowValidator:
        positions: dict[str, int] = {}
        for i, name in enumerate(header):
            positions.setdefault(normalise_header(name), i)
        plan = []
        missing = []
        used = set()
        key_position = -1
        key_header = ""
        for column in columns:
            names = [column["header"], *column.get("aliases", [])]
            pos = next((positions[normalise_header(n)] for n in names if normalise_header(n) in positions), None)
            if pos is None:
                if column.get("required"):
                    missing.append(column["header"])
                continue
            used.add(pos)
            if column.get("key"):
                key_position, key_header = pos, column["header"]
                continue
            plan.append((pos, column["field"], column["header"], bool(column.get("required")), _converter(column)))
        if missing:
            found = "、".join(h for h in header if h) or "（空）"
            raise FileRefused(
                f"缺少必需的列：{'、'.join(missing)}。文件的表头为：{found}。"
                "请核对导出格式；若表头显示为乱码，请检查文件编码（UTF-8 或 GBK）。",
                code="missing_column",
            )
        sensitive = {key_position}
        for column in columns:
            if column.get("mask") or column["type"] == ColumnType.ID_NUMBER:
                names = [column["header"], *column.get("aliases", [])]
                sensitive.update(positions[normalise_header(n)] for n in names if normalise_header(n) in positions)
        ignored = [h for i, h in enumerate(header) if i not in used and h]
        return cls(
            columns=columns,
            header=header,
            key_position=key_position,
            key_header=key_header,
            plan=plan,
            ignored=ignored,
            sensitive_positions=frozenset(sensitive),
            today=dt.date.today(),
        )

    def validate(self, cells: list[str]) -> tuple[tuple[str, str, str] | None, list[str]]:
        """Returns ((person_index, id_ciphertext, data_json), []) or (None, reasons)."""
        reasons: list[str] = []
        width = len(self.header)
        if len(cells) > width and any(c.strip() for c in cells[width:]):
            reasons.append(f"本行有 {len(cells)} 列，多于表头的 {width} 列")
        raw_id = cells[self.key_position].strip() if self.key_position < len(cells) else ""
        number = ""
        if not raw_id:
            reasons.append(f"缺少必填项「{self.key_header}」")
        else:
            try:
                number = idnumber.parse(raw_id, today=self.today).number
            except idnumber.InvalidIdNumber as exc:
                reasons.append(f"「{self.key_header}」{exc.message.rstrip('。')}")
        data: dict[str, object] = {}
        for pos, field_name, header, required, convert in self.plan:
            text = cells[pos].strip() if pos < len(cells) else ""
            if not text:
                if required:
                    reasons.append(f"缺少必填项「{header}」")
                data[field_name] = None
                continue
            try:
                data[field_name] = convert(text)
            except CellError as exc:
                reasons.append(f"「{header}」{exc}")
        if reasons:
            return None, reasons
        return (
            (
                crypto.blind_index(number, purpose=PERSON_INDEX_PURPOSE),
                crypto.encrypt(number, purpose=SOURCE_ID_PURPOSE),
                json.dumps(data, ensure_ascii=False, separators=(",", ":")),
            ),
            [],
        )

    def masked_cells(self, cells: list[str]) -> list[str]:
        """The row as read, safe to keep and show: ID numbers and account numbers masked."""
        out = []
        for i, cell in enumerate(cells):
            if i in self.sensitive_positions or i == self.key_position:
                out.append(idnumber.mask(cell.strip()) if cell.strip() else "")
            else:
                out.append(idnumber.mask_in_text(cell))
        return out
