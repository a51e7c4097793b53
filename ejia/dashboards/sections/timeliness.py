"""办理时效: where applications come from and how fast they move — applications per month by
channel and the channel mix, requests decided per month, working days per step (median and
90th percentile from the summed histograms), steps finished late, the backlog by step and the
overdue steps by unit, and the children areas side by side.

A department's staff see only the step and backlog tables of their department: applications
and decisions are counted per case, which is not split by department."""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable, Sequence

from django.db.models import Min, Sum
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from ejia.cases.models import Channel
from ejia.cases.workflow.models import ProcedureStep
from ejia.dashboards.models import CaseMonthly, StageSnapshot, StepMonthly
from ejia.dashboards.sections.common import by_key, children_comparison, per_child, ratio
from ejia.dashboards.types import Chart, Column, Kind, Section, Series, Table

OUTCOMES = ("approved", "refused", "withdrawn")


def percentile(days: Sequence[int], percent: int) -> int | None:
    """The nearest-rank `percent`-th percentile (1..100) of the values a histogram counts
    (`days[i]` = how many took i working days): the smallest i with at least
    ⌈percent × total / 100⌉ values at or below it. None when the histogram is empty. The last
    bucket stands for "that many or more", so a result there is a lower bound."""
    if not 1 <= percent <= 100:
        raise ValueError("percent must be within 1..100")
    total = sum(days)
    if total <= 0:
        return None
    rank = max(1, -(-percent * total // 100))
    seen = 0
    for i, count in enumerate(days):
        seen += count
        if seen >= rank:
            return i
    raise AssertionError("unreachable: the ranks add up to the total")


def add_histograms(histograms: Iterable[Sequence[int]]) -> list[int]:
    """Bucket by bucket sums (a page adds a few thousand rows: element-wise in C via map)."""
    out = [0] * StepMonthly.HISTOGRAM_BUCKETS
    for days in histograms:
        if len(days) == len(out):
            out = list(map(operator.add, out, days))
        else:
            for i, count in enumerate(days):
                out[i] += count
    return out


def _step_order() -> dict[str, tuple[int, str]]:
    """Steps shown in the order procedures walk them (a name's earliest position in any template)."""
    return {
        r["name"]: (r["first"], r["name"])
        for r in ProcedureStep.objects.values("name").annotate(first=Min("order")).order_by()
    }


def _channel_rows(q) -> tuple[list[Table], list[Chart]]:
    here = CaseMonthly.objects.filter(month__in=q.months, area_code=q.area.code)
    index = {m: i for i, m in enumerate(q.months)}
    cases = {c: [0] * len(q.months) for c in Channel.values}
    requests = [0] * len(q.months)
    decided = {o: [0] * len(q.months) for o in OUTCOMES}
    sums = {f: Sum(f) for f in ("cases", "requests", *OUTCOMES)}
    for r in here.values("month", "channel").annotate(**{f"s_{k}": v for k, v in sums.items()}).order_by():
        i = index[r["month"]]
        cases.setdefault(r["channel"], [0] * len(q.months))[i] += r["s_cases"] or 0
        requests[i] += r["s_requests"] or 0
        for o in OUTCOMES:
            decided[o][i] += r[f"s_{o}"] or 0
    labels = dict(Channel.choices)
    channels = [(c, str(labels.get(c, c))) for c in cases]

    month_rows = [
        (label, *(cases[c][i] for c, _n in channels), sum(cases[c][i] for c, _n in channels), requests[i])
        for i, label in enumerate(q.month_labels)
    ]
    width = len(channels) + 2
    received = Table(
        key="timeliness_received",
        title=_("逐月受理申请（按受理渠道）"),
        columns=(
            Column("month", _("月份"), Kind.TEXT),
            *(Column(c, name) for c, name in channels),
            Column("cases", _("申请件合计")),
            Column("requests", _("申请事项")),
        ),
        rows=tuple(month_rows),
        total=(_("合计"), *(sum(r[1 + j] for r in month_rows) for j in range(width))),
        note=_("按提交受理的时间计；一件申请可同时申请多个救助事项。"),
    )
    received_chart = Chart(
        key="timeliness_received",
        title=_("逐月受理申请件（按渠道）"),
        kind="bar",
        x=q.month_labels,
        series=tuple(Series(name, tuple(cases[c]), stack="cases") for c, name in channels),
        table_key="timeliness_received",
    )

    all_cases = sum(sum(v) for v in cases.values())
    mix_rows = [(name, sum(cases[c]), ratio(sum(cases[c]), all_cases)) for c, name in channels]
    mix = Table(
        key="timeliness_channel_mix",
        title=_("受理渠道构成（所选月份合计）"),
        columns=(
            Column("channel", _("受理渠道"), Kind.TEXT),
            Column("cases", _("申请件")),
            Column("share", _("占比（%）"), Kind.PERCENT),
        ),
        rows=tuple(mix_rows),
        total=(_("合计"), all_cases, 100.0 if all_cases else None),
    )
    mix_chart = Chart(
        key="timeliness_channel_mix",
        title=_("受理渠道占比（%）"),
        kind="bar",
        x=tuple(r[0] for r in mix_rows),
        series=(Series(_("占比"), tuple(r[2] for r in mix_rows)),),
        value_kind=Kind.PERCENT,
        table_key="timeliness_channel_mix",
    )

    outcome_labels = {
        "approved": pgettext("outcome", "批准"),
        "refused": pgettext("outcome", "不予批准"),
        "withdrawn": _("申请人撤回"),
    }
    decided_rows = [
        (label, *(decided[o][i] for o in OUTCOMES), sum(decided[o][i] for o in OUTCOMES))
        for i, label in enumerate(q.month_labels)
    ]
    decided_table = Table(
        key="timeliness_decided",
        title=_("逐月办结事项"),
        columns=(
            Column("month", _("月份"), Kind.TEXT),
            *(Column(o, outcome_labels[o]) for o in OUTCOMES),
            Column("total", _("合计")),
        ),
        rows=tuple(decided_rows),
        total=(_("合计"), *(sum(r[1 + j] for r in decided_rows) for j in range(len(OUTCOMES) + 1))),
        note=_("按作出批准、不予批准决定或申请人撤回的时间计。"),
    )
    decided_chart = Chart(
        key="timeliness_decided",
        title=_("逐月办结事项"),
        kind="bar",
        x=q.month_labels,
        series=tuple(Series(outcome_labels[o], tuple(decided[o]), stack="decided") for o in OUTCOMES),
        table_key="timeliness_decided",
    )
    return [received, mix, decided_table], [received_chart, mix_chart, decided_chart]


def _step_tables(q, steps, snapshot) -> tuple[list[Table], list[Chart]]:
    order = _step_order()
    finished: dict[str, dict] = defaultdict(lambda: {"finished": 0, "late": 0, "days": []})
    for name, done, late, days in steps.filter(area_code=q.area.code).values_list(
        "step_name", "finished", "late", "days"
    ):
        acc = finished[name]
        acc["finished"] += done
        acc["late"] += late
        acc["days"].append(days)
    step_rows = []
    per_step = []
    for name in sorted(finished, key=lambda n: order.get(n, (999, n))):
        acc = finished[name]
        days = add_histograms(acc["days"])
        per_step.append(days)
        step_rows.append(
            (
                name,
                acc["finished"],
                percentile(days, 50),
                percentile(days, 90),
                acc["late"],
                ratio(acc["late"], acc["finished"]),
            )
        )
    all_days = add_histograms(per_step)
    done_total = sum(r[1] for r in step_rows)
    late_total = sum(r[4] for r in step_rows)
    step_table = Table(
        key="timeliness_steps",
        title=_("各环节办理用时（所选月份办结的环节）"),
        columns=(
            Column("step", _("环节"), Kind.TEXT),
            Column("finished", _("办结环节数")),
            Column("median", _("用时中位数（工作日）"), Kind.DAYS),
            Column("p90", _("用时90%分位（工作日）"), Kind.DAYS),
            Column("late", _("超时办结")),
            Column("late_share", _("超时占比（%）"), Kind.PERCENT),
        ),
        rows=tuple(step_rows),
        total=(
            _("全部环节"),
            done_total,
            percentile(all_days, 50),
            percentile(all_days, 90),
            late_total,
            ratio(late_total, done_total),
        ),
        note=_("用时按工作日计（扣除法定节假日，计入调休上班日），从进入环节的次日起算；60 个工作日及以上计为 60。"),
    )
    step_chart = Chart(
        key="timeliness_steps",
        title=_("各环节用时（工作日）"),
        kind="bar",
        x=tuple(r[0] for r in step_rows),
        series=(
            Series(_("中位数"), tuple(r[2] for r in step_rows)),
            Series(_("90%分位"), tuple(r[3] for r in step_rows)),
        ),
        value_kind=Kind.DAYS,
        table_key="timeliness_steps",
    )

    here = snapshot.filter(area_code=q.area.code)
    by_step = by_key(here, "step_name", ["open", "overdue"])
    backlog_rows = [
        (name, v["open"], v["overdue"], ratio(v["overdue"], v["open"]))
        for name, v in sorted(by_step.items(), key=lambda i: order.get(i[0], (999, i[0])))
    ]
    open_total = sum(r[1] for r in backlog_rows)
    overdue_total = sum(r[2] for r in backlog_rows)
    backlog = Table(
        key="timeliness_backlog",
        title=_("在办事项（按所在环节）"),
        columns=(
            Column("step", _("环节"), Kind.TEXT),
            Column("open", _("在办")),
            Column("overdue", _("已超期")),
            Column("overdue_share", _("超期占比（%）"), Kind.PERCENT),
        ),
        rows=tuple(backlog_rows),
        total=(_("合计"), open_total, overdue_total, ratio(overdue_total, open_total)),
        note=_("截至结束月份最后一次统计时的在办事项；超过办理时限仍未办结的计为已超期。"),
    )
    backlog_chart = Chart(
        key="timeliness_backlog",
        title=_("在办事项（按环节）"),
        kind="bar",
        x=tuple(r[0] for r in backlog_rows),
        series=(
            Series(_("未超期"), tuple(r[1] - r[2] for r in backlog_rows), stack="open"),
            Series(_("已超期"), tuple(r[2] for r in backlog_rows), stack="open"),
        ),
        table_key="timeliness_backlog",
    )
    by_unit = by_key(here, "unit_name", ["open", "overdue"])
    unit_rows = sorted(
        ((name, v["open"], v["overdue"]) for name, v in by_unit.items()),
        key=lambda r: (-r[2], -r[1], r[0]),
    )
    units = Table(
        key="timeliness_overdue_units",
        title=_("各办理单位在办与超期事项"),
        columns=(
            Column("unit", _("办理单位"), Kind.TEXT),
            Column("open", _("在办")),
            Column("overdue", _("已超期")),
        ),
        rows=tuple(unit_rows),
        total=(_("合计"), open_total, overdue_total),
    )
    return [step_table, backlog, units], [step_chart, backlog_chart]


def _children_table(q, steps, snapshot) -> tuple[Table, Chart]:
    histograms: dict[str, list] = defaultdict(list)
    done: dict[str, int] = defaultdict(int)
    for code, finished, days in steps.filter(parent_code=q.area.code).values_list("area_code", "finished", "days"):
        histograms[code].append(days)
        done[code] += finished
    medians = {code: percentile(add_histograms(h), 50) for code, h in histograms.items()}
    backlog = per_child(q, snapshot, ["open", "overdue"])
    if q.department_code:
        rows = [
            (child.name, done.get(child.code, 0), medians.get(child.code), b["open"], b["overdue"])
            for child, b in zip(q.children, backlog, strict=True)
        ]
        columns = (
            Column("area", _("地区"), Kind.TEXT),
            Column("finished", _("办结环节数")),
            Column("median", _("环节用时中位数（工作日）"), Kind.DAYS),
            Column("open", _("在办")),
            Column("overdue", _("已超期")),
        )
    else:
        cases = per_child(q, CaseMonthly.objects.filter(month__in=q.months), ["cases", *OUTCOMES])
        rows = [
            (
                child.name,
                c["cases"],
                sum(c[o] for o in OUTCOMES),
                b["open"],
                b["overdue"],
                medians.get(child.code),
            )
            for child, c, b in zip(q.children, cases, backlog, strict=True)
        ]
        columns = (
            Column("area", _("地区"), Kind.TEXT),
            Column("received", _("受理申请件")),
            Column("decided", _("办结事项")),
            Column("open", _("在办")),
            Column("overdue", _("已超期")),
            Column("median", _("环节用时中位数（工作日）"), Kind.DAYS),
        )
    open_at = [c.key for c in columns].index("open")
    return children_comparison(
        q,
        key="timeliness_areas",
        title=_("各地办理情况比较"),
        columns=columns,
        rows=rows,
        note=_("受理、办结和用时为所选月份合计；在办、超期为结束月份最后一次统计时的数。"),
        chart_title=_("各地在办与超期事项"),
        bars=((_("未超期"), lambda r: r[open_at] - r[open_at + 1]), (_("已超期"), "overdue")),
        stack="open",
    )


def build(q) -> Section:
    steps = StepMonthly.objects.filter(month__in=q.months)
    # The backlog is a picture: the one taken at the last refresh within the range's last month.
    snapshot = StageSnapshot.objects.filter(month=q.last_month)
    if q.department_code:
        steps = steps.filter(department_code=q.department_code)
        snapshot = snapshot.filter(department_code=q.department_code)
        tables, charts = [], []
    else:
        tables, charts = _channel_rows(q)
    step_tables, step_charts = _step_tables(q, steps, snapshot)
    tables += step_tables
    charts += step_charts
    if q.children:
        table, chart = _children_table(q, steps, snapshot)
        tables.append(table)
        charts.append(chart)
    return Section(
        key="timeliness",
        title=_("办理时效"),
        charts=tuple(charts),
        tables=tuple(tables),
        note=_("本部门的申请事项：各环节用时与在办、超期情况。") if q.department_code else "",
    )
