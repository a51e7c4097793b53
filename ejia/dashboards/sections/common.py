"""Small helpers the section builders share: month series and per-child sums read from a
summary queryset, the children's comparison (table and bar chart), and the programme and
department names."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

from django.db.models import QuerySet, Sum

from ejia.accounts.models import Department
from ejia.catalogue.models import Programme
from ejia.dashboards.types import Chart, Column, Kind, Series, Table


def by_month(qs: QuerySet, fields: Iterable[str], months: tuple[dt.date, ...]) -> dict[str, list[int]]:
    """{field: [value per month]} for the rows of `qs` (summed per month; 0 where none)."""
    fields = list(fields)
    index = {m: i for i, m in enumerate(months)}
    out = {f: [0] * len(months) for f in fields}
    for row in qs.filter(month__in=months).values("month").annotate(**{f"s_{f}": Sum(f) for f in fields}).order_by():
        i = index[row["month"]]
        for f in fields:
            out[f][i] = row[f"s_{f}"] or 0
    return out


def by_key(qs: QuerySet, key: str, fields: Iterable[str]) -> dict[object, dict[str, int]]:
    """{key value: {field: sum}} over the rows of `qs`."""
    fields = list(fields)
    out: dict[object, dict[str, int]] = defaultdict(lambda: dict.fromkeys(fields, 0))
    for row in qs.values(key).annotate(**{f"s_{f}": Sum(f) for f in fields}).order_by():
        out[row[key]] = {f: row[f"s_{f}"] or 0 for f in fields}
    return out


def per_child(q, qs: QuerySet, fields: Iterable[str]) -> list[dict[str, int]]:
    """The sums of `fields` over the rows of `qs` under the area, one dict per child of the area
    in `q.children` order (zeros for a child without rows)."""
    fields = list(fields)
    sums = by_key(qs.filter(parent_code=q.area.code), "area_code", fields)
    return [sums[child.code] if child.code in sums else dict.fromkeys(fields, 0) for child in q.children]


# A bar of the children's chart: its label, and the table column it shows (by key) or a function
# of the row giving its value.
Bar = tuple[str, str | Callable[[tuple], float | int | None]]


def children_comparison(
    q,
    *,
    key: str,
    title: str,
    columns: Sequence[Column],
    rows: Sequence[tuple],
    bars: Sequence[Bar],
    chart_title: str,
    chart_key: str = "",
    total: tuple | None = None,
    note: str = "",
    stack: str = "",
    value_kind: Kind = Kind.COUNT,
) -> tuple[Table, Chart]:
    """The area's children side by side: a table with one row per child (`rows`, in
    `q.children` order, the child's name first), each row a link to drill into that child, and a
    bar chart over the children of the `bars`."""
    at = {column.key: i for i, column in enumerate(columns)}

    def values(value) -> tuple:
        return tuple(row[at[value]] for row in rows) if isinstance(value, str) else tuple(value(row) for row in rows)

    table = Table(
        key=key,
        title=title,
        columns=tuple(columns),
        rows=tuple(rows),
        total=total,
        links=tuple(child.code for child in q.children),
        note=note,
    )
    chart = Chart(
        key=chart_key or key,
        title=chart_title,
        kind="bar",
        x=tuple(row[0] for row in rows),
        series=tuple(Series(label, values(value), stack=stack) for label, value in bars),
        value_kind=value_kind,
        table_key=key,
    )
    return table, chart


def programme_names() -> dict[int, tuple[str, str, str]]:
    """{programme id: (code, name, department code)}."""
    return {
        pk: (code, name, dept)
        for pk, code, name, dept in Programme.objects.values_list("pk", "code", "name", "department__code")
    }


def department_names() -> dict[str, str]:
    return dict(Department.objects.values_list("code", "short_name"))


def ratio(part: int | None, whole: int | None, scale: int = 100) -> float | None:
    """part / whole × scale, one decimal; None when there is nothing to divide by."""
    if not whole:
        return None
    return round((part or 0) * scale / whole, 1)
