"""主动发现与动态管理: leads found, visited and turned into applications per month, grid
workers' reports, 动态管理 alerts raised and confirmed; the children compared. Not split by
department, so a department's staff do not see it."""

from __future__ import annotations

from django.utils.translation import gettext as _

from ejia.dashboards.models import DiscoveryMonthly
from ejia.dashboards.sections.common import by_month, children_comparison, per_child, ratio
from ejia.dashboards.selectors import Query
from ejia.dashboards.types import Chart, Column, Kind, Section, Series, Table

FIELDS = ("leads_found", "reports", "leads_visited", "leads_applied", "alerts_raised", "alerts_confirmed")


def _columns(first: Column) -> tuple[Column, ...]:
    return (
        first,
        Column("leads_found", _("发现线索")),
        Column("reports", _("其中网格员上报")),
        Column("leads_visited", _("完成走访")),
        Column("leads_applied", _("发起申请")),
        Column("conversion", _("走访转化率（%）"), Kind.PERCENT),
        Column("alerts_raised", _("动态预警")),
        Column("alerts_confirmed", _("预警确认")),
    )


def _row(label: str, s: dict[str, int]) -> tuple:
    return (
        label,
        s["leads_found"],
        s["reports"],
        s["leads_visited"],
        s["leads_applied"],
        ratio(s["leads_applied"], s["leads_visited"]),
        s["alerts_raised"],
        s["alerts_confirmed"],
    )


def build(q: Query) -> Section | None:
    if q.department_code:
        return None
    m = by_month(DiscoveryMonthly.objects.filter(area_code=q.area.code), FIELDS, q.months)
    totals = {f: sum(m[f]) for f in FIELDS}
    monthly = Table(
        key="discovery_months",
        title=_("主动发现与动态预警（按月）"),
        columns=_columns(Column("month", _("月份"), Kind.TEXT)),
        rows=tuple(_row(label, {f: m[f][i] for f in FIELDS}) for i, label in enumerate(q.month_labels)),
        total=_row(_("合计"), totals),
        note=_(
            "走访转化率 = 发起申请 ÷ 完成走访。线索按发现当月计，走访与申请按登记走访结果当月计，"
            "预警按产生当月和确认当月分别计。"
        ),
    )
    charts = [
        Chart(
            key="discovery_leads_chart",
            title=_("主动发现线索：发现、走访、申请"),
            kind="line",
            x=q.month_labels,
            series=(
                Series(_("发现线索"), tuple(m["leads_found"])),
                Series(_("完成走访"), tuple(m["leads_visited"])),
                Series(_("发起申请"), tuple(m["leads_applied"])),
            ),
            table_key=monthly.key,
        ),
        Chart(
            key="discovery_alerts_chart",
            title=_("动态预警：产生与确认"),
            kind="bar",
            x=q.month_labels,
            series=(
                Series(_("动态预警"), tuple(m["alerts_raised"])),
                Series(_("预警确认"), tuple(m["alerts_confirmed"])),
            ),
            table_key=monthly.key,
        ),
    ]
    tables = [monthly]
    if q.children:
        each = per_child(q, DiscoveryMonthly.objects.filter(month__in=q.months), FIELDS)
        table, chart = children_comparison(
            q,
            key="discovery_children",
            title=_("下级区域的主动发现与动态预警"),
            columns=_columns(Column("area", _("区域"), Kind.TEXT)),
            rows=[_row(child.name, s) for child, s in zip(q.children, each, strict=True)],
            total=_row(_("合计"), {f: sum(s[f] for s in each) for f in FIELDS}),
            chart_key="discovery_children_chart",
            chart_title=_("下级区域的线索与申请"),
            bars=((_("发现线索"), "leads_found"), (_("发起申请"), "leads_applied")),
        )
        tables.append(table)
        charts.append(chart)
    return Section(key="discovery", title=_("主动发现与动态管理"), charts=tuple(charts), tables=tuple(tables))
