"""办理时效: applications, decisions, step times and the backlog, walked through the real intake
and workflow services on a clock the test moves, then summarised and compared with what the
raw records say at every level; the section shows the same numbers; the percentile of a
histogram and the working-day index agree with their plain definitions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db.models import Sum
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from ejia.cases.models import Case, Channel, ProgrammeRequest
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure, StepRecord
from ejia.cases.workflow.tests.conftest import procedures  # noqa: F401
from ejia.core.workdays import WorkCalendar, calendar_seed
from ejia.dashboards.models import CaseMonthly, RefreshRun, StageSnapshot, StepMonthly
from ejia.dashboards.parts.cases import FINISHING, STEP_CHANGING, WorkdayIndex
from ejia.dashboards.refresh import refresh
from ejia.dashboards.sections import timeliness
from ejia.dashboards.sections.timeliness import add_histograms, percentile
from ejia.dashboards.selectors import Query, query_for

pytestmark = pytest.mark.django_db

MARCH, APRIL = dt.date(2026, 3, 1), dt.date(2026, 4, 1)
LEVELS = ("city", "county", "township", "village")


class Clock:
    """Django's "now" (what the services stamp on cases and step records), moved by the test."""

    def __init__(self):
        self.now = timezone.make_aware(dt.datetime(2026, 3, 2, 9, 0))

    def set(self, day: dt.date, hour: int = 10) -> None:
        self.now = timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 0)))


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(timezone, "now", lambda: clock.now)
    return clock


def _submit(actor, channel, key, clock, *, township="371602001", programmes=("dibao",)) -> Case:
    data = application(township=township, programmes=programmes)
    # The members sign the authorisation the day they apply.
    for auth in data["auth"].values():
        auth["signed_at"] = clock.now.isoformat()
    return case_submit(actor=actor, channel=channel, idempotency_key=key, data=data)


def _proc(case: Case, code: str) -> RequestProcedure:
    return RequestProcedure.objects.get(case=case, request__programme__code=code)


def _complete(actor, procedure: RequestProcedure) -> RequestProcedure:
    return wf.procedure_complete(actor=actor, procedure_id=procedure.pk, expected_version=procedure.version)


@pytest.fixture
def walked(clock, procedures, alice, bob, carol, erin):  # noqa: F811
    """Four applications over March and April 2026 (the holiday table seeded: 清明 4–6 April).

    A (window, 市中街道, 低保 + 医疗救助), 2 March: 低保 accepted 5 March (3 working days, in
    time), then waits at 核对 (due 12 March); 医疗救助 reviewed by 医保 9 March (5 days, in time),
    refused 1 April (17 days against 5: late).
    B (station, 市中街道, 低保), 2 March: accepted 9 March (5 days against 3: late), withdrawn
    2 April.
    C (window, 杜店街道's village, 低保), 3 April: accepted 8 April (2 working days: the 6th is
    a holiday), waits at 核对 (due 15 April).
    Today is 14 April: A's 低保 is overdue, C's is not."""
    calendar_seed()
    clock.set(dt.date(2026, 3, 2), 9)
    a = _submit(bob, Channel.WINDOW, "t-a", clock, programmes=("dibao", "medical_aid"))
    b = _submit(alice, Channel.STATION, "t-b", clock)
    clock.set(dt.date(2026, 3, 5))
    _complete(bob, _proc(a, "dibao"))
    clock.set(dt.date(2026, 3, 9))
    _complete(bob, _proc(b, "dibao"))
    _complete(erin, _proc(a, "medical_aid"))
    clock.set(dt.date(2026, 4, 1))
    refused = _proc(a, "medical_aid")
    wf.procedure_refuse(actor=erin, procedure_id=refused.pk, expected_version=refused.version, reasons="不符合条件")
    clock.set(dt.date(2026, 4, 2))
    wf.case_withdraw(actor=bob, case_id=b.pk, reason="申请人家庭收入已增加")
    clock.set(dt.date(2026, 4, 3))
    c = _submit(carol, Channel.WINDOW, "t-c", clock, township="371602105")
    clock.set(dt.date(2026, 4, 8))
    _complete(carol, _proc(c, "dibao"))
    clock.set(dt.date(2026, 4, 14))
    runs = refresh(months=[MARCH, APRIL], trigger="test")
    assert [r.status for r in runs] == [RefreshRun.Status.DONE] * 2, [r.error for r in runs]
    return {"a": a, "b": b, "c": c}


