"""A dashboard table downloads as CSV and XLSX with the page's numbers (money in 元, ratios to one
decimal, no data as an empty cell), and names someone typed never become formulas; the monthly
report is a PDF that names the area and prints the tables' numbers."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from ejia.dashboards.exports import table_csv, table_xlsx
from ejia.dashboards.report import monthly_report_pdf
from ejia.dashboards.types import Chart, Column, Dashboard, Kind, Section, Series, Table

MONTHS = (dt.date(2026, 4, 1), dt.date(2026, 5, 1), dt.date(2026, 6, 1))
LABELS = ("2026年4月", "2026年5月", "2026年6月")
HOSTILE = ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR")


def children_table() -> Table:
    """Paid money by child area, with hostile area names as a careless import could leave them."""
    return Table(
        key="money_children",
        title="各区县发放",
        columns=(
            Column("area", "=区县", Kind.TEXT),
            Column("paid", "发放金额", Kind.FEN),
            Column("households", "户数"),
            Column("per_1000", "每千人", Kind.PERMILLE),
            Column("days", "办理天数", Kind.DAYS),
        ),
        rows=(
            (HOSTILE[0], 12345678, 1234, 12.345, 3.25),
            (HOSTILE[1], 5, 0, None, None),
            (HOSTILE[2], -150, 7, 0.0, 0.04),
            (HOSTILE[3], 0, 1, 1.05, 10.0),
            (HOSTILE[4], 100, 2, 2.0, 1.0),
            (HOSTILE[5] + "\x01", 200, 3, 3.0, 2.0),
        ),
        total=("合计", 12346033, 1247, 4.2, None),
        links=("371602", "371621", None, None, None, None),
        note="-注：金额为实发。",
    )


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def test_csv_writes_labels_money_in_yuan_ratios_and_empty_for_no_data():
    rows = read_csv(table_csv(children_table()))
    assert rows[0] == ["'=区县", "发放金额", "户数", "每千人", "办理天数"]
    assert rows[1] == ['\'=HYPERLINK("http://x")', "123456.78", "1234", "12.3", "3.2"]
    assert rows[2] == ["'+1+1", "0.05", "0", "", ""]
    assert rows[3] == ["'-2+3", "-1.50", "7", "0.0", "0.0"]
    assert rows[7] == ["合计", "123460.33", "1247", "4.2", ""]
    assert len(rows) == 8


def test_csv_escapes_every_hostile_text_cell():
    rows = read_csv(table_csv(children_table()))
    for row in rows[1:7]:
        assert row[0].startswith("'"), row
    assert [row[0][1:].rstrip("\x01") for row in rows[1:7]] == list(HOSTILE)


def test_xlsx_keeps_numbers_as_numbers_and_stores_no_formula():
    title = "=滨城区 2026年4月至2026年6月 各区县发放"
    wb = load_workbook(io.BytesIO(table_xlsx(children_table(), title=title)))
    ws = wb.active
    assert ws.title == "各区县发放"
    assert ws["A1"].value == "'" + title
    assert [c.value for c in ws[2]] == ["'=区县", "发放金额", "户数", "每千人", "办理天数"]
    first = [c.value for c in ws[3]]
    assert first[0] == '\'=HYPERLINK("http://x")'
    assert first[1] == pytest.approx(123456.78)
    assert ws["B3"].number_format == "#,##0.00"
    assert first[2] == 1234 and ws["C3"].number_format == "#,##0"
    assert first[3] == pytest.approx(12.3) and ws["D3"].number_format == "0.0"
    assert ws["B5"].value == pytest.approx(-1.5)
    assert [ws["D4"].value, ws["E4"].value] == [None, None]
    # The control character is dropped (an XLSX cannot hold it), the CR kept and escaped (XML
    # reads a lone CR back as a line feed).
    assert ws["A8"].value == "'\nCR"
    assert [c.value for c in ws[9]][:3] == ["合计", pytest.approx(123460.33), 1247]
    assert ws["B9"].font.b
    assert ws["A11"].value == "'-注：金额为实发。"
    cells = [c for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert all(isinstance(c.value, str) for c in cells if c.column == 1)


def test_xlsx_sheet_name_drops_what_excel_refuses():
    table = Table("t", "[发放]: 2026/05 *?'", (Column("n", "户数"),), ((1,),))
    wb = load_workbook(io.BytesIO(table_xlsx(table, title="滨城区")))
    assert wb.active.title == "发放 202605"
    assert wb.active["A3"].value == 1


def report_dashboard(area_name: str = "滨城区<b>&") -> Dashboard:
    trend = Table(
        key="money_trend",
        title="每月发放金额",
        columns=(Column("month", "月份", Kind.TEXT), Column("paid", "低保", Kind.FEN), Column("n", "户数")),
        rows=tuple((label, 87654321 + i, 300 + i) for i, label in enumerate(LABELS)),
        total=("合计", 262962966, 903),
    )
    section = Section(
        key="money",
        title="资金发放",
        charts=(
            Chart(
                "paid",
                "每月发放金额",
                "bar",
                LABELS,
                (Series("低保", (87654321, 87654322, 87654323)),),
                Kind.FEN,
                "money_trend",
            ),
            Chart(
                "households",
                "发放户数",
                "line",
                LABELS,
                (Series("低保", (300, None, 302)), Series("特困", (None, None, None))),
                Kind.COUNT,
                "money_trend",
            ),
            Chart(
                "stacked",
                "各区县",
                "bar",
                ("滨城区", "沾化区"),
                (Series("低保", (0, 0), "s"), Series("特困", (0, 0), "s")),
                Kind.COUNT,
                "",
            ),
            Chart("empty", "无数据", "line", LABELS, (Series("低保", (None, None, None)),), Kind.COUNT, ""),
        ),
        tables=(trend, children_table(), Table("none", "空表", (Column("n", "户数"),), ())),
    )
    return Dashboard(
        area_code="371602",
        area_name=area_name,
        level="county",
        child_level="township",
        start_month=MONTHS[0],
        end_month=MONTHS[-1],
        months=MONTHS,
        sections=(section,),
    )


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils is not installed")
def test_monthly_report_names_area_and_month_and_prints_table_numbers():
    pdf = monthly_report_pdf(report_dashboard(), generated_at=dt.datetime(2026, 7, 1, 9, 30, tzinfo=dt.UTC))
    assert pdf.startswith(b"%PDF")
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    squeezed = "".join(text.split())
    assert "月度社会救助工作报告" in squeezed
    assert "滨城区<b>&2026年6月" in squeezed
    assert "2026-07-0117:30" in squeezed  # generated at, in Asia/Shanghai
    assert "876,543.21" in squeezed  # 低保 in 2026年4月, from the trend table
    assert "2,629,629.66" in squeezed  # its total
    assert "=HYPERLINK" in squeezed  # printed as text, not lost
    assert "本期无数据" in squeezed


def test_monthly_report_without_sections_still_says_so():
    dashboard = report_dashboard()
    empty = Dashboard(
        area_code=dashboard.area_code,
        area_name="滨州市",
        level="city",
        child_level="county",
        start_month=MONTHS[0],
        end_month=MONTHS[-1],
        months=MONTHS,
    )
    pdf = monthly_report_pdf(empty)
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "没有可报告的统计内容" in "".join(text.split())
