"""The printed 月度社会救助工作报告: one area's dashboard for one month as an A4 PDF.

It reads the same `Dashboard` the page shows (so the access policy and the numbers are the
page's): a cover line naming the area, the month (the dashboard's last month) and when it was
generated, then each section's charts, drawn with reportlab's graphics in the page's palette,
and its tables with the twelve-month trends. A chart is never the only place a number appears:
its table follows it.
"""

from __future__ import annotations

import datetime as dt
import math

from django.utils import timezone
from django.utils.translation import gettext as _
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing
from reportlab.graphics.widgets.markers import makeMarker
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Spacer, Table, TableStyle

from ejia.core.i18n import official_language
from ejia.core.money import format_fen
from ejia.core.pdf import FONT, a4_pdf, paragraph
from ejia.dashboards.types import PALETTE, Chart, Dashboard, Kind, Section
from ejia.dashboards.types import Table as DataTable

BODY = ParagraphStyle("dr-body", fontName=FONT, fontSize=10, leading=15, wordWrap="CJK")
SMALL = ParagraphStyle("dr-small", parent=BODY, fontSize=8.5, leading=12, textColor=colors.HexColor("#444444"))
WARNING = ParagraphStyle("dr-warning", parent=BODY, textColor=colors.HexColor("#b02a37"))
TITLE = ParagraphStyle("dr-title", parent=BODY, fontSize=20, leading=28, alignment=TA_CENTER, spaceAfter=4)
SUBTITLE = ParagraphStyle("dr-subtitle", parent=BODY, fontSize=12, leading=18, alignment=TA_CENTER)
COVER = ParagraphStyle("dr-cover", parent=BODY, fontSize=9.5, alignment=TA_CENTER, textColor=colors.grey)
# Headings stay on the page of what they introduce (never alone at the foot of a page).
HEADING = ParagraphStyle(
    "dr-heading", parent=BODY, fontSize=14, leading=20, spaceBefore=10, spaceAfter=4, keepWithNext=1
)
SUBHEADING = ParagraphStyle(
    "dr-subheading", parent=BODY, fontSize=10.5, leading=15, spaceBefore=6, spaceAfter=3, keepWithNext=1
)
WIDTH = 180 * mm
HEADER_BG = colors.HexColor("#e8eef7")
TOTAL_BG = colors.HexColor("#f2f2f2")
GRID = colors.HexColor("#999999")
CHART_HEIGHT = 62 * mm
LEGEND_COLUMN = 45 * mm
LEGEND_ROW = 11  # points
FEN_PER_WAN_YUAN = 1_000_000


def month_label(month: dt.date) -> str:
    return _("%(year)d年%(month)d月") % {"year": month.year, "month": month.month}


def format_value(kind: Kind, value: object) -> str:
    """A value as the report prints it: money with ¥ and thousands, ratios with one decimal,
    "—" for no data."""
    if value is None:
        return "—"
    if kind == Kind.TEXT or not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if kind == Kind.FEN:
        return format_fen(int(value))
    if kind == Kind.PERMILLE:
        return f"{float(value):,.1f}‰"
    if kind == Kind.PERCENT:
        return f"{float(value):,.1f}%"
    if kind == Kind.DAYS:
        return f"{float(value):,.1f}"
    return f"{int(value):,}"


def _axis_number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.1f}"


def _chart_values(chart: Chart) -> list[list[float | None]]:
    scale = 1 / FEN_PER_WAN_YUAN if chart.value_kind == Kind.FEN else 1
    return [[None if v is None else float(v) * scale for v in s.values] for s in chart.series]


def _style_category_axis(axis, names: tuple[str, ...]) -> None:
    axis.categoryNames = list(names)
    axis.labels.fontName = FONT
    axis.labels.fontSize = 7
    if len(names) > 6 or max((len(n) for n in names), default=0) > 6:
        axis.labels.angle = 30
        axis.labels.boxAnchor = "ne"
        axis.labels.dx = 2
        axis.labels.dy = -2


