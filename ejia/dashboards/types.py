"""What a dashboard page shows, as types: the selectors build them from the summary tables, the
page renders them (chart + table), the exports (CSV, XLSX) and the monthly report (PDF) read the
same objects. Nothing here touches the database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

# Series colours of every chart, on the page and in the printed report: the Okabe–Ito palette,
# which stays distinguishable for the common colour-vision deficiencies (red–green included)
# and in greyscale print, in an order that puts the hardest colour on white (yellow) last.
PALETTE: tuple[str, ...] = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermilion
    "#000000",  # black
    "#F0E442",  # yellow
)


class Kind(StrEnum):
    """How a column's values are written: the page, the exports and the PDF agree on it."""

    TEXT = "text"
    COUNT = "count"  # an integer count (households, cases, rows)
    FEN = "fen"  # money in integer fen, shown in 元 (万元 on charts)
    PERMILLE = "permille"  # per 1,000 residents, one decimal
    PERCENT = "percent"  # a share 0..100, one decimal
    DAYS = "days"  # working days, one decimal


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    kind: Kind = Kind.COUNT


@dataclass(frozen=True)
class Table:
    """One table of a section. `rows` hold raw values (ints in fen for money, floats for
    ratios, None for "no data"); `link` optionally names, per row, the area code to drill into."""

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: tuple[tuple, ...]
    total: tuple | None = None
    links: tuple[str | None, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float | int | None, ...]
    stack: str = ""


@dataclass(frozen=True)
class Chart:
    """One chart: `kind` is "line" or "bar"; x is the category axis (months or areas); values
    are in the unit of `value_kind` (fen for money: the page converts to 万元)."""

    key: str
    title: str
    kind: str
    x: tuple[str, ...]
    series: tuple[Series, ...]
    value_kind: Kind = Kind.COUNT
    table_key: str = ""  # the table that reads the same numbers


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    charts: tuple[Chart, ...] = ()
    tables: tuple[Table, ...] = ()
    note: str = ""

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)


@dataclass(frozen=True)
class Crumb:
    code: str
    name: str


@dataclass(frozen=True)
class Dashboard:
    """One area's dashboard for a range of months, as the viewer may see it."""

    area_code: str
    area_name: str
    level: str  # city / county / township / village
    child_level: str  # "" for a village
    start_month: dt.date
    end_month: dt.date
    months: tuple[dt.date, ...]
    department: str = ""  # the department's name when the viewer sees only its programmes
    breadcrumbs: tuple[Crumb, ...] = ()
    sections: tuple[Section, ...] = ()
    refreshed_at: dt.datetime | None = None
    failed_refreshes: int = 0
    notes: tuple[str, ...] = field(default=())

    def section(self, key: str) -> Section:
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)

    def find_table(self, key: str) -> Table:
        for section in self.sections:
            for table in section.tables:
                if table.key == key:
                    return table
        raise KeyError(key)
