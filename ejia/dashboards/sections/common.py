"""Small helpers the section builders share: month series and per-child sums read from a
summary queryset, and the programme and department names."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet, Sum

from ejia.accounts.models import Department
from ejia.catalogue.models import Programme


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