def _department(code: str) -> str:
    return RequestProcedure.objects.filter(request__programme__code=code).values_list("department__code", flat=True)[0]


def test_case_counts_match_the_hand_count_and_the_raw_rows_at_every_level(walked):
    a, c = walked["a"], walked["c"]
    village_ab, village_c = a.division.code, c.division.code

    def row(month, area, channel):
        return CaseMonthly.objects.filter(month=month, area_code=area, channel=channel).values(
            "cases", "requests", "approved", "refused", "withdrawn"
        )[0]

    assert row(MARCH, village_ab, Channel.WINDOW) == dict(cases=1, requests=2, approved=0, refused=0, withdrawn=0)
    assert row(MARCH, village_ab, Channel.STATION) == dict(cases=1, requests=1, approved=0, refused=0, withdrawn=0)
    assert row(APRIL, village_ab, Channel.WINDOW)["refused"] == 1
    assert row(APRIL, village_ab, Channel.STATION)["withdrawn"] == 1
    assert row(APRIL, village_c, Channel.WINDOW)["cases"] == 1
    city = row(APRIL, "371600", Channel.WINDOW)
    assert (city["cases"], city["requests"], city["refused"]) == (1, 1, 1)

    # Every level adds up to the raw tables, month by month.
    for month in (MARCH, APRIL):
        nxt = dt.date(month.year, month.month + 1, 1)
        begin, end = (timezone.make_aware(dt.datetime.combine(d, dt.time.min)) for d in (month, nxt))
        raw = {
            "cases": Case.objects.filter(submitted_at__gte=begin, submitted_at__lt=end).count(),
            "requests": ProgrammeRequest.objects.filter(
                case__submitted_at__gte=begin, case__submitted_at__lt=end
            ).count(),
        }
        for outcome, action in (("approved", "approve"), ("refused", "refuse"), ("withdrawn", "withdraw")):
            raw[outcome] = StepRecord.objects.filter(at__gte=begin, at__lt=end, action=action).count()
        for level in LEVELS:
            sums = CaseMonthly.objects.filter(month=month, level=level).aggregate(**{k: Sum(k) for k in raw})
            assert sums == raw, (month, level)
    assert CaseMonthly.objects.get(month=APRIL, area_code=village_c, channel=Channel.WINDOW).parent_code == (
        "371602105"
    )


def test_step_times_are_working_days_with_holidays_and_late_against_the_deadline(walked):
    dibao, medical = _department("dibao"), _department("medical_aid")
    village_ab, village_c = walked["a"].division.code, walked["c"].division.code

    def step(month, area, department, name):
        r = StepMonthly.objects.get(month=month, area_code=area, department_code=department, step_name=name)
        return r.finished, r.late, {i: n for i, n in enumerate(r.days) if n}

    assert step(MARCH, village_ab, dibao, "乡镇受理") == (2, 1, {3: 1, 5: 1})
    assert step(MARCH, village_ab, medical, "部门审核") == (1, 0, {5: 1})
    assert step(APRIL, village_ab, medical, "部门审批") == (1, 1, {17: 1})
    # 清明: 3 April (Fri) to 8 April (Wed) is two working days, not three.
    assert step(APRIL, village_c, dibao, "乡镇受理") == (1, 0, {2: 1})
    assert step(APRIL, "371600", dibao, "乡镇受理") == (1, 0, {2: 1})
    assert len(StepMonthly.objects.get(month=MARCH, area_code="371600", step_name="乡镇受理").days) == 61

    # Recomputed from the raw step records with the calendar's own day-by-day count.
    calendar = WorkCalendar.load()
    records = list(StepRecord.objects.order_by("procedure_id", "pk").select_related("step"))
    for month in (MARCH, APRIL):
        expected = [0] * 61
        finished = late = 0
        for i, record in enumerate(records):
            finish = timezone.localdate(record.at)
            if record.action not in FINISHING or finish.replace(day=1) != month:
                continue
            start_record = next(
                r for r in reversed(records[:i]) if r.procedure_id == record.procedure_id and r.action in STEP_CHANGING
            )
            start = timezone.localdate(start_record.at)
            expected[min(calendar.working_days_between(start, finish), 60)] += 1
            finished += 1
            late += finish > calendar.add_working_days(start, record.step.deadline_days)
        for level in LEVELS:
            rows = StepMonthly.objects.filter(month=month, level=level)
            histogram = [sum(r.days[i] for r in rows) for i in range(61)]
            assert histogram == expected, (month, level)
            assert sum(r.finished for r in rows) == finished and sum(r.late for r in rows) == late


