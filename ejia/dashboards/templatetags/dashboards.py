"""Chinese number formats for the dashboards: money in 元 with ¥ and thousands separators,
counts with separators, ratios with one decimal; "—" for no data."""

from __future__ import annotations

from django import template
from django.utils.html import json_script

from ejia.dashboards.types import Kind

register = template.Library()


def format_value(value, kind: str) -> str:
    if value is None or value == "":
        return "—"
    if kind == Kind.TEXT:
        return str(value)
    if kind == Kind.FEN:
        sign = "-" if value < 0 else ""
        yuan, fen = divmod(abs(int(value)), 100)
        return f"{sign}¥{yuan:,}.{fen:02d}"
    if kind in (Kind.PERMILLE, Kind.DAYS):
        return f"{value:,.1f}"
    if kind == Kind.PERCENT:
        return f"{value:.1f}%"
    return f"{int(value):,}"


@register.filter
def cell(value, kind):
    return format_value(value, kind)


@register.simple_tag
def cells(row, columns):
    """[(formatted, column)] for one table row."""
    return [(format_value(v, c.kind), c) for v, c in zip(row, columns, strict=False)]


@register.filter
def chart_data(chart) -> dict:
    """The chart as the data the page's script draws (values in the chart's unit); the template
    writes it with json_script, which escapes it for HTML."""
    return {
        "title": str(chart.title),
        "kind": chart.kind,
        "x": [str(x) for x in chart.x],
        "unit": str(chart.value_kind),
        "series": [{"name": str(s.name), "values": list(s.values), "stack": s.stack} for s in chart.series],
    }


@register.filter
def zip_links(rows, links):
    links = list(links) or [None] * len(rows)
    return list(zip(rows, links, strict=False))


@register.simple_tag
def chart_script(chart, section_key: str):
    """<script type="application/json" id="chart-<section>-<chart>"> with the chart's data
    (not executed: the Content-Security-Policy allows no inline script)."""
    return json_script(chart_data(chart), f"chart-{section_key}-{chart.key}")
