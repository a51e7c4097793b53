"""Summaries of applications and their timeliness (办理时效): parts "cases" (CaseMonthly,
StepMonthly) and "backlog" (StageSnapshot, the picture of now).

Where each number comes from (all at the village the case was submitted for, `Case.division`,
which the procedures copy and every staff queue scopes on):
- cases and requests received: `Case.submitted_at` in the month (Asia/Shanghai), by the
  case's channel;
- requests decided: the StepRecord of the move that ended the procedure — approve, refuse,
  withdraw — at its `at`. A Decision row (`decided_at`, the same instant, written in the same
  transaction) exists for approvals and refusals only; a withdrawal leaves just its record, so
  the records are the one source that covers all three outcomes;
- steps finished: a StepRecord that moves the procedure forward from its step (complete,
  close of the public notice, approve, refuse). A step sent back (return) or abandoned
  (withdraw) is not finished; when a returned step is done again it counts again. The step
  started at the previous record that changed the procedure's step (start, complete, close of
  the notice, return); the working days taken count the working days after the start day up to
  and including the finishing day (WorkCalendar's rule), and the step is late when it finished
  after the day its deadline fell on.
- backlog: open procedures (pending or in notice) by the step they wait at and the acting unit;
  overdue when the step's due day is before today.

Cost: one grouped query per count and, for the steps, one query returning the month's finished
steps with their start time (a correlated subquery on the procedure's records, indexed by
procedure), then one pass over those rows in Python with working-day prefix sums built once
per month from the holiday table (no per-row day loops).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db import models
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.db.models.functions import TruncDate
from django.utils import timezone

from ejia.cases.models import Case, ProgrammeRequest
from ejia.cases.workflow.models import OPEN_STATES, RequestProcedure, StepRecord
from ejia.cases.workflow.transitions import Action
from ejia.core.workdays import WorkCalendar
from ejia.dashboards.models import CaseMonthly, StageSnapshot, StepMonthly
from ejia.dashboards.refresh import AreaTree, Part, Values, area_rows, register
from ejia.disbursement.models import add_months

# Moves that finish the step they are recorded on.
FINISHING = (Action.COMPLETE, Action.CLOSE_NOTICE, Action.APPROVE, Action.REFUSE)
# Moves after which the procedure stands at a (new) step: its start.
STEP_CHANGING = (Action.START, Action.COMPLETE, Action.CLOSE_NOTICE, Action.RETURN)
# Moves that end a request, by outcome.
OUTCOMES = {"approved": Action.APPROVE, "refused": Action.REFUSE, "withdrawn": Action.WITHDRAW}
BUCKETS = StepMonthly.HISTOGRAM_BUCKETS


def month_bounds(month: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The month's first instant and the next month's, in the project's time zone."""

    def at(day: dt.date) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min))

    return at(month), at(add_months(month, 1))


class WorkdayIndex:
    """Working-day arithmetic over a span of days by prefix sums: `between` and `due` give what
    WorkCalendar.working_days_between and add_working_days give, each in O(log n)."""

    def __init__(self, calendar: WorkCalendar, first: dt.date, last: dt.date):
        self.first = first
        self.calendar = calendar
        days = (last - first).days + 1
        self.count = [0] * (days + 1)  # count[i] = working days in [first, first + i)
        self.working: list[int] = []  # offsets of the working days, ascending
        for i in range(days):
            day = first + dt.timedelta(days=i)
            is_working = calendar.is_working_day(day)
            self.count[i + 1] = self.count[i] + is_working
            if is_working:
                self.working.append(i)

    def _offset(self, day: dt.date) -> int:
        offset = (day - self.first).days
        if not 0 <= offset < len(self.count) - 1:
            raise ValueError(f"{day} is outside the index")
        return offset

    def between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        if end <= start:
            return 0
        return self.count[self._offset(end) + 1] - self.count[self._offset(start) + 1]

    def due(self, start: dt.date, days: int) -> dt.date:
        """The `days`-th working day after `start` (start itself when days is 0)."""
        if days <= 0:
            return start
        seen = self.count[self._offset(start) + 1]
        if seen + days - 1 < len(self.working):
            return self.first + dt.timedelta(days=self.working[seen + days - 1])
        # Past the indexed span (a step due after the month's end): the calendar's own walk.
        return self.calendar.add_working_days(start, days)


