import datetime as dt

import pytest

from ejia.core.workdays import WorkCalendar, calendar_seed

D = dt.date


def test_plain_weeks_skip_weekends():
    cal = WorkCalendar.from_rows([])
    # Friday + 1 working day = Monday
    assert cal.add_working_days(D(2026, 11, 27), 1) == D(2026, 11, 30)
    assert cal.add_working_days(D(2026, 11, 27), 0) == D(2026, 11, 27)
    assert cal.working_days_between(D(2026, 11, 27), D(2026, 12, 4)) == 5


@pytest.mark.django_db
def test_national_day_holidays_and_makeup_days_count_correctly():
    calendar_seed()
    cal = WorkCalendar.load()
    # 2026-09-30 (Wed) + 3 working days: Oct 1–7 are holidays, Oct 8 (Thu), 9 (Fri), 10 (Sat, 调休)
    assert cal.add_working_days(D(2026, 9, 30), 3) == D(2026, 10, 10)
    assert cal.is_working_day(D(2026, 9, 20))  # Sunday made a working day
    assert not cal.is_working_day(D(2026, 10, 5))


@pytest.mark.django_db
def test_seeding_twice_adds_nothing():
    first = calendar_seed()
    assert first > 40
    assert calendar_seed() == 0


def test_seven_day_public_notice_over_spring_festival():
    cal = WorkCalendar.from_rows([(D(2026, 2, d), "holiday") for d in range(15, 24)] + [(D(2026, 2, 14), "workday")])
    # 30 working days from 2026-02-10 (Tue)
    end = cal.add_working_days(D(2026, 2, 10), 30)
    assert cal.working_days_between(D(2026, 2, 10), end) == 30
    # 11,12,13, 14(调休), 24–27, then 22 weekdays of March: the 30th falls on 31 March
    assert end == D(2026, 3, 31)
