"""One module per dashboard topic; each exposes `build(q: Query) -> Section | None` reading the
summary tables only (None: the topic has nothing for this viewer, e.g. a department's staff on a
topic that is not split by department). The page shows them in this order."""

from __future__ import annotations

from importlib import import_module

from ejia.dashboards.types import Section

# Module names under ejia.dashboards.sections, in page order.
ORDER: list[str] = ["coverage", "money", "timeliness", "data", "discovery"]


def build_sections(q) -> tuple[Section, ...]:
    out = []
    for name in ORDER:
        section = import_module(f"ejia.dashboards.sections.{name}").build(q)
        if section is not None:
            out.append(section)
    return tuple(out)
