"""The public catalogue (查政策) as the portal shows it, read through the catalogue's
selectors: filters, keyword search and the plain-language programme page.

The keyword search matches the catalogue's `search_text`, which holds the programme's
words plus their pinyin and pinyin initials ("db" finds 低保).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from ejia.accounts.models import Division
from ejia.catalogue.models import Programme
from ejia.core.money import format_fen
from ejia.portal import selectors
from ejia.rules.facts import STANDARD_KINDS

STANDARD_CALL = re.compile(r"""standard\(\s*["'](\w+)["']\s*\)""")
FEATURED = ("dibao", "tekun", "linshi")


def _catalogue():
    # Imported on use: the catalogue's selectors import the rule engine.
    from ejia.catalogue import selectors

    return selectors


def _programmes() -> list[Programme]:
    catalogue = _catalogue()
    return catalogue.programme_list()


def count() -> int:
    return len(_programmes())


def featured() -> list[Programme]:
    by_code = {p.code: p for p in _programmes()}
    return [by_code[c] for c in FEATURED if c in by_code]


def programmes() -> list[Programme]:
    """The whole public catalogue in catalogue order (one query; the page reads it once)."""
    return _programmes()


def filter_options(programmes: list[Programme] | None = None) -> dict[str, list]:
    """The filter choices of the catalogue page, from `programmes` (the whole catalogue,
    read once by the caller) or read here."""
    programmes = _programmes() if programmes is None else programmes
    departments: dict[str, str] = {}
    groups: list[str] = []
    for p in programmes:
        departments.setdefault(p.department.code, p.department.name)
        groups.extend(label for label in p.target_groups or [] if label not in groups)
    categories = {p.category for p in programmes}
    return {
        "departments": list(departments.items()),
        "categories": [(value, label) for value, label in Programme.Category.choices if value in categories],
        "groups": groups,
    }


def search(*, q: str = "", department: str = "", category: str = "", group: str = "") -> list[Programme]:
    found = _catalogue().programme_list(q=q, department=department, category=category, group=group)
    terms = [t for t in re.split(r"[\s,，、;；]+", (q or "").strip().lower()) if t]
    if terms:
        # Programmes whose name holds the words come first.
        found.sort(key=lambda p: 0 if all(t in p.name.lower() for t in terms) else 1)
    return found


@dataclass
class StandardLine:
    label: str
    urban: str
    rural: str


@dataclass
class ProgrammePage:
    programme: Programme
    version: Any
    county: Division | None
    criteria: list[str] = field(default_factory=list)
    standards: list[StandardLine] = field(default_factory=list)

    @property
    def effective_from(self) -> dt.date | None:
        return getattr(self.version, "effective_from", None)


def _yuan(fen: int | None) -> str:
    if fen is None:
        return "—"
    return format_fen(fen, symbol=False).removesuffix(".00") + " 元"


def _standard_lines(kinds: list[str], county: Division | None, on: dt.date) -> list[StandardLine]:
    if county is None or not kinds:
        return []
    catalogue = _catalogue()
    urban = catalogue.standards_for(county, True, on)
    rural = catalogue.standards_for(county, False, on)
    lines = []
    for kind in kinds:
        u, r = urban.get(kind), rural.get(kind)
        if u is None and r is None:
            continue
        lines.append(
            StandardLine(
                label=STANDARD_KINDS.get(kind, kind),
                urban=_yuan(u),
                rural=_yuan(r),
            )
        )
    return lines


def programme_page(code: str, *, on: dt.date, county_code: str) -> ProgrammePage | None:
    catalogue = _catalogue()
    programme = catalogue.programme_get(code)
    if programme is None or not getattr(programme, "is_active", True):
        return None
    version = catalogue.programme_current_version(programme, on=on)
    county = selectors.county_get(county_code)
    criteria: list[str] = []
    kinds: list[str] = []
    if version is not None:
        criteria = [c.get("label", "") for c in version.criteria or [] if c.get("label")]
        texts = [c.get("expr", "") for c in version.criteria or []] + [version.amount_expr or ""]
        for text in texts:
            for kind in STANDARD_CALL.findall(text):
                if kind not in kinds:
                    kinds.append(kind)
    return ProgrammePage(
        programme=programme,
        version=version,
        county=county,
        criteria=criteria,
        standards=_standard_lines(kinds, county, on),
    )