def test_the_backlog_is_a_picture_of_today_by_step_and_unit(walked, bob, carol):
    dibao = _department("dibao")
    snapshot = {
        (r.area_code, r.step_name, r.unit_name): (r.open, r.overdue)
        for r in StageSnapshot.objects.filter(month=APRIL, department_code=dibao)
    }
    assert snapshot[(walked["a"].division.code, "家庭经济状况核对", bob.unit.name)] == (1, 1)
    assert snapshot[(walked["c"].division.code, "家庭经济状况核对", carol.unit.name)] == (1, 0)
    assert snapshot[("371602", "家庭经济状况核对", bob.unit.name)] == (1, 1)
    # A past month has no picture (the backlog is written for the current month only).
    assert not StageSnapshot.objects.filter(month=MARCH).exists()
    today = dt.date(2026, 4, 14)
    open_now = RequestProcedure.objects.filter(state__in=["pending", "in_notice"])
    for level in LEVELS:
        sums = StageSnapshot.objects.filter(month=APRIL, level=level).aggregate(o=Sum("open"), d=Sum("overdue"))
        assert sums == {"o": open_now.count(), "d": open_now.filter(step_due__lt=today).count()}, level


def _query(user) -> Query:
    """The viewer's own dashboard query for March–April, as the page builds it."""
    return query_for(user, area_code=None, start="2026-03", end="2026-04", today=dt.date(2026, 4, 14))


def test_the_section_shows_the_summarised_numbers(walked, dave):
    q = _query(dave)
    assert (q.area.code, [c.code for c in q.children]) == ("371602", ["371602001", "371602105"])
    section = timeliness.build(q)
    assert section.title == "办理时效"
    received = section.table("timeliness_received")
    channels = [c.key for c in received.columns]
    window, station = channels.index(Channel.WINDOW), channels.index(Channel.STATION)
    march, april = received.rows
    assert (march[window], march[station], march[channels.index("requests")]) == (1, 1, 3)
    assert april[window] == 1 and received.total[channels.index("cases")] == 3
    mix = {r[0]: r[1:] for r in section.table("timeliness_channel_mix").rows}
    assert mix["窗口受理"] == (2, 66.7) and mix["村（社区）工作站受理"] == (1, 33.3)
    decided = section.table("timeliness_decided")
    assert decided.rows[1][1:] == (0, 1, 1, 2) and decided.total[1:] == (0, 1, 1, 2)

    steps = {r[0]: r[1:] for r in section.table("timeliness_steps").rows}
    # 乡镇受理 took 3, 5 and 2 working days: median 3, 90th percentile 5; one of three late.
    assert steps["乡镇受理"] == (3, 3, 5, 1, 33.3)
    assert steps["部门审批"] == (1, 17, 17, 1, 100.0)
    assert next(iter(steps)) == "乡镇受理"
    backlog = {r[0]: r[1:] for r in section.table("timeliness_backlog").rows}
    assert backlog["家庭经济状况核对"] == (2, 1, 50.0)
    units = section.table("timeliness_overdue_units").rows
    assert units[0][1:] == (1, 1)

    areas = section.table("timeliness_areas")
    assert areas.links == ("371602001", "371602105")
    # received, decided, open, overdue, median days of every step finished there.
    assert areas.rows[0][1:] == (2, 2, 1, 1, 5)
    assert areas.rows[1][1:] == (1, 0, 1, 0, 2)
    assert {c.table_key for c in section.charts} <= {t.key for t in section.tables}


def test_a_department_viewer_sees_only_its_steps_and_backlog(walked, erin):
    q = _query(erin)
    assert q.department_code == _department("medical_aid") and q.area.code == "371602"
    section = timeliness.build(q)
    keys = [t.key for t in section.tables]
    assert keys == ["timeliness_steps", "timeliness_backlog", "timeliness_overdue_units", "timeliness_areas"]
    steps = {r[0]: r[1:] for r in section.table("timeliness_steps").rows}
    assert set(steps) == {"部门审核", "部门审批"}
    assert section.table("timeliness_backlog").rows == ()
    assert section.table("timeliness_areas").rows[0][1:] == (2, 5, 0, 0)


