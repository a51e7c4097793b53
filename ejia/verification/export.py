"""Downloads of refused rows, with reasons. Every cell that a spreadsheet would read as a formula
(= + - @, and tab/CR which some programs strip first) is prefixed with an apostrophe."""

from __future__ import annotations

import csv
import io

from ejia.verification.models import RejectedRow, SourceSnapshot

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def rejected_csv(snapshot: SourceSnapshot) -> bytes:
    """UTF-8 with BOM so that Excel opens the Chinese text correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["行号", *(escape_cell(h) for h in snapshot.file_header), "拒收原因"])
    for row in RejectedRow.objects.filter(snapshot=snapshot).order_by("row_number").iterator(chunk_size=2000):
        writer.writerow([row.row_number, *(escape_cell(c) for c in row.cells), escape_cell("；".join(row.reasons))])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def rejected_xlsx(snapshot: SourceSnapshot) -> bytes:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("拒收明细")
    ws.append(["行号", *(escape_cell(h) for h in snapshot.file_header), "拒收原因"])
    for row in RejectedRow.objects.filter(snapshot=snapshot).order_by("row_number").iterator(chunk_size=2000):
        # Strings only: openpyxl would store a leading "=" as a formula.
        ws.append([row.row_number, *(escape_cell(c) for c in row.cells), escape_cell("；".join(row.reasons))])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
