"""资金发放: where the money goes — paid per month by programme, department and area, what the
bank returned or could not pay, what is held, and arrears (补发)."""

from __future__ import annotations

from django.utils.translation import gettext as _

from ejia.dashboards.models import PaymentMonthly
from ejia.dashboards.sections.common import (
    by_key,
    by_month,
    children_comparison,
    department_names,
    per_child,
    programme_names,
)
from ejia.dashboards.types import Chart, Column, Kind, Section, Series, Table

MONEY = ["due_fen", "paid_fen", "pending_fen", "held_fen", "failed_fen", "arrears_fen"]


def _money_columns(first: Column) -> tuple[Column, ...]:
    return (
        first,
        Column("due", _("应发"), Kind.FEN),
        Column("paid", _("已到账"), Kind.FEN),
        Column("pending", _("银行处理中"), Kind.FEN),
        Column("held", _("暂缓发放"), Kind.FEN),
        Column("failed", _("发放失败或退回"), Kind.FEN),
        Column("arrears", _("其中补发"), Kind.FEN),
    )


def _money_row(label, v: dict) -> tuple:
    return (label, *(v.get(f, 0) for f in MONEY))


def _total(rows: list[tuple], label: str) -> tuple:
    return (label, *(sum(r[i] for r in rows) for i in range(1, 1 + len(MONEY))))


def build(q) -> Section:
    rows = PaymentMonthly.objects.filter(month__in=q.months, programme__isnull=False)
    if q.department_code:
        rows = rows.filter(department_code=q.department_code)
    here = rows.filter(area_code=q.area.code)

    # 1. Month by month.
    monthly = by_month(here, MONEY, q.months)
    month_rows = [_money_row(label, {f: monthly[f][i] for f in MONEY}) for i, label in enumerate(q.month_labels)]
    trend = Table(
        key="money_trend",
        title=_("逐月资金发放"),
        columns=_money_columns(Column("month", _("月份"), Kind.TEXT)),
        rows=tuple(month_rows),
        total=_total(month_rows, _("合计")),
        note=_("按待遇所属月份统计：补发的钱计入它本应发放的月份。"),
    )
    trend_chart = Chart(
        key="money_trend",
        title=_("逐月发放金额（万元）"),
        kind="bar",
        x=q.month_labels,
        series=(
            Series(_("已到账"), tuple(monthly["paid_fen"]), stack="money"),
            Series(_("银行处理中"), tuple(monthly["pending_fen"]), stack="money"),
            Series(_("暂缓发放"), tuple(monthly["held_fen"]), stack="money"),
            Series(_("发放失败或退回"), tuple(monthly["failed_fen"]), stack="money"),
        ),
        value_kind=Kind.FEN,
        table_key="money_trend",
    )

    # 2. By department (whole range), or by programme for one department.
    names = programme_names()
    depts = department_names()
    per_programme = by_key(here, "programme_id", MONEY)
    if q.department_code:
        dept_rows = sorted(
            (_money_row(names[pk][1], v) for pk, v in per_programme.items() if pk in names), key=lambda r: -r[1]
        )
        dept_title, dept_first = _("各项目发放（所选月份合计）"), Column("programme", _("救助项目"), Kind.TEXT)
    else:
        per_dept = by_key(here, "department_code", MONEY)
        dept_rows = sorted((_money_row(depts.get(code, code), v) for code, v in per_dept.items()), key=lambda r: -r[1])
        dept_title, dept_first = _("各部门发放（所选月份合计）"), Column("department", _("部门"), Kind.TEXT)
    dept_table = Table(
        key="money_departments",
        title=dept_title,
        columns=_money_columns(dept_first),
        rows=tuple(dept_rows),
        total=_total(dept_rows, _("合计")) if dept_rows else None,
    )

    # 3. By programme (whole range), the ten largest first.
    programme_rows = sorted(
        (
            (names[pk][1], depts.get(names[pk][2], ""), v["due_fen"], v["paid_fen"], v["failed_fen"] + v["held_fen"])
            for pk, v in per_programme.items()
            if pk in names
        ),
        key=lambda r: -r[2],
    )
    programme_table = Table(
        key="money_programmes",
        title=_("各项目发放（所选月份合计）"),
        columns=(
            Column("programme", _("救助项目"), Kind.TEXT),
            Column("department", _("部门"), Kind.TEXT),
            Column("due", _("应发"), Kind.FEN),
            Column("paid", _("已到账"), Kind.FEN),
            Column("unpaid", _("暂缓、失败或退回"), Kind.FEN),
        ),
        rows=tuple(programme_rows),
    )

    tables = [trend, dept_table] if q.department_code else [trend, dept_table, programme_table]
    charts = [trend_chart]
    # 4. The children areas over the range.
    if q.children:
        each = per_child(q, rows, MONEY)
        child_rows = [_money_row(child.name, s) for child, s in zip(q.children, each, strict=True)]
        table, chart = children_comparison(
            q,
            key="money_areas",
            title=_("各地发放（所选月份合计）"),
            columns=_money_columns(Column("area", _("地区"), Kind.TEXT)),
            rows=child_rows,
            total=_total(child_rows, _("合计")),
            chart_title=_("各地已到账金额（万元）"),
            bars=((_("已到账"), "paid"),),
            value_kind=Kind.FEN,
        )
        tables.append(table)
        charts.append(chart)
    return Section(key="money", title=_("资金发放"), charts=tuple(charts), tables=tuple(tables))
