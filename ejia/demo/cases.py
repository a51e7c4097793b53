"""Demo cases: a handful of applications from real households of the demo city, each walked
through the real services to a different point of the workflow, so that every demo login
finds work waiting (the township window, the county centre, the 医保 and 教育 approvers).

Nothing here writes a workflow row by hand. Each case is accepted with `case_submit` as the
intake wizard would (data pre-filled from the registry by `intake_prefill`, every adult's
authorisation signed on screen), checked with the real one-click verification against the
department snapshots the demo imported, and moved by the demo staff through
`ejia.cases.workflow.services`. Earlier steps are dated back with the services' `on=`, so a
case in public notice has a running countdown and the overdue one is overdue for real.

Idempotent: each case has a fixed idempotency key (demo-case-N); a key already used is
skipped, so running the seed twice adds nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from PIL import Image, ImageDraw

from ejia.accounts.models import User
from ejia.cases.intake import adults, intake_prefill
from ejia.cases.matching import PlanError, draft_plan
from ejia.cases.models import Case, Channel
from ejia.cases.services import CaseError, case_submit
from ejia.cases.uploads import store_signature
from ejia.cases.verify import case_verification_start
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure
from ejia.catalogue.plan import Plan, PlanOutcome
from ejia.core import crypto
from ejia.core.workdays import WorkCalendar
from ejia.demo.staff import DEMO_TOWNSHIP
from ejia.registry.models import ID_PURPOSE, Household, HouseholdStatus, Membership, MemberStatus, StatusKind
from ejia.verification.checks import CheckRefused, check_snapshots_run, check_source_run
from ejia.verification.models import CheckSource, CheckStatus, VerificationCheck

# Households already on these cannot sensibly apply for 低保 again.
ASSISTED = (StatusKind.DIBAO, StatusKind.TEKUN)
EDUCATION = ("edu_compulsory", "edu_preschool", "edu_senior", "edu_vocational")
# Plan evaluations allowed while choosing households (~30 ms each on the demo city).
MAX_EVALUATIONS = 150


class Stage(StrEnum):
    ACCEPTED = "accepted"  # in the township queue, nobody has claimed it
    CLAIMED = "claimed"  # claimed by window_clerk, waiting for the one-click check
    HOME_VISIT = "home_visit"  # check finished, waiting for the two-staff home visit
    NOTICE = "notice"  # in public notice, countdown running
    NOTICE_OBJECTION = "notice_objection"  # in public notice with an objection to look into
    COUNTY_DECISION = "county_decision"  # notice over, waiting for county_reviewer
    DEPARTMENTS = "departments"  # 医保 review and 教育 decision waiting
    JOINT_REVIEW = "joint_review"  # every request decided, waiting for the centre's joint review
    DECIDED = "decided"  # every request decided, joint review issued the decision notice
    OVERDUE = "overdue"  # accepted two weeks ago, never handled, escalated to the county centre


STAGE_LABELS = {
    Stage.ACCEPTED: "已受理，待乡镇窗口认领",
    Stage.CLAIMED: "window_clerk 已认领，待一键核对",
    Stage.HOME_VISIT: "核对完成，待入户调查",
    Stage.NOTICE: "公示中",
    Stage.NOTICE_OBJECTION: "公示中，有待核实的异议",
    Stage.COUNTY_DECISION: "公示期满，待县级审批确认",
    Stage.DEPARTMENTS: "待医保部门审核、教育部门审批",
    Stage.JOINT_REVIEW: "各项已审批，待县中心联合审核",
    Stage.DECIDED: "联合审核完毕，已出具决定通知书",
    Stage.OVERDUE: "受理环节超期，已列入县中心督办",
}


@dataclass(frozen=True)
class Scenario:
    key: str
    stage: Stage
    # Each group names programmes of which the first one the plan does not rule out is applied for.
    groups: tuple[tuple[str, ...], ...]
    needs: tuple[str, ...]
    note: str
    # Department programmes added when the plan finds them eligible (work for approver_mz / _zj).
    extras: tuple[str, ...] = ()
    new_applicant: bool = True  # the household is not on 低保 or 特困 yet
    wants: frozenset[str] = field(default_factory=frozenset)  # cheap pre-filter: "student", "medical"


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "demo-case-1",
        Stage.ACCEPTED,
        (("dibao",),),
        ("daily_living", "job_loss"),
        "家中无稳定收入来源，生活困难，申请低保。",
        extras=("severe_disability_care_subsidy", "disability_living_subsidy", "elderly_allowance"),
    ),
    Scenario("demo-case-2", Stage.CLAIMED, (("dibao",),), ("daily_living",), "收入低，日常生活困难。"),
    Scenario(
        "demo-case-3", Stage.HOME_VISIT, (("dibao",),), ("job_loss", "daily_living"), "收入不稳定，家庭收入微薄。"
    ),
    Scenario("demo-case-4", Stage.NOTICE_OBJECTION, (("dibao",),), ("daily_living",), "家庭成员长期无固定收入。"),
    Scenario("demo-case-5", Stage.NOTICE, (("dibao",),), ("daily_living",), "收入难以维持基本生活。"),
    Scenario("demo-case-6", Stage.COUNTY_DECISION, (("dibao",),), ("daily_living",), "家庭人均收入低于低保标准。"),
    Scenario(
        "demo-case-7",
        Stage.DEPARTMENTS,
        (("medical_aid",), EDUCATION),
        ("illness", "schooling"),
        "家人常年看病花费大，孩子上学有困难。",
        extras=("public_rental_housing", "rent_subsidy", "public_rent_waiver"),
        new_applicant=False,
        wants=frozenset({"student", "medical"}),
    ),
    Scenario(
        "demo-case-8",
        Stage.DECIDED,
        (("dibao",), ("medical_aid",)),
        ("illness", "daily_living"),
        "收入低且有医疗自付费用，申请低保和医疗救助。",
        wants=frozenset({"medical"}),
    ),
    Scenario("demo-case-9", Stage.OVERDUE, (("dibao",),), ("daily_living",), "家庭收入低，申请低保。"),
    Scenario("demo-case-10", Stage.JOINT_REVIEW, (("dibao",),), ("daily_living",), "家庭收入不足以维持基本生活。"),
)


@dataclass
class Staff:
    clerk: User  # window_clerk
    village: User  # village_clerk, the second person on home visits
    reviewer: User  # county_reviewer
    yb: User
    jy: User

    @classmethod
    def load(cls) -> Staff:
        names = {"clerk": "window_clerk", "village": "village_clerk", "reviewer": "county_reviewer"}
        names |= {"yb": "approver_yb", "jy": "approver_jy"}
        users = {
            u.username: u for u in User.objects.select_related("unit__division").filter(username__in=names.values())
        }
        missing = [n for n in names.values() if n not in users]
        if missing:
            raise CaseError("缺少演示工作人员账号：" + "、".join(missing) + "，请先运行 ejia_demo_seed。")
        return cls(**{attr: users[name] for attr, name in names.items()})


# ---------------------------------------------------------------- choosing households


@dataclass
class Candidate:
    household: Household
    per_capita_fen: int
    assisted: bool
    student: bool
    medical: bool
    plan: Plan | list | None = None
    data: dict | None = None


def _candidates(township: str, today: dt.date) -> list[Candidate]:
    """The township's households that never applied, lowest declared income per head first."""
    households = {
        h.pk: h
        for h in Household.objects.filter(division__parent__code=township)
        .exclude(cases__isnull=False)
        .select_related("division")
    }
    income: dict[int, list[int]] = {}
    student: set[int] = set()
    for household_id, facts in Membership.objects.filter(
        household_id__in=list(households), date_out__isnull=True
    ).values_list("household_id", "facts"):
        facts = facts or {}
        income.setdefault(household_id, []).append(
            int(facts.get("income_month_fen") or 0) + int(facts.get("pension_month_fen") or 0)
        )
        if facts.get("school_stage") not in (None, "", "none"):
            student.add(household_id)
    current = Q(end__isnull=True) | Q(end__gte=today)
    assisted = {
        pk
        for model in (HouseholdStatus, MemberStatus)
        for pk in model.objects.filter(current, household_id__in=list(households), kind__in=ASSISTED).values_list(
            "household_id", flat=True
        )
    }
    rows = [
        Candidate(
            household=h,
            per_capita_fen=sum(income[pk]) // len(income[pk]),
            assisted=pk in assisted,
            student=pk in student,
            medical=int((h.facts or {}).get("medical_oop_year_fen") or 0) > 0,
        )
        for pk, h in households.items()
        if income.get(pk)
    ]
    rows.sort(key=lambda c: (c.per_capita_fen, c.household.hukou_number, c.household.pk))
    return rows


