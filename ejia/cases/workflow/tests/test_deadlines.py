import datetime as dt

import pytest

from ejia.cases.workflow.deadlines import due_flag
from ejia.core.workdays import WorkCalendar, calendar_seed

pytestmark = pytest.mark.django_db


def test_a_step_started_before_the_spring_festival_runs_past_it():
    calendar_seed()
    calendar = WorkCalendar.load()
    # Friday 13 Feb 2026: the 14th is a make-up working day, 15–23 Feb are holidays.
    assert calendar.add_working_days(dt.date(2026, 2, 13), 1) == dt.date(2026, 2, 14)
    assert calendar.add_working_days(dt.date(2026, 2, 13), 2) == dt.date(2026, 2, 24)
    # 低保's five working days for verification over National Day 2026.
    assert calendar.add_working_days(dt.date(2026, 9, 30), 5) == dt.date(2026, 10, 13)


def test_due_soon_and_overdue_flags_count_working_days():
    calendar_seed()
    calendar = WorkCalendar.load()
    due = dt.date(2026, 2, 24)  # Tuesday after the festival
    assert due_flag(due, today=dt.date(2026, 2, 14), calendar=calendar) == "due_soon"  # 2 working days left
    assert due_flag(due, today=dt.date(2026, 2, 12), calendar=calendar) == "ok"
    assert due_flag(due, today=dt.date(2026, 2, 25), calendar=calendar) == "overdue"