def _style_value_axis(axis, data: list[list[float | None]], stacked: bool) -> None:
    axis.labels.fontName = FONT
    axis.labels.fontSize = 7
    axis.labelTextFormat = _axis_number
    values = [v for series in data for v in series if v is not None]
    if stacked:
        sums = [sum(v for v in col if v is not None) for col in zip(*data, strict=True)]
        values += sums
    low = min(0.0, min(values))
    axis.valueMin = low
    # reportlab picks round ticks up to the largest value itself, but cannot draw an axis whose
    # minimum equals its maximum (every value zero).
    if max(values) <= low:
        axis.valueMax = low + 1
    axis.rangeRound = "ceiling"
    axis.visibleGrid = True
    axis.gridStrokeColor = colors.HexColor("#dddddd")


def chart_drawing(chart: Chart) -> Drawing | None:
    """The chart as a reportlab drawing, or None when it has nothing to draw."""
    data = _chart_values(chart)
    if not chart.x or not data or all(v is None for series in data for v in series):
        return None
    n = len(chart.series)
    legend_columns = max(1, int(WIDTH // LEGEND_COLUMN))
    legend_rows = math.ceil(n / legend_columns)
    legend_height = legend_rows * LEGEND_ROW + 6
    bottom = legend_height + 28  # room for slanted category labels
    drawing = Drawing(WIDTH, CHART_HEIGHT + legend_height)
    if chart.kind == "line":
        plot = HorizontalLineChart()
        for i in range(n):
            line = plot.lines[i]
            line.strokeColor = colors.HexColor(PALETTE[i % len(PALETTE)])
            line.strokeWidth = 1.6
            # Dashes and markers tell the lines apart in greyscale print as well.
            line.strokeDashArray = None if i % 2 == 0 else (4, 2)
            line.symbol = makeMarker("FilledCircle" if i % 2 == 0 else "FilledSquare", size=3)
            # reportlab joins the points it has (skipping months without data) and cannot stroke
            # a line through fewer than two: such a series shows as its marker alone.
            if sum(v is not None for v in data[i]) < 2:
                line.strokeColor = None
        stacked = False
    else:
        plot = VerticalBarChart()
        stacks = {s.stack for s in chart.series}
        stacked = n > 1 and len(stacks) == 1 and "" not in stacks
        if stacked:
            plot.categoryAxis.style = "stacked"
        for i in range(n):
            plot.bars[i].fillColor = colors.HexColor(PALETTE[i % len(PALETTE)])
            plot.bars[i].strokeColor = None
        plot.barSpacing = 1
        plot.groupSpacing = 6
    plot.data = data
    plot.x = 18 * mm
    plot.y = bottom
    plot.width = WIDTH - 22 * mm
    plot.height = CHART_HEIGHT + legend_height - bottom - 8
    _style_category_axis(plot.categoryAxis, chart.x)
    _style_value_axis(plot.valueAxis, data, stacked)
    drawing.add(plot)

    legend = Legend()
    legend.fontName = FONT
    legend.fontSize = 7.5
    legend.alignment = "right"
    legend.x = 18 * mm
    legend.y = legend_height - 4
    legend.dx = legend.dy = 7
    legend.deltax = LEGEND_COLUMN
    legend.deltay = LEGEND_ROW
    legend.columnMaximum = legend_rows
    legend.boxAnchor = "nw"
    legend.colorNamePairs = [
        (colors.HexColor(PALETTE[i % len(PALETTE)]), series.name[:24]) for i, series in enumerate(chart.series)
    ]
    drawing.add(legend)
    return drawing


def _cell_style(kind: Kind, size: float) -> ParagraphStyle:
    return ParagraphStyle(
        f"dr-cell-{kind}-{size}",
        parent=BODY,
        fontSize=size,
        leading=size + 3,
        alignment=TA_CENTER if kind == Kind.TEXT else TA_RIGHT,
    )


def table_flowable(table: DataTable) -> Table:
    ncols = len(table.columns)
    size = 9 if ncols <= 6 else 8 if ncols <= 9 else 6.5
    header_style = ParagraphStyle(f"dr-head-{size}", parent=BODY, fontSize=size, leading=size + 3, alignment=TA_CENTER)
    styles = [_cell_style(c.kind, size) for c in table.columns]
    data = [[paragraph(c.label, header_style) for c in table.columns]]
    body = [*table.rows, *([table.total] if table.total is not None else [])]
    for row in body:
        data.append([paragraph(format_value(c.kind, v), s) for c, v, s in zip(table.columns, row, styles, strict=True)])
    # The first column names the row (a month, an area, a programme): give it more room.
    shares = [1.7 if i == 0 and c.kind == Kind.TEXT else 1.0 for i, c in enumerate(table.columns)]
    unit = WIDTH / sum(shares)
    flowable = Table(data, colWidths=[s * unit for s in shares], repeatRows=1)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_BG),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if table.total is not None:
        style.append(("BACKGROUND", (0, len(data) - 1), (-1, len(data) - 1), TOTAL_BG))
    flowable.setStyle(TableStyle(style))
    return flowable


def section_story(section: Section) -> list:
    story: list = [paragraph(section.title, HEADING)]
    if section.note:
        story.append(paragraph(section.note, SMALL))
    tables = {t.key: t for t in section.tables}
    for chart in section.charts:
        # The page's money charts name their unit in the title already; say it where one does not.
        unit = _("（单位：万元）") if chart.value_kind == Kind.FEN and "万元" not in chart.title else ""
        block: list = [paragraph(chart.title + unit, SUBHEADING)]
        drawing = chart_drawing(chart)
        if drawing is None:
            block.append(paragraph(_("本期无数据，未绘制图形。"), SMALL))
        else:
            block.append(drawing)
        if chart.table_key in tables:
            block.append(paragraph(_("数据见表“%(table)s”。") % {"table": tables[chart.table_key].title}, SMALL))
        story.append(KeepTogether(block))
    for table in section.tables:
        story.append(paragraph(table.title, SUBHEADING))
        if table.rows or table.total is not None:
            story.append(table_flowable(table))
        else:
            story.append(paragraph(_("本期无数据。"), SMALL))
        if table.note:
            story.append(paragraph(table.note, SMALL))
        story.append(Spacer(1, 3 * mm))
    return story


def cover_story(dashboard: Dashboard, generated_at: dt.datetime) -> list:
    story: list = [
        paragraph(_("月度社会救助工作报告"), TITLE),
        paragraph(f"{dashboard.area_name}　{month_label(dashboard.end_month)}", SUBTITLE),
        Spacer(1, 2 * mm),
        paragraph(
            _("趋势区间：%(start)s至%(end)s　生成时间：%(at)s")
            % {
                "start": month_label(dashboard.start_month),
                "end": month_label(dashboard.end_month),
                "at": generated_at.strftime("%Y-%m-%d %H:%M"),
            },
            COVER,
        ),
    ]
    if dashboard.refreshed_at is not None:
        refreshed = timezone.localtime(dashboard.refreshed_at).strftime("%Y-%m-%d %H:%M")
        story.append(paragraph(_("汇总数据更新于 %(at)s。") % {"at": refreshed}, COVER))
    else:
        story.append(paragraph(_("汇总数据尚未生成，以下数字可能为空。"), WARNING))
    if dashboard.failed_refreshes:
        story.append(
            paragraph(_("此后有 %(n)d 次汇总刷新失败，数字可能不是最新。") % {"n": dashboard.failed_refreshes}, WARNING)
        )
    if dashboard.department:
        story.append(paragraph(_("本报告只含%(department)s的救助项目。") % {"department": dashboard.department}, COVER))
    story += [paragraph(note, SMALL) for note in dashboard.notes]
    story.append(Spacer(1, 4 * mm))
    return story


@official_language
def monthly_report_pdf(dashboard: Dashboard, *, generated_at: dt.datetime | None = None) -> bytes:
    """The report as PDF bytes, for the dashboard's area and last month."""
    generated_at = timezone.localtime(generated_at or timezone.now())
    title = _("月度社会救助工作报告") + f" {dashboard.area_name} {month_label(dashboard.end_month)}"
    story = cover_story(dashboard, generated_at)
    if not dashboard.sections:
        story.append(paragraph(_("本区域本期没有可报告的统计内容。"), BODY))
    for section in dashboard.sections:
        story += section_story(section)
    footer_text = f"{dashboard.area_name}　{month_label(dashboard.end_month)}"

    def footer(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 8)
        canvas.setFillColor(colors.grey)
        canvas.drawString(18 * mm, 10 * mm, footer_text)
        canvas.drawRightString(WIDTH + 18 * mm, 10 * mm, _("第 %(page)d 页") % {"page": doc.page})
        canvas.restoreState()

    return a4_pdf(story, title=title, footer=footer).getvalue()
