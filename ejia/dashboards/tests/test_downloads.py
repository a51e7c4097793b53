"""Downloading a dashboard table (CSV, XLSX) and the monthly report (PDF) through the pages: the
files carry the page's numbers, which agree with the payment rows; each download is an audit
event naming the viewer; an unknown table is a 404 in Chinese; nobody downloads outside their
area."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess

import pytest
from django.db.models import Sum
from openpyxl import load_workbook

from ejia.core.models import AuditEvent
from ejia.dashboards.refresh import refresh
from ejia.disbursement.models import PaymentItem
from ejia.disbursement.tests.conftest import MAY

pytestmark = pytest.mark.django_db
RANGE = {"from": "2026-04", "to": "2026-06"}


@pytest.fixture
def refreshed(answered):
    refresh(months=[dt.date(2026, 4, 1), MAY, dt.date(2026, 6, 1)], trigger="test")
    return answered


def _may_paid_out() -> tuple[int, int]:
    """(every item of May, the items the bank paid), in fen, from the raw rows."""
    items = PaymentItem.objects.filter(period=MAY)
    return (
        items.aggregate(t=Sum("amount_fen"))["t"],
        items.filter(line__status="paid").aggregate(t=Sum("amount_fen"))["t"],
    )


def _events(action: str):
    return AuditEvent.objects.filter(action=action).order_by("seq")


def test_a_table_downloads_as_csv_with_the_payment_rows_in_yuan(refreshed, dave, client):
    client.force_login(dave)
    response = client.get("/staff/dashboards/371602/export/money_trend.csv", RANGE)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename*=utf-8''")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "月份"
    may = next(r for r in rows if r[0] == "2026年5月")
    total, paid = _may_paid_out()
    assert (may[1], may[2]) == (f"{total / 100:.2f}", f"{paid / 100:.2f}") == ("2541.00", "829.00")
    event = _events("dashboards.export").get()
    assert event.actor == dave and event.object_id == "371602"
    assert event.data["table"] == "money_trend" and event.data["format"] == "csv"
    assert (event.data["from"], event.data["to"]) == ("2026-04", "2026-06")


def test_a_table_downloads_as_xlsx_with_numbers_and_a_title(refreshed, dave, client):
    client.force_login(dave)
    response = client.get("/staff/dashboards/371602001/export/money_trend.xlsx", RANGE)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(response.content)).active
    title = ws["A1"].value
    assert "市中街道" in title and "2026年4月" in title and "2026年6月" in title
    may = next(row for row in ws.iter_rows(min_row=3, values_only=True) if row[0] == "2026年5月")
    total, _paid = _may_paid_out()
    assert may[1] == pytest.approx(total / 100)
    assert _events("dashboards.export").get().data["format"] == "xlsx"


def test_the_monthly_report_prints_the_area_and_its_money(refreshed, dave, client):
    client.force_login(dave)
    response = client.get("/staff/dashboards/371602/report.pdf", {"month": "2026-05"})
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    text = subprocess.run(["pdftotext", "-", "-"], input=response.content, capture_output=True, check=True).stdout
    squeezed = "".join(text.decode().split())
    assert "月度社会救助工作报告" in squeezed and "滨城区" in squeezed and "2026年5月" in squeezed
    total, _paid = _may_paid_out()
    assert f"¥{total // 100:,}.{total % 100:02d}" in squeezed
    event = _events("dashboards.report").get()
    assert event.actor == dave and event.data["month"] == "2026-05"
    assert (event.data["from"], event.data["to"]) == ("2025-06", "2026-05")


def test_an_unknown_table_or_format_is_a_404_in_chinese(refreshed, dave, client):
    client.force_login(dave)
    response = client.get("/staff/dashboards/371602/export/no_such_table.csv")
    assert response.status_code == 404
    assert "本页没有这张统计表" in response.content.decode()
    response = client.get("/staff/dashboards/371602/export/money_trend.xls")
    assert response.status_code == 404
    assert "只能下载 CSV 或 XLSX" in response.content.decode()
    assert not _events("dashboards.export").exists()


def test_a_bad_month_goes_back_to_the_page_with_the_reason(refreshed, dave, client):
    client.force_login(dave)
    response = client.get("/staff/dashboards/371602/report.pdf", {"month": "2026-13"}, follow=True)
    assert response.redirect_chain[-1][0] == "/staff/dashboards/371602/"
    assert "格式不对" in response.content.decode()
    response = client.get("/staff/dashboards/371602/export/money_trend.csv", {"from": "2026-06", "to": "2026-04"})
    assert response.status_code == 302
    assert not _events("dashboards.report").exists() and not _events("dashboards.export").exists()


def test_nobody_downloads_outside_their_area(refreshed, bob, alice, client):
    client.force_login(bob)  # 市中街道's window: its township, not the county
    assert client.get("/staff/dashboards/371602/export/money_trend.csv").status_code == 403
    assert client.get("/staff/dashboards/371602/report.pdf").status_code == 403
    assert client.get("/staff/dashboards/371602001/export/money_trend.csv").status_code == 200
    client.force_login(alice)  # a village clerk has no dashboard
    assert client.get("/staff/dashboards/371602001/report.pdf").status_code == 403
    assert [e.actor for e in _events("dashboards.export")] == [bob]
    assert not _events("dashboards.report").exists()


def test_the_page_links_every_table_and_the_report_to_its_download(refreshed, dave, client):
    client.force_login(dave)
    page = client.get("/staff/dashboards/371602/", RANGE).content.decode()
    board_tables = re.findall(r'data-testid="table-([a-z0-9_]+)"', page)
    links = re.findall(r'href="(/staff/dashboards/371602/export/[^"]+)"', page)
    assert board_tables and len(links) == 2 * len(board_tables)
    assert "/staff/dashboards/371602/export/money_trend.csv?from=2026-04&amp;to=2026-06" in links
    for link in links:
        assert client.get(link.replace("&amp;", "&")).status_code == 200, link
    report = re.search(r'href="(/staff/dashboards/371602/report\.pdf\?month=2026-06)"', page).group(1)
    assert client.get(report)["Content-Type"] == "application/pdf"
    assert _events("dashboards.export").count() == len(links)
