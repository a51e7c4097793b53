"""The applications of the demo history: a few 低保 applications a month from 市中街道 households,
accepted through the real intake service by every channel (township window, village station,
grid worker on the applicant's behalf, online self-service) and moved through the workflow by
the demo staff with the services' own `on=` dates: acceptance, one-click check (against the
imported department data), home visit, township review, 7-day public notice, county decision.

Older months' cases are decided: four in five applicants are, where any is left, families the
eligibility plan finds 低保 likely or possible for, and are approved (the approval makes the
entitlement, paid from the month after acceptance by the next batches of ejia/demo/history.py);
the others are refused (in the demo city every eligible family of the township is already
assisted, so all are); recent ones stop where the calendar
stops them, and some are left at the home visit past its deadline (overdue). One in four
acceptances is completed after its 3-working-day deadline.

The services stamp "now" on the rows they write (StepRecord.at, Case.submitted_at, check and
decision times, ...). Each service call is wrapped by `_on(day)`, which afterwards moves the
timestamps of the rows that call created to `day` with one UPDATE per table (see STAMPED). Dates
the services take as arguments (step_started, step_due, notice dates, visit date) are given, not
moved. Idempotent: each case has the key demo-history-YYYYMM-N; a key already used is skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from ejia.accounts.models import User
from ejia.cases.matching import PlanError
from ejia.cases.models import Authorisation, Case, Channel, ProgrammeRequest
from ejia.cases.services import CaseError, case_submit
from ejia.cases.uploads import store_signature
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import Decision, HomeVisit, PublicNotice, RequestProcedure, StepRecord
from ejia.catalogue.plan import PlanEntry, PlanOutcome
from ejia.core.workdays import WorkCalendar
from ejia.demo.cases import (
    Candidate,
    Scenario,
    Stage,
    _application,
    _candidates,
    _prefill,
    _signature_data_url,
    _verify,
)
from ejia.demo.staff import DEMO_TOWNSHIP
from ejia.disbursement.models import Entitlement
from ejia.registry.models import HouseholdStatus, MemberStatus
from ejia.verification.checks import CheckRefused
from ejia.verification.models import CheckSource, CheckStatus, VerificationCheck

# Rows a service call creates, and the timestamp fields moved to the day it stands for.
STAMPED = (
    (Case, ("submitted_at", "created_at", "updated_at")),
    (ProgrammeRequest, ("created_at", "updated_at")),
    (RequestProcedure, ("created_at",)),
    (Authorisation, ("created_at", "updated_at")),
    (StepRecord, ("at",)),
    (VerificationCheck, ("created_at", "updated_at", "finished_at")),
    (CheckSource, ("started_at", "finished_at")),
    (HomeVisit, ("created_at", "updated_at")),
    (PublicNotice, ("created_at", "updated_at")),
    (Decision, ("decided_at", "created_at", "updated_at")),
    (Entitlement, ("created_at", "updated_at")),
    (HouseholdStatus, ("created_at", "updated_at")),
    (MemberStatus, ("created_at", "updated_at")),
)
# Date fields of those rows that the services set to "today" (an approval's 低保 status).
DATED = ((HouseholdStatus, ("start",)), (MemberStatus, ("start",)))
# Who applies where: (channel, the staff account that takes it, needs the village station's village).
CHANNELS = (
    (Channel.WINDOW, "window_clerk", False),
    (Channel.STATION, "village_clerk", True),
    (Channel.GRID_PROXY, "grid_worker", True),
    (Channel.SELF_SERVICE, "", False),
)
NOTES = (
    "家庭成员长期患病，收入微薄，申请低保。",
    "夫妻二人均无稳定工作，生活困难。",
    "老人独居，仅有少量养老金，申请低保。",
    "孩子上学开支大，家庭收入不足以维持基本生活。",
)


@contextmanager
def _on(day: dt.date, hour: int = 10) -> Iterator[None]:
    """Whatever the block creates is dated `day` (never later than now)."""
    before = {model: model.objects.aggregate(m=Max("pk"))["m"] or 0 for model, _ in STAMPED}
    yield
    when = min(timezone.make_aware(dt.datetime.combine(day, dt.time(hour, 0))), timezone.now())
    for model, fields in STAMPED:
        model.objects.filter(pk__gt=before[model]).update(**dict.fromkeys(fields, when))
    for model, fields in DATED:
        model.objects.filter(pk__gt=before[model]).update(**dict.fromkeys(fields, min(day, timezone.localdate())))


class _Staff:
    def __init__(self) -> None:
        names = ["window_clerk", "village_clerk", "grid_worker", "county_reviewer"]
        users = {u.username: u for u in User.objects.select_related("unit__division").filter(username__in=names)}
        missing = [n for n in names if n not in users]
        if missing:
            raise CaseError("缺少演示工作人员账号：" + "、".join(missing) + "，请先运行 ejia_demo_seed。")
        self.by_name = users
        self.clerk = users["window_clerk"]
        self.village = users["village_clerk"]
        self.reviewer = users["county_reviewer"]
        self.station_village = users["village_clerk"].unit.division_id


def _accepted_days(month: dt.date, count: int, calendar: WorkCalendar) -> list[dt.date]:
    """Working days spread over the first three weeks of the month."""
    days = []
    for i in range(count):
        day = month + dt.timedelta(days=2 + i * 5)
        while not calendar.is_working_day(day):
            day += dt.timedelta(days=1)
        days.append(day)
    return days


def _complete(actor: User, p: RequestProcedure, day: dt.date, comment: str, **kwargs) -> RequestProcedure:
    with _on(day):
        return wf.procedure_complete(
            actor=actor, procedure_id=p.pk, expected_version=p.version, comment=comment, on=day, **kwargs
        )


def _walk(
    case: Case,
    staff: _Staff,
    accepted: dt.date,
    *,
    late: bool,
    stuck: bool,
    approve: bool,
    today: dt.date,
    calendar: WorkCalendar,
) -> str:
    """Move the 低保 request as far as the calendar allows; returns where it stopped."""
    add = calendar.add_working_days
    p = RequestProcedure.objects.get(case=case, request__programme__code="dibao")
    # A late acceptance is completed two working days after its 3-working-day deadline.
    day = add(accepted, 5 if late else 1)
    if day > today:
        return "accepted"
    p = _complete(staff.clerk, p, day, "申请材料齐全，予以受理")
    day = add(day, 1)
    if day > today:
        return "claimed"
    with _on(day):
        check = _verify(case, staff.clerk)
    p = _complete(
        staff.clerk,
        p,
        day,
        "已核对家庭经济状况",
        check_id=check.public_id,
        failed_acknowledged=check.status == CheckStatus.PARTIAL,
    )
    day = add(day, 3)
    # A stuck case waits at the home visit past its deadline (督办 material).
    if day > today or stuck:
        return "home_visit"
    with _on(day):
        wf.home_visit_record(
            actor=staff.clerk,
            procedure_id=p.pk,
            visit_date=day,
            staff_1=staff.clerk,
            staff_2=staff.village,
            findings="入户核实：家庭成员、住房及收入情况与申报一致，生活确有困难。",
        )
    p = _complete(staff.clerk, p, day, "入户调查完成")
    day = add(day, 1)
    if day > today:
        return "township_review"
    p = _complete(staff.clerk, p, day, "经乡镇审核，符合低保条件，同意公示")
    day = add(day, 1)
    if day > today:
        return "notice_ready"
    with _on(day):
        notice = wf.notice_publish(actor=staff.clerk, versions={p.pk: p.version}, on=day)
    p.refresh_from_db()
    day = max(notice.end_date, add(day, 1))
    if day > today:
        return "notice"
    with _on(day):
        p = wf.notice_close(
            actor=staff.clerk, procedure_id=p.pk, expected_version=p.version, comment="公示期满，无异议", on=day
        )
    day = add(day, 2)
    if day > today:
        return "county_decision"
    with _on(day, 15):
        if not approve:
            wf.procedure_refuse(
                actor=staff.reviewer,
                procedure_id=p.pk,
                expected_version=p.version,
                reasons="经一键核对和入户调查，家庭收入或财产状况不符合低保条件。",
            )
            return "refused"
        wf.procedure_approve(actor=staff.reviewer, procedure_id=p.pk, expected_version=p.version)
    return "approved"


def _choose(
    candidates: list[Candidate], staff: _Staff, today: dt.date, *, station: bool, used: set[int], plausible: bool
) -> tuple[Candidate, PlanEntry] | None:
    """The next household (lowest income first) to whom the plan offers 低保: with `plausible`,
    one the plan finds likely or possible with an amount (most applicants); otherwise whatever
    its outcome (families apply on their own judgement, and the county refuses what the data
    rules out). The poorest households not yet assisted mostly hold savings or a car."""
    for candidate in candidates:
        if candidate.assisted or candidate.household.pk in used:
            continue
        if station and candidate.household.division_id != staff.station_village:
            continue
        try:
            _prefill(candidate, staff.clerk, today)
        except (CaseError, PlanError):
            used.add(candidate.household.pk)
            continue
        entry = next((e for e in candidate.plan if e.code == "dibao" and e.offered), None)
        if entry is None:
            used.add(candidate.household.pk)
            continue
        if plausible and not _approvable(entry):
            continue  # left for an application the county refuses
        used.add(candidate.household.pk)
        return candidate, entry
    return None


def _approvable(entry: PlanEntry) -> bool:
    return entry.outcome != PlanOutcome.UNLIKELY and bool(entry.amount_fen)


def demo_history_cases(
    *,
    months: list[dt.date],
    today: dt.date,
    per_month: int,
    log: Callable[[str], None] | None = None,
    after_month: Callable[[dt.date], None] | None = None,
) -> int:
    """Accept and walk the missing cases of each month; `after_month` runs after each month's
    cases (the payments of that month). Returns how many cases were created."""
    log = log or (lambda line: None)
    calendar = WorkCalendar.load()
    staff = _Staff()
    candidates = _candidates(DEMO_TOWNSHIP, today)
    used: set[int] = set()
    created = 0
    for index, month in enumerate(months):
        for n, accepted in enumerate(_accepted_days(month, per_month, calendar)):
            key = f"demo-history-{month:%Y%m}-{n + 1}"
            if accepted > today or Case.objects.filter(idempotency_key=key).exists():
                continue
            channel, username, station = CHANNELS[(index + n) % len(CHANNELS)]
            # Four in five applicants are families the rules find eligible; the fifth is not.
            # Where none is left (a small city, one village's station), an application the
            # county refuses; where the station's village has none at all, the window.
            plausible = n % 5 != 4
            chosen = _choose(candidates, staff, today, station=station, used=used, plausible=plausible)
            if chosen is None and plausible:
                plausible = False
                chosen = _choose(candidates, staff, today, station=station, used=used, plausible=False)
            if chosen is None and station:
                channel, username, station = CHANNELS[0]
                chosen = _choose(candidates, staff, today, station=False, used=used, plausible=False)
            if chosen is None:
                log(f"  {key}: 没有找到可申请低保的家庭，跳过")
                continue
            candidate, entry = chosen
            # The county approves what the rules find possible (at the engine's amount).
            approve = _approvable(entry) and plausible
            scenario = Scenario(key, Stage.ACCEPTED, (("dibao",),), ("daily_living",), NOTES[n % len(NOTES)])
            try:
                with transaction.atomic():
                    data = _application(scenario, candidate.data, candidate.plan, [entry.key], accepted)
                    if channel == Channel.GRID_PROXY:
                        data["proxy_consent"] = True
                        data["proxy_signature"] = store_signature(_signature_data_url(n + 7))
                    with _on(accepted, 9):
                        case = case_submit(
                            actor=staff.by_name.get(username),
                            channel=channel,
                            idempotency_key=key,
                            data=data,
                            on=accepted,
                        )
                    where = _walk(
                        case,
                        staff,
                        accepted,
                        # One in four acceptances late; last month's every other case stuck.
                        late=(index + n) % 4 == 1,
                        stuck=index == len(months) - 2 and n % 2 == 0,
                        approve=approve,
                        today=today,
                        calendar=calendar,
                    )
            except (CaseError, wf.WorkflowError, CheckRefused) as exc:
                log(f"  {key}: 未能生成（{exc.message}），跳过")
                continue
            created += 1
            log(f"  {key}: {case.reference} {channel.label} → {where}")
        if after_month is not None:
            after_month(month)
    return created
