"""Downloads of the dashboards: one table as CSV or XLSX, the monthly report as PDF. Each builds
the viewer's `Dashboard` through the same selector as the page, so the access policy and the
numbers are the page's; each is an audit event naming the viewer."""

from __future__ import annotations

import re

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from ejia.accounts.policies import Capability, staff_view
from ejia.dashboards import selectors
from ejia.dashboards.exports import table_csv, table_xlsx
from ejia.dashboards.report import month_label, monthly_report_pdf
from ejia.dashboards.services import EXPORT, REPORT, download_record
from ejia.disbursement.models import add_months

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
# What a file name may not hold on the viewer's disk (or in a header).
FILENAME_BAD = re.compile(r'[\x00-\x1f\x7f"\\/:*?<>|]')


def _attachment(content: bytes, *, filename: str, fmt: str) -> HttpResponse:
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    name = FILENAME_BAD.sub("", filename).strip() or "ejia"
    response["Content-Disposition"] = content_disposition_header(True, f"{name}.{fmt}")
    return response


def _back_to_page(request, area_code: str, error: Exception):
    """A range the page cannot show: back to the page, which says why."""
    messages.error(request, str(error))
    return redirect("dashboards:area", area_code=area_code)


@staff_view(Capability.DASHBOARD_READ)
def export(request, area_code: str, filename: str):
    """…/<area>/export/<table key>.<csv|xlsx>?from=YYYY-MM&to=YYYY-MM: one table of the page."""
    table_key, _dot, fmt = filename.rpartition(".")
    if fmt not in ("csv", "xlsx") or not table_key:
        raise Http404(_("只能下载 CSV 或 XLSX 格式的表格。"))
    try:
        board = selectors.dashboard(
            request.user,
            area_code=area_code,
            start=request.GET.get("from"),
            end=request.GET.get("to"),
            today=timezone.localdate(),
        )
    except selectors.RangeError as exc:
        return _back_to_page(request, area_code, exc)
    try:
        table = board.find_table(table_key)
    except KeyError:
        raise Http404(_("本页没有这张统计表（%(key)s），请回到统计页重新选择。") % {"key": table_key[:40]}) from None
    months = _("%(start)s至%(end)s") % {"start": month_label(board.start_month), "end": month_label(board.end_month)}
    title = f"{board.area_name} {months} {table.title}"
    content = table_csv(table) if fmt == "csv" else table_xlsx(table, title=title)
    download_record(actor=request.user, action=EXPORT, dashboard=board, data={"table": table.key, "format": fmt})
    return _attachment(
        content, filename=f"{board.area_name}-{table.title}-{board.start_month:%Y%m}-{board.end_month:%Y%m}", fmt=fmt
    )


@staff_view(Capability.DASHBOARD_READ)
def report(request, area_code: str):
    """…/<area>/report.pdf?month=YYYY-MM: the monthly report for that month (by default this
    month), with the twelve months up to it as the trend."""
    try:
        month = selectors.parse_month(request.GET.get("month")) or timezone.localdate().replace(day=1)
        board = selectors.dashboard(
            request.user,
            area_code=area_code,
            start=f"{add_months(month, -11):%Y-%m}",
            end=f"{month:%Y-%m}",
            today=timezone.localdate(),
        )
    except selectors.RangeError as exc:
        return _back_to_page(request, area_code, exc)
    content = monthly_report_pdf(board)
    download_record(actor=request.user, action=REPORT, dashboard=board, data={"month": f"{month:%Y-%m}"})
    name = _("月度社会救助工作报告")
    return _attachment(content, filename=f"{board.area_name}-{name}-{month:%Y%m}", fmt="pdf")
