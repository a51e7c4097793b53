"""Deadline flags in working days (WorkCalendar with the holiday table)."""

from __future__ import annotations

import datetime as dt

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ejia.core.workdays import WorkCalendar

DUE_SOON_DAYS = 2

FLAG_LABELS = {"overdue": _("已超期"), "due_soon": _("即将到期"), "ok": pgettext_lazy("deadline", "正常")}


def due_flag(due: dt.date, *, today: dt.date, calendar: WorkCalendar) -> str:
    """overdue after the due day; due soon when at most two working days remain."""
    if today > due:
        return "overdue"
    if calendar.working_days_between(today, due) <= DUE_SOON_DAYS:
        return "due_soon"
    return "ok"


def due_soon_limit(*, today: dt.date, calendar: WorkCalendar) -> dt.date:
    """The last due date still counted as due soon: today + two working days."""
    return calendar.add_working_days(today, DUE_SOON_DAYS)
