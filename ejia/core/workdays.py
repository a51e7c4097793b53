"""Working-day arithmetic for deadlines (工作日), with the holiday calendar table.

A day is a working day when it is Monday–Friday and not a listed holiday, or when it is a
listed make-up working day (调休). Deadlines: "within N working days of day D" ends on the
N-th working day after D (D itself does not count, as administrative time limits run from
the next day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from ejia.core.models import CalendarDay


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[dt.date, str]]) -> WorkCalendar:
        rows = list(rows)
        return cls(
            holidays=frozenset(d for d, k in rows if k == CalendarDay.Kind.HOLIDAY),
            workdays=frozenset(d for d, k in rows if k == CalendarDay.Kind.WORKDAY),
        )

    @classmethod
    def load(cls) -> WorkCalendar:
        return cls.from_rows(CalendarDay.objects.values_list("date", "kind"))

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        if days < 0:
            raise ValueError("days must be >= 0")
        day = start
        remaining = days
        while remaining:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count = 0
        day = start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count


# The State Council's published holiday arrangements (国务院办公厅 节假日安排) for 2025 and
# 2026 as seeded defaults; administrators maintain the table when each year's notice appears.
CHINA_2025_2026: list[tuple[str, str, str]] = [
    ("2025-01-01", "holiday", "元旦"),
    ("2025-01-26", "workday", "春节调休"),
    *[(f"2025-01-{d}", "holiday", "春节") for d in (28, 29, 30, 31)],
    *[(f"2025-02-0{d}", "holiday", "春节") for d in (1, 2, 3, 4)],
    ("2025-02-08", "workday", "春节调休"),
    *[(f"2025-04-0{d}", "holiday", "清明节") for d in (4, 5, 6)],
    ("2025-04-27", "workday", "劳动节调休"),
    *[(f"2025-05-0{d}", "holiday", "劳动节") for d in (1, 2, 3, 4, 5)],
    ("2025-05-31", "holiday", "端午节"),
    ("2025-06-01", "holiday", "端午节"),
    ("2025-06-02", "holiday", "端午节"),
    ("2025-09-28", "workday", "国庆节调休"),
    *[(f"2025-10-0{d}", "holiday", "国庆节、中秋节") for d in range(1, 9)],
    ("2025-10-11", "workday", "国庆节调休"),
    *[(f"2026-01-0{d}", "holiday", "元旦") for d in (1, 2, 3)],
    ("2026-01-04", "workday", "元旦调休"),
    ("2026-02-14", "workday", "春节调休"),
    *[(f"2026-02-{d}", "holiday", "春节") for d in range(15, 24)],
    ("2026-02-28", "workday", "春节调休"),
    *[(f"2026-04-0{d}", "holiday", "清明节") for d in (4, 5, 6)],
    *[(f"2026-05-0{d}", "holiday", "劳动节") for d in (1, 2, 3, 4, 5)],
    ("2026-05-09", "workday", "劳动节调休"),
    *[(f"2026-06-{d}", "holiday", "端午节") for d in (19, 20, 21)],
    *[(f"2026-09-{d}", "holiday", "中秋节") for d in (25, 26, 27)],
    ("2026-09-20", "workday", "国庆节调休"),
    *[(f"2026-10-0{d}", "holiday", "国庆节") for d in range(1, 8)],
    ("2026-10-10", "workday", "国庆节调休"),
]


def calendar_seed() -> int:
    """Insert the default arrangements that are not in the table yet; returns rows added."""
    have = set(CalendarDay.objects.values_list("date", flat=True))
    new = [
        CalendarDay(date=dt.date.fromisoformat(d), kind=k, name=n)
        for d, k, n in CHINA_2025_2026
        if dt.date.fromisoformat(d) not in have
    ]
    CalendarDay.objects.bulk_create(new)
    return len(new)