def _prefill(candidate: Candidate, clerk: User, today: dt.date) -> tuple[dict, Plan]:
    """The intake draft pre-filled from the registry by the head's ID number, and its plan."""
    if candidate.data is None:
        head = (
            candidate.household.head() or candidate.household.current_memberships().order_by("relation").first().person
        )
        number = crypto.decrypt(head.id_number_ciphertext, purpose=ID_PURPOSE)
        data = intake_prefill(user=clerk, id_number=number)
        candidate.data = data
        candidate.plan = draft_plan(data, today)
    return candidate.data, candidate.plan


def _programmes(scenario: Scenario, plan) -> list[str] | None:
    """The plan keys to apply for, or None when the plan rules a required group out."""
    best = {}
    for entry in plan:  # best outcomes first
        if entry.offered and entry.outcome != PlanOutcome.UNLIKELY:
            best.setdefault(entry.code, entry)
    chosen = []
    for group in scenario.groups:
        entry = next((best[c] for c in group if c in best), None)
        if entry is None:
            return None
        chosen.append(entry.key)
    # At most one extra, so each case stays readable.
    extra = next((best[c].key for c in scenario.extras if c in best and best[c].outcome == PlanOutcome.LIKELY), None)
    return chosen + ([extra] if extra else [])


def _choose(
    scenarios: list[Scenario], candidates: list[Candidate], clerk: User, today: dt.date
) -> dict[str, tuple[Candidate, list[str]]]:
    chosen: dict[str, tuple[Candidate, list[str]]] = {}
    used: set[int] = set()
    evaluations = 0
    for scenario in scenarios:
        for candidate in candidates:
            if candidate.household.pk in used or (scenario.new_applicant and candidate.assisted):
                continue
            if ("student" in scenario.wants and not candidate.student) or (
                "medical" in scenario.wants and not candidate.medical
            ):
                continue
            if candidate.plan is None:
                if evaluations >= MAX_EVALUATIONS:
                    break
                evaluations += 1
                try:
                    _prefill(candidate, clerk, today)
                except (CaseError, PlanError):
                    candidate.plan = []
            programmes = _programmes(scenario, candidate.plan or [])
            if programmes:
                chosen[scenario.key] = (candidate, programmes)
                used.add(candidate.household.pk)
                break
    return chosen


