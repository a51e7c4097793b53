"""救助覆盖: who is covered — households and people receiving help, by tier (低保, 特困, 低保边缘,
支出型) and by programme, per 1,000 residents, month by month and area by area."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ejia.dashboards.models import AreaPopulation, RecipientMonthly
from ejia.dashboards.sections.common import (
    by_key,
    by_month,
    children_comparison,
    department_names,
    per_child,
    programme_names,
    ratio,
)
from ejia.dashboards.types import Chart, Column, Kind, Section, Series, Table

# The tiers of 梯度救助, as programme codes of the catalogue.
TIERS = (
    ("dibao", gettext_lazy("低保")),
    ("tekun", gettext_lazy("特困")),
    ("dibao_edge", gettext_lazy("低保边缘")),
    ("expense_hardship", gettext_lazy("支出型")),
)


def build(q) -> Section:
    names = programme_names()
    code_to_id = {code: pk for pk, (code, _n, _d) in names.items()}
    rows = RecipientMonthly.objects.filter(month__in=q.months)
    if q.department_code:
        rows = rows.filter(department_code=q.department_code)
        shown = [
            (pk, name)
            for pk, (code, name, dept) in sorted(names.items(), key=lambda i: i[1][0])
            if dept == q.department_code
        ]
        total_rows = rows  # no "any programme" row for one department: sum its programmes
    else:
        shown = [(code_to_id[code], str(label)) for code, label in TIERS if code in code_to_id]
        total_rows = rows.filter(programme__isnull=True)
        rows = rows.filter(programme__isnull=False)
    here = rows.filter(area_code=q.area.code)
    totals = by_month(total_rows.filter(area_code=q.area.code), ["households", "persons"], q.months)
    population = by_month(AreaPopulation.objects.filter(area_code=q.area.code), ["persons"], q.months)
    per_programme = {pk: by_month(here.filter(programme_id=pk), ["households"], q.months) for pk, _n in shown}

    # 1. Trend of the area itself.
    trend_columns = (
        Column("month", _("月份"), Kind.TEXT),
        Column("households", _("救助家庭（户）")),
        Column("persons", _("救助人数（人）")),
        Column("per_1000", _("每千名居民中的救助人数"), Kind.PERMILLE),
        *(Column(f"p{pk}", _("%(name)s（户）") % {"name": name}) for pk, name in shown),
    )
    trend_rows = tuple(
        (
            label,
            totals["households"][i],
            totals["persons"][i],
            ratio(totals["persons"][i], population["persons"][i], 1000),
            *(per_programme[pk]["households"][i] for pk, _n in shown),
        )
        for i, label in enumerate(q.month_labels)
    )
    trend = Table(
        key="coverage_trend",
        title=_("逐月救助覆盖"),
        columns=trend_columns,
        rows=trend_rows,
        note=_("一户同时享受多个项目时，“救助家庭”只计一次；按户享受的项目计入全体共同生活成员。")
        if not q.department_code
        else _("本部门各项目享受户数之和，同一户享受本部门两个项目时计两次。"),
    )
    trend_chart = Chart(
        key="coverage_trend",
        title=_("救助家庭数变化"),
        kind="line",
        x=q.month_labels,
        series=(
            Series(_("救助家庭"), tuple(totals["households"])),
            *(Series(name, tuple(per_programme[pk]["households"])) for pk, name in shown),
        ),
        table_key="coverage_trend",
    )

    # 2. The children areas in the last month.
    last = q.last_month
    children_total = per_child(q, total_rows.filter(month=last), ["households", "persons", "monthly_fen"])
    children_pop = per_child(q, AreaPopulation.objects.filter(month=last), ["persons", "households"])
    children_tiers = [per_child(q, rows.filter(month=last, programme_id=pk), ["households"]) for pk, _n in shown]
    area_rows = [
        (
            child.name,
            pop["persons"],
            got["households"],
            got["persons"],
            ratio(got["persons"], pop["persons"], 1000),
            *(tier[i]["households"] for tier in children_tiers),
        )
        for i, (child, got, pop) in enumerate(zip(q.children, children_total, children_pop, strict=True))
    ]
    area_table, area_chart = children_comparison(
        q,
        key="coverage_areas",
        title=_("%(month)s各地救助覆盖") % {"month": q.month_labels[-1]},
        columns=(
            Column("area", _("地区"), Kind.TEXT),
            Column("residents", _("居民人数")),
            Column("households", _("救助家庭（户）")),
            Column("persons", _("救助人数（人）")),
            Column("per_1000", _("每千名居民中的救助人数"), Kind.PERMILLE),
            *(Column(f"p{pk}", _("%(name)s（户）") % {"name": name}) for pk, name in shown),
        ),
        rows=area_rows,
        chart_title=_("各地每千名居民中的救助人数"),
        bars=((_("每千人救助人数"), "per_1000"),),
        value_kind=Kind.PERMILLE,
    )

    # 3. Every programme in the last month.
    depts = department_names()
    by_programme = by_key(
        rows.filter(area_code=q.area.code, month=last), "programme_id", ["households", "persons", "monthly_fen"]
    )
    programme_rows = sorted(
        (
            (names[pk][1], depts.get(names[pk][2], names[pk][2]), v["households"], v["persons"], v["monthly_fen"])
            for pk, v in by_programme.items()
            if pk in names and v["households"]
        ),
        key=lambda r: -r[2],
    )
    programme_table = Table(
        key="coverage_programmes",
        title=_("%(month)s各项目享受情况") % {"month": q.month_labels[-1]},
        columns=(
            Column("programme", _("救助项目"), Kind.TEXT),
            Column("department", _("部门"), Kind.TEXT),
            Column("households", _("享受家庭（户）")),
            Column("persons", _("惠及人数（人）")),
            Column("monthly", _("每期待遇合计"), Kind.FEN),
        ),
        rows=tuple(programme_rows),
        total=(
            _("合计"),
            "",
            sum(r[2] for r in programme_rows),
            None,
            sum(r[4] for r in programme_rows),
        ),
        note=_("“惠及人数”合计不相加：一人可享受多个项目。"),
    )
    return Section(
        key="coverage",
        title=_("救助覆盖"),
        charts=(trend_chart, area_chart) if q.children else (trend_chart,),
        tables=(trend, area_table, programme_table) if q.children else (trend, programme_table),
    )
