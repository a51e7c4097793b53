"""Downloads of one dashboard table, as CSV or XLSX, with the numbers the page shows.

Values are written by their column's kind: money (integer fen) in 元 with two decimals, ratios
and working days with one, counts as integers, None ("no data") as an empty cell. Every text
cell goes through the verification export's formula escaping: area and programme names come
from data someone typed, and a spreadsheet must never run them.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

from ejia.core.money import format_fen_plain
from ejia.dashboards.types import Kind, Table
from ejia.verification.export import escape_cell

ONE_DECIMAL = (Kind.PERMILLE, Kind.PERCENT, Kind.DAYS)
NUMBER_FORMATS = {
    Kind.COUNT: "#,##0",
    Kind.FEN: "#,##0.00",
    Kind.PERMILLE: "0.0",
    Kind.PERCENT: "0.0",
    Kind.DAYS: "0.0",
}
# Characters Excel refuses in a sheet name.
SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\']")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def _rows(table: Table) -> list[tuple]:
    return [*table.rows, *([table.total] if table.total is not None else [])]


def cell_text(kind: Kind, value: object) -> str:
    """One value as the CSV writes it. A value that is not a number (a label such as 合计 in a
    numeric column) is written as escaped text rather than guessed at."""
    if value is None:
        return ""
    if kind == Kind.TEXT or not _is_number(value):
        return escape_cell(value)
    if kind == Kind.FEN:
        return format_fen_plain(int(value))
    if kind in ONE_DECIMAL:
        return f"{float(value):.1f}"
    return str(int(value))


def table_csv(table: Table) -> bytes:
    """UTF-8 with a BOM, so that Excel opens the Chinese text correctly; the header is the
    column labels, then the rows, then the total row if the table has one."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([escape_cell(c.label) for c in table.columns])
    for row in _rows(table):
        writer.writerow([cell_text(c.kind, v) for c, v in zip(table.columns, row, strict=True)])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def xlsx_text(value: object) -> str:
    """Escaped text without the control characters an XLSX cannot hold (openpyxl refuses them
    rather than drop them, and a name with a stray one must not make the download fail)."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return escape_cell(ILLEGAL_CHARACTERS_RE.sub("", "" if value is None else str(value)))


def cell_value(kind: Kind, value: object) -> object:
    """One value as the XLSX stores it: numbers as numbers (money in 元, exact to the fen),
    text escaped. openpyxl would store a string starting with "=" as a formula."""
    if value is None:
        return None
    if kind == Kind.TEXT or not _is_number(value):
        return xlsx_text(value)
    if kind == Kind.FEN:
        return Decimal(int(value)) / 100
    if kind in ONE_DECIMAL:
        return round(float(value), 1)
    return int(value)


def _width(value: object) -> int:
    # A CJK character takes about two Latin widths in Excel's default font.
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def sheet_name(title: str) -> str:
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    name = ILLEGAL_CHARACTERS_RE.sub("", SHEET_NAME_BAD.sub("", title)).strip()[:31]
    return name or "数据"


def table_xlsx(table: Table, *, title: str) -> bytes:
    """One sheet: a title row (`title`, naming area and months), the column labels, the rows
    and the total in bold, the note below. Numbers carry a number format of their kind."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet_name(table.title)
    wb.properties.title = xlsx_text(title)[:255]
    wb.properties.creator = "e家大救助"
    ncols = len(table.columns)
    bold = Font(bold=True)

    ws.append([xlsx_text(title)])
    ws.cell(row=1, column=1).font = Font(bold=True, size=13)
    if ncols > 1:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=ncols)
    ws.append([xlsx_text(c.label) for c in table.columns])
    header_fill = PatternFill("solid", fgColor="E8EEF7")
    for col in range(1, ncols + 1):
        cell = ws.cell(row=2, column=col)
        cell.font = bold
        cell.fill = header_fill
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    ws.freeze_panes = "A3"

    widths = [_width(c.label) for c in table.columns]
    body = _rows(table)
    for index, row in enumerate(body):
        values = [cell_value(c.kind, v) for c, v in zip(table.columns, row, strict=True)]
        ws.append(values)
        excel_row = ws.max_row
        is_total = table.total is not None and index == len(body) - 1
        for col, (column, value) in enumerate(zip(table.columns, values, strict=True), start=1):
            cell = ws.cell(row=excel_row, column=col)
            if _is_number(value):
                cell.number_format = NUMBER_FORMATS.get(column.kind, "General")
            if is_total:
                cell.font = bold
            shown = f"{value:,.2f}" if column.kind == Kind.FEN and _is_number(value) else value
            widths[col - 1] = max(widths[col - 1], _width(shown))
    if table.note:
        ws.append([])
        ws.append([xlsx_text(table.note)])
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = min(max(width + 2, 8), 60)

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