def test_a_decision_refreshes_this_months_timeliness_after_it_commits(
    clock,
    procedures,  # noqa: F811
    bob,
    erin,
    django_capture_on_commit_callbacks,
):
    clock.set(dt.date(2026, 4, 13))
    case = _submit(bob, Channel.WINDOW, "t-d", clock, programmes=("medical_aid",))
    clock.set(dt.date(2026, 4, 14))
    p = _complete(erin, _proc(case, "medical_aid"))
    assert not CaseMonthly.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        wf.procedure_refuse(actor=erin, procedure_id=p.pk, expected_version=p.version, reasons="不符合条件")
    run = RefreshRun.objects.get(trigger="decision")
    assert (run.status, run.month) == (RefreshRun.Status.DONE, APRIL)
    city = CaseMonthly.objects.get(month=APRIL, area_code="371600", channel=Channel.WINDOW)
    assert (city.cases, city.refused) == (1, 1)
    assert StepMonthly.objects.get(month=APRIL, area_code="371600", step_name="部门审批").finished == 1
    assert not StageSnapshot.objects.filter(month=APRIL).exists()  # nothing open any more
    # Only the timeliness parts were refreshed.
    from ejia.dashboards.models import PaymentMonthly

    assert not PaymentMonthly.objects.exists()


# ---------------------------------------------------------------- pure functions


@pytest.mark.parametrize(
    ("days", "percent", "expected"),
    [
        ([], 50, None),
        ([0, 0, 0], 90, None),
        ([1], 50, 0),
        ([0, 0, 0, 1, 0, 1], 50, 3),  # 3 and 5: the lower of the two middle values
        ([0, 0, 1, 1, 0, 1], 50, 3),  # 2, 3, 5
        ([0, 0, 1, 1, 0, 1], 90, 5),
        ([5, 5], 50, 0),
        ([5, 5], 51, 1),
        ([9, 0, 0, 1], 90, 0),
        ([9, 0, 0, 1], 91, 3),
        ([0, 0, 1], 100, 2),
    ],
)
def test_percentile_of_a_histogram(days, percent, expected):
    assert percentile(days, percent) == expected


def test_percentile_refuses_a_percent_outside_1_to_100():
    with pytest.raises(ValueError):
        percentile([1], 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=61), st.integers(1, 100))
def test_percentile_is_the_nearest_rank_of_the_values_it_counts(days, percent):
    values = sorted(i for i, n in enumerate(days) for _ in range(n))
    if not values:
        assert percentile(days, percent) is None
        return
    rank = -(-percent * len(values) // 100)  # ⌈p·n/100⌉
    assert percentile(days, percent) == values[max(rank, 1) - 1]


CALENDAR = WorkCalendar.from_rows(
    [
        (dt.date(2026, 4, 6), "holiday"),
        (dt.date(2026, 5, 1), "holiday"),
        (dt.date(2026, 5, 4), "holiday"),
        (dt.date(2026, 5, 9), "workday"),
        (dt.date(2026, 10, 10), "workday"),
    ]
)
FIRST, LAST = dt.date(2026, 3, 20), dt.date(2026, 6, 1)


@settings(max_examples=200, deadline=None)
@given(
    st.dates(FIRST, LAST),
    st.integers(0, 80),
    st.integers(0, 70),
)
def test_the_workday_index_agrees_with_the_calendar(start, span, deadline):
    index = WorkdayIndex(CALENDAR, FIRST, LAST)
    end = min(start + dt.timedelta(days=span), LAST)
    assert index.between(start, end) == CALENDAR.working_days_between(start, end)
    assert index.between(end, start) == CALENDAR.working_days_between(end, start)
    assert index.due(start, deadline) == CALENDAR.add_working_days(start, deadline)


def test_the_county_page_shows_the_timeliness_section_and_drills_into_a_township(walked, dave, client):
    client.force_login(dave)
    page = client.get("/staff/dashboards/?from=2026-03&to=2026-04").content.decode()
    assert "办理时效" in page and "各环节办理用时" in page and "家庭经济状况核对" in page
    township = client.get("/staff/dashboards/371602105/?from=2026-03&to=2026-04").content.decode()
    assert "办理时效" in township and f"/staff/dashboards/{walked['c'].division.code}/" in township


def test_histograms_add_bucket_by_bucket_whatever_their_length():
    full = [0] * 61
    full[3], full[60] = 2, 1
    assert add_histograms([]) == [0] * 61
    summed = add_histograms([full, [1, 0, 0, 4], full])
    assert summed[:4] == [1, 0, 0, 8] and summed[60] == 2 and sum(summed) == 11