def _cases(month: dt.date, tree: AreaTree) -> list[models.Model]:
    begin, end = month_bounds(month)
    rows: list[tuple[str, tuple, Values]] = []
    received = (
        Case.objects.filter(submitted_at__gte=begin, submitted_at__lt=end)
        .values(village=F("division__code"), ch=F("channel"))
        .annotate(n=Count("id"))
        .order_by()
    )
    rows += [(r["village"], (r["ch"],), {"cases": r["n"]}) for r in received]
    requests = (
        ProgrammeRequest.objects.filter(case__submitted_at__gte=begin, case__submitted_at__lt=end)
        .values(village=F("case__division__code"), ch=F("case__channel"))
        .annotate(n=Count("id"))
        .order_by()
    )
    rows += [(r["village"], (r["ch"],), {"requests": r["n"]}) for r in requests]
    outcomes = {name: Count("id", filter=Q(action=action)) for name, action in OUTCOMES.items()}
    decided = (
        StepRecord.objects.filter(at__gte=begin, at__lt=end, action__in=list(OUTCOMES.values()))
        .values(village=F("procedure__division__code"), ch=F("procedure__case__channel"))
        .annotate(**outcomes)
        .order_by()
    )
    rows += [(r["village"], (r["ch"],), {k: r[k] for k in outcomes}) for r in decided]
    return area_rows(CaseMonthly, month=month, tree=tree, rows=rows, dims=("channel",))


def finished_steps(month: dt.date):
    """(village, department, step name, deadline days, start day, finishing day) of every step
    finished in the month, the days in the project's time zone: one query."""
    begin, end = month_bounds(month)
    started = (
        StepRecord.objects.filter(procedure=OuterRef("procedure"), pk__lt=OuterRef("pk"), action__in=STEP_CHANGING)
        .order_by("-pk")
        .annotate(day=TruncDate("at"))
        .values("day")[:1]
    )
    return (
        StepRecord.objects.filter(at__gte=begin, at__lt=end, action__in=FINISHING)
        .annotate(start_day=Subquery(started), finish_day=TruncDate("at"))
        .values_list(
            "procedure__division__code",
            "procedure__department__code",
            "step__name",
            "step__deadline_days",
            "start_day",
            "finish_day",
        )
        .order_by()
    )


def _steps(month: dt.date, tree: AreaTree) -> list[models.Model]:
    found = list(finished_steps(month))
    if not found:
        return []
    first = min(start or finish for *_, start, finish in found)
    index = WorkdayIndex(WorkCalendar.load(), first, month_bounds(month)[1].date())
    # Counted straight into every area above the village (a sparse histogram per row): adding
    # 61-bucket lists per step would cost 61 additions per step and level.
    acc: dict[tuple[str, str, str], list] = {}
    chains: dict[str, list[str]] = {}
    for village, department, name, limit, start, finish in found:
        # A finishing record always follows the start record; a missing start (never written
        # by the services) counts the step as started the day it finished.
        start = start or finish
        bucket = min(index.between(start, finish), BUCKETS - 1)
        late = finish > index.due(start, limit)
        chain = chains.get(village)
        if chain is None:
            chain = chains[village] = tree.chain(village)
        for area in chain:
            row = acc.get((area, department, name))
            if row is None:
                row = acc[(area, department, name)] = [0, 0, defaultdict(int)]
            row[0] += 1
            row[1] += late
            row[2][bucket] += 1
    out = []
    for (area, department, name), (finished, late, sparse) in acc.items():
        days = [0] * BUCKETS
        for bucket, count in sparse.items():
            days[bucket] = count
        out.append(
            StepMonthly(
                month=month,
                level=tree.level.get(area, ""),
                area_code=area,
                parent_code=tree.parent.get(area, ""),
                department_code=department,
                step_name=name,
                finished=finished,
                late=late,
                days=days,
            )
        )
    return out


def _backlog(month: dt.date, tree: AreaTree) -> list[models.Model]:
    today = timezone.localdate()
    open_now = (
        RequestProcedure.objects.filter(state__in=OPEN_STATES)
        .values(
            village=F("division__code"),
            dept=F("department__code"),
            step_name=F("step__name"),
            unit=F("acting_unit__name"),
        )
        .annotate(open=Count("id"), overdue=Count("id", filter=Q(step_due__lt=today)))
        .order_by()
    )
    # A unit's name is cut to the summary column's width (two units alike that far add up).
    width = StageSnapshot._meta.get_field("unit_name").max_length
    rows = [
        (r["village"], (r["dept"], r["step_name"], r["unit"][:width]), {"open": r["open"], "overdue": r["overdue"]})
        for r in open_now
    ]
    return area_rows(
        StageSnapshot, month=month, tree=tree, rows=rows, dims=("department_code", "step_name", "unit_name")
    )


def _cases_and_steps(month: dt.date, tree: AreaTree) -> list[models.Model]:
    return _cases(month, tree) + _steps(month, tree)


register(Part("cases", (CaseMonthly, StepMonthly), _cases_and_steps))
register(Part("backlog", (StageSnapshot,), _backlog, current_only=True))
