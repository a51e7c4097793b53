"""核对与数据: one-click checks of the area per month and by data source, the children's checks,
and the department files imported (city-wide). A department's staff see only their own
department's files and no checks (checks are not split by department)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from ejia.accounts.models import Department
from ejia.dashboards.models import CheckMonthly, ImportMonthly
from ejia.dashboards.sections.common import by_key, by_month, children_comparison, per_child, ratio
from ejia.dashboards.selectors import Query
from ejia.dashboards.types import Chart, Column, Kind, Section, Series, Table
from ejia.verification.models import DataSource

CHECK_FIELDS = ("checks", "with_differences", "failed")
IMPORT_FIELDS = ("files", "refused_files", "rows", "accepted", "rejected")


def department_labels() -> dict[str, str]:
    """{department code of ImportMonthly: name}: a programme unit by its name, any other
    provider by the departments its sources name (the code is the sources' prefix)."""
    from ejia.dashboards.parts.data import provider_code

    units = dict(Department.objects.values_list("name", "code"))
    names: dict[str, list[str]] = {}
    for code, department in DataSource.objects.values_list("code", "department"):
        key = provider_code(code, department, units)
        if department not in names.setdefault(key, []):
            names[key].append(department)
    return {key: "、".join(found) for key, found in names.items()}


def _checks_by_month(q: Query) -> tuple[Chart, Table]:
    rows = CheckMonthly.objects.filter(area_code=q.area.code, source_code="")
    m = by_month(rows, CHECK_FIELDS, q.months)
    table = Table(
        key="data_checks",
        title=_("一键核对（按月）"),
        columns=(
            Column("month", _("月份"), Kind.TEXT),
            Column("checks", _("完成核对")),
            Column("with_differences", _("发现差异")),
            Column("share", _("差异占比（%）"), Kind.PERCENT),
            Column("failed", _("有数据源未返回")),
        ),
        rows=tuple(
            (
                label,
                m["checks"][i],
                m["with_differences"][i],
                ratio(m["with_differences"][i], m["checks"][i]),
                m["failed"][i],
            )
            for i, label in enumerate(q.month_labels)
        ),
        total=(
            _("合计"),
            sum(m["checks"]),
            sum(m["with_differences"]),
            ratio(sum(m["with_differences"]), sum(m["checks"])),
            sum(m["failed"]),
        ),
    )
    chart = Chart(
        key="data_checks_chart",
        title=_("一键核对（按月）"),
        kind="bar",
        x=q.month_labels,
        series=(
            Series(_("完成核对"), tuple(m["checks"])),
            Series(_("发现差异"), tuple(m["with_differences"])),
        ),
        table_key=table.key,
    )
    return chart, table


def _checks_by_source(q: Query) -> tuple[Chart, Table] | None:
    if q.level == "village":
        return None  # summarised by source from the township up (see parts/data.py)
    rows = CheckMonthly.objects.filter(area_code=q.area.code, month__in=q.months).exclude(source_code="")
    sums = by_key(rows, "source_code", CHECK_FIELDS)
    sources = list(DataSource.objects.order_by("sort_order", "code").values_list("code", "name", "department"))
    known = {code for code, _n, _d in sources}
    # A source removed since keeps its numbers under its code.
    sources += [(code, code, "") for code in sorted(sums) if code not in known]
    out = []
    for code, name, department in sources:
        s = sums.get(code)
        if not s or not s["checks"]:
            continue
        out.append(
            (
                name,
                department,
                s["checks"],
                s["with_differences"],
                ratio(s["with_differences"], s["checks"]),
                s["failed"],
            )
        )
    table = Table(
        key="data_sources",
        title=_("各数据源核出差异的占比"),
        columns=(
            Column("source", _("数据源"), Kind.TEXT),
            Column("department", _("提供部门"), Kind.TEXT),
            Column("checks", _("查询次数")),
            Column("with_differences", _("核出差异")),
            Column("share", _("差异占比（%）"), Kind.PERCENT),
            Column("failed", _("未返回")),
        ),
        rows=tuple(out),
        note=_("一次核对中某数据源证实的事项与申报不一致，即计为该数据源核出差异；一次核对可涉及多个数据源。"),
    )
    chart = Chart(
        key="data_sources_chart",
        title=_("各数据源核出差异的占比（%）"),
        kind="bar",
        x=tuple(r[0] for r in out),
        series=(Series(_("差异占比"), tuple(r[4] for r in out)),),
        value_kind=Kind.PERCENT,
        table_key=table.key,
    )
    return chart, table


def _checks_by_child(q: Query) -> tuple[Chart, Table] | None:
    if not q.children:
        return None
    each = per_child(q, CheckMonthly.objects.filter(source_code="", month__in=q.months), CHECK_FIELDS)
    out = [
        (child.name, s["checks"], s["with_differences"], ratio(s["with_differences"], s["checks"]), s["failed"])
        for child, s in zip(q.children, each, strict=True)
    ]
    table, chart = children_comparison(
        q,
        key="data_children",
        title=_("下级区域的一键核对"),
        columns=(
            Column("area", _("区域"), Kind.TEXT),
            Column("checks", _("完成核对")),
            Column("with_differences", _("发现差异")),
            Column("share", _("差异占比（%）"), Kind.PERCENT),
            Column("failed", _("有数据源未返回")),
        ),
        rows=out,
        total=(
            _("合计"),
            sum(r[1] for r in out),
            sum(r[2] for r in out),
            ratio(sum(r[2] for r in out), sum(r[1] for r in out)),
            sum(r[4] for r in out),
        ),
        chart_key="data_children_chart",
        chart_title=_("下级区域的一键核对"),
        bars=((_("完成核对"), "checks"), (_("发现差异"), "with_differences")),
    )
    return chart, table


def _imports(q: Query) -> tuple[Chart, Table, Table]:
    rows = ImportMonthly.objects.all()
    if q.department_code:
        rows = rows.filter(department_code=q.department_code)
    m = by_month(rows, IMPORT_FIELDS, q.months)
    city_wide = _("部门数据文件覆盖全市，按全市统计，不随所选区域变化。")
    monthly = Table(
        key="data_imports",
        title=_("部门数据文件导入（按月）"),
        columns=(
            Column("month", _("月份"), Kind.TEXT),
            Column("files", _("入库文件")),
            Column("refused_files", _("被拒收文件")),
            Column("rows", _("数据行")),
            Column("accepted", _("接收行")),
            Column("rejected", _("拒收行")),
            Column("share", _("拒收占比（%）"), Kind.PERCENT),
        ),
        rows=tuple(
            (label, *(m[f][i] for f in IMPORT_FIELDS), ratio(m["rejected"][i], m["rows"][i]))
            for i, label in enumerate(q.month_labels)
        ),
        total=(_("合计"), *(sum(m[f]) for f in IMPORT_FIELDS), ratio(sum(m["rejected"]), sum(m["rows"]))),
        note=city_wide,
    )
    chart = Chart(
        key="data_imports_chart",
        title=_("部门数据行：接收与拒收（按月）"),
        kind="bar",
        x=q.month_labels,
        series=(
            Series(_("接收行"), tuple(m["accepted"]), stack="rows"),
            Series(_("拒收行"), tuple(m["rejected"]), stack="rows"),
        ),
        table_key=monthly.key,
    )
    sums = by_key(rows.filter(month__in=q.months), "department_code", IMPORT_FIELDS)
    labels = department_labels()
    out = [
        (labels.get(code, code), *(s[f] for f in IMPORT_FIELDS), ratio(s["rejected"], s["rows"]))
        for code, s in sorted(sums.items(), key=lambda kv: (-kv[1]["rows"], kv[0]))
    ]
    by_department = Table(
        key="data_departments",
        title=_("各部门数据文件导入与拒收行"),
        columns=(
            Column("department", _("提供部门"), Kind.TEXT),
            *monthly.columns[1:],
        ),
        rows=tuple(out),
        total=(
            _("合计"),
            *(sum(r[1 + i] for r in out) for i in range(len(IMPORT_FIELDS))),
            ratio(sum(r[5] for r in out), sum(r[3] for r in out)),
        ),
        note=city_wide,
    )
    return chart, monthly, by_department


def build(q: Query) -> Section:
    charts: list[Chart] = []
    tables: list[Table] = []
    if not q.department_code:
        for part in (_checks_by_month(q), _checks_by_source(q), _checks_by_child(q)):
            if part is not None:
                charts.append(part[0])
                tables.append(part[1])
    chart, monthly, by_department = _imports(q)
    charts.append(chart)
    tables += [monthly, by_department]
    if q.department_code:
        note = _("%(department)s只能查看本部门提供的数据文件；一键核对不按部门区分，不在此显示。") % {
            "department": q.department_name
        }
    elif q.level == "village":
        note = _("按数据源的核对统计只到乡镇（街道）一级，村（社区）只显示核对总数。")
    else:
        note = ""
    return Section(key="data", title=_("核对与数据"), charts=tuple(charts), tables=tuple(tables), note=note)