# ---------------------------------------------------------------- the application


def _signature_data_url(seed: int) -> str:
    """A hand-drawn-looking stroke on a transparent canvas, as the signature pad sends it."""
    image = Image.new("RGBA", (320, 110), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    points = [(12 + i * 37, 55 + ((seed * 7 + i * 13) % 40) - 20) for i in range(9)]
    draw.line(points, fill=(20, 20, 20, 255), width=3, joint="curve")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _application(scenario: Scenario, data: dict, plan: Plan, programmes: list[str], accepted: dt.date) -> dict:
    """The finished intake form: needs, programmes, every adult's signature, materials ticked."""
    data = dict(data)
    number = int(scenario.key.rsplit("-", 1)[1])
    applicant = next(m for m in data["members"] if m["key"] == data["applicant"])
    data["phone"] = applicant.get("phone") or f"1390543{number:04d}"
    data["needs"] = list(scenario.needs)
    data["needs_note"] = scenario.note
    data["programmes"] = programmes
    signed_at = min(timezone.make_aware(dt.datetime.combine(accepted, dt.time(9, 30))), timezone.now()).isoformat()
    data["auth"] = {
        m["key"]: {
            "method": "signature",
            "file": store_signature(_signature_data_url(number * 10 + i)),
            "signed_at": signed_at,
        }
        for i, m in enumerate(adults(data))
    }
    data["materials_received"] = [item.name for item in plan.materials(programmes)[0]]
    return data


# ---------------------------------------------------------------- dates


@dataclass
class Days:
    today: dt.date
    calendar: WorkCalendar

    def back(self, day: dt.date, working_days: int) -> dt.date:
        """The working day `working_days` working days before `day`."""
        while working_days:
            day -= dt.timedelta(days=1)
            if self.calendar.is_working_day(day):
                working_days -= 1
        return day

    def ago(self, working_days: int) -> dt.date:
        return self.back(self.today, working_days)

    def on_or_before(self, day: dt.date) -> dt.date:
        while not self.calendar.is_working_day(day):
            day -= dt.timedelta(days=1)
        return day


# ---------------------------------------------------------------- the walk


def _proc(case: Case, code: str) -> RequestProcedure:
    return RequestProcedure.objects.select_related("step").get(case=case, request__programme__code=code)


def _complete(actor: User, p: RequestProcedure, on: dt.date, comment: str = "", **kwargs) -> RequestProcedure:
    return wf.procedure_complete(
        actor=actor, procedure_id=p.pk, expected_version=p.version, comment=comment, on=on, **kwargs
    )


def _verify(case: Case, clerk: User) -> VerificationCheck:
    """Start the one-click check and answer its sources here and now (what the task worker does)."""
    check = case_verification_start(actor=clerk, case=case)
    check_snapshots_run(check_id=check.pk)
    for pk in check.sources.filter(status=CheckSource.Status.PENDING).values_list("pk", flat=True):
        check_source_run(check_source_id=pk)  # online sources; they fail fast without the department
    check.refresh_from_db()
    return check


def _through_verification(case: Case, staff: Staff, accepted: dt.date, verified: dt.date) -> RequestProcedure:
    p = _complete(staff.clerk, _proc(case, "dibao"), accepted, "申请材料齐全，予以受理")
    check = _verify(case, staff.clerk)
    # A failed source is unknown, not "nothing found": the clerk acknowledges it, as on screen.
    return _complete(
        staff.clerk,
        p,
        verified,
        "已核对家庭经济状况",
        check_id=check.public_id,
        failed_acknowledged=check.status == CheckStatus.PARTIAL,
    )


def _to_notice(case: Case, staff: Staff, days: Days, published: dt.date):
    """低保 from acceptance to a published 7-day notice; returns the procedure and the notice."""
    accepted = days.back(published, 5)
    p = _through_verification(case, staff, accepted, days.back(published, 4))
    visited = days.back(published, 2)
    wf.home_visit_record(
        actor=staff.clerk,
        procedure_id=p.pk,
        visit_date=visited,
        staff_1=staff.clerk,
        staff_2=staff.village,
        findings="入户核实：家庭成员、住房及收入情况与申报一致，家中无大额财产，生活确有困难。",
    )
    p = _complete(staff.clerk, p, visited, "入户调查完成")
    p = _complete(staff.clerk, p, days.back(published, 1), "经乡镇审核，符合低保条件，同意公示")
    notice = wf.notice_publish(actor=staff.clerk, versions={p.pk: p.version}, on=published)
    p.refresh_from_db()
    return p, notice


def _close_notice(staff: Staff, p: RequestProcedure, notice, days: Days) -> RequestProcedure:
    return wf.notice_close(
        actor=staff.clerk,
        procedure_id=p.pk,
        expected_version=p.version,
        comment="公示期满，无异议或异议已核实处理",
        on=max(notice.end_date, days.on_or_before(days.today)),
    )


def _walk(scenario: Scenario, case: Case, staff: Staff, days: Days) -> None:
    stage = scenario.stage
    if stage == Stage.CLAIMED:
        p = _proc(case, "dibao")
        p = wf.procedure_claim(actor=staff.clerk, procedure_id=p.pk, expected_version=p.version)
        _complete(staff.clerk, p, days.ago(1), "申请材料齐全，予以受理")
    elif stage == Stage.HOME_VISIT:
        _through_verification(case, staff, days.ago(3), days.ago(2))
    elif stage in (Stage.NOTICE, Stage.NOTICE_OBJECTION):
        p, notice = _to_notice(case, staff, days, _published_on(scenario, days))
        if stage == Stage.NOTICE_OBJECTION:
            wf.objection_record(
                actor=staff.clerk, notice_id=notice.pk, procedure_id=p.pk, text="群众反映该户家中有一辆小轿车。"
            )
    elif stage == Stage.COUNTY_DECISION:
        p, notice = _to_notice(case, staff, days, _published_on(scenario, days))
        _close_notice(staff, p, notice, days)
    elif stage == Stage.DEPARTMENTS:
        _verify(case, staff.clerk)
        education = RequestProcedure.objects.get(case=case, department__code="jy")
        _complete(staff.jy, education, days.ago(1), "学籍信息已核实")
    elif stage in (Stage.JOINT_REVIEW, Stage.DECIDED):
        p, notice = _to_notice(case, staff, days, _published_on(scenario, days))
        if stage == Stage.DECIDED:
            objection = wf.objection_record(
                actor=staff.clerk, notice_id=notice.pk, procedure_id=p.pk, text="群众反映该户有经营性收入。"
            )
            wf.objection_resolve(
                actor=staff.clerk, objection_id=objection.pk, resolution="经核实，该户无工商登记，反映情况不属实。"
            )
        p = _close_notice(staff, p, notice, days)
        wf.procedure_approve(actor=staff.reviewer, procedure_id=p.pk, expected_version=p.version)
        if stage == Stage.DECIDED:
            m = _proc(case, "medical_aid")
            m = _complete(staff.yb, m, notice.start_date, "医疗费用票据已核实")
            wf.procedure_approve(actor=staff.yb, procedure_id=m.pk, expected_version=m.version)
            wf.joint_review_issue(actor=staff.reviewer, case_id=case.pk, opinion="经联合审核，同意各部门审批意见。")
    elif stage == Stage.OVERDUE:
        p = _proc(case, "dibao")
        wf.procedure_escalate(actor=None, procedure_id=p.pk, expected_version=p.version, on=days.today)


def _accepted_on(scenario: Scenario, days: Days) -> dt.date:
    """The day of acceptance; the walk dates each later step itself."""
    if scenario.stage == Stage.OVERDUE:
        # Far enough back that the 3-working-day acceptance deadline has passed.
        day = days.ago(10)
        while days.calendar.add_working_days(day, 3) >= days.today:
            day -= dt.timedelta(days=1)
        return day
    back = {
        Stage.ACCEPTED: days.today,
        Stage.CLAIMED: days.ago(1),
        Stage.HOME_VISIT: days.ago(3),
        Stage.DEPARTMENTS: days.ago(4),
    }
    if scenario.stage in back:
        return back[scenario.stage]
    return days.back(_published_on(scenario, days), 5)


def _published_on(scenario: Scenario, days: Days) -> dt.date:
    """When the 7-day notice went up: running for the notice stages, over for the later ones."""
    if scenario.stage == Stage.NOTICE:
        return days.ago(1)
    if scenario.stage == Stage.NOTICE_OBJECTION:
        return days.ago(2)
    # Over: the notice is closed today, so the county decision that follows is not overdue.
    before = {Stage.COUNTY_DECISION: 8, Stage.JOINT_REVIEW: 12}.get(scenario.stage, 16)
    return days.on_or_before(days.today - dt.timedelta(days=before))


def demo_cases_ensure(*, today: dt.date | None = None, log: Callable[[str], None] | None = None) -> int:
    """Create the demo cases that do not exist yet; returns how many were created."""
    log = log or (lambda line: None)
    missing = [s for s in SCENARIOS if not Case.objects.filter(idempotency_key=s.key).exists()]
    if not missing:
        return 0
    staff = Staff.load()
    days = Days(today=today or timezone.localdate(), calendar=WorkCalendar.load())
    chosen = _choose(missing, _candidates(DEMO_TOWNSHIP, days.today), staff.clerk, days.today)
    created = 0
    for scenario in missing:
        if scenario.key not in chosen:
            log(f"  {scenario.key}: 没有找到符合条件的家庭，跳过")
            continue
        candidate, programmes = chosen[scenario.key]
        accepted = _accepted_on(scenario, days)
        try:
            with transaction.atomic():
                data = _application(scenario, candidate.data, candidate.plan, programmes, accepted)
                case = case_submit(
                    actor=staff.clerk, channel=Channel.WINDOW, idempotency_key=scenario.key, data=data, on=accepted
                )
                _walk(scenario, case, staff, days)
        except (CaseError, wf.WorkflowError, CheckRefused) as exc:
            log(f"  {scenario.key}: 未能生成（{exc.message}），跳过")
            continue
        created += 1
        log(f"  {scenario.key}: {case.reference} {'、'.join(programmes)}：{STAGE_LABELS[scenario.stage]}")
    return created
