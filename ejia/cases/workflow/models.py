"""内部流转: procedure templates (data), the procedure each request walks, and what
happened on the way (home visits, appraisals, self-care assessments, public notices,
objections, decisions, the joint review and its one decision notice). Messages to the
applicant go through the platform's outbox (ejia.core.outbox).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ejia.accounts.models import Department, Division, OrgUnit, Role
from ejia.core.models import BaseModel


class UnitLevel(models.TextChoices):
    VILLAGE = "village", _("村（社区）工作站")
    TOWNSHIP = "township", _("乡镇（街道）工作平台")
    COUNTY_CENTRE = "county_centre", _("县级救助管理服务中心")
    DEPARTMENT = "department", _("职能部门")


class ProcedureTemplate(BaseModel):
    """A programme's procedure: the ordered steps a request walks (办理流程)."""

    programme = models.ForeignKey("catalogue.Programme", on_delete=models.PROTECT, related_name="procedures")
    version = models.PositiveIntegerField(default=1)
    name = models.CharField(max_length=80)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["programme", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "version"], name="proceduretemplate_unique_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class ProcedureStep(models.Model):
    template = models.ForeignKey(ProcedureTemplate, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    key = models.SlugField(max_length=40)
    name = models.CharField(max_length=40)
    unit_level = models.CharField(max_length=16, choices=UnitLevel.choices)
    role = models.CharField(max_length=20, choices=Role.choices)
    deadline_days = models.PositiveSmallIntegerField(help_text="办理时限（工作日）")
    needs_verification = models.BooleanField(default=False)
    needs_home_visit = models.BooleanField(default=False)
    needs_appraisal = models.BooleanField(default=False)
    needs_public_notice = models.BooleanField(default=False)
    needs_self_care_assessment = models.BooleanField(default=False)
    decides = models.BooleanField(default=False)

    class Meta:
        ordering = ["template", "order"]
        constraints = [
            models.UniqueConstraint(fields=["template", "order"], name="procedurestep_unique_order"),
            models.UniqueConstraint(fields=["template", "key"], name="procedurestep_unique_key"),
        ]

    def __str__(self) -> str:
        return f"{self.order}. {self.name}"


class ProcedureState(models.TextChoices):
    PENDING = "pending", _("办理中")
    IN_NOTICE = "in_notice", _("公示中")
    APPROVED = "approved", _("已批准")
    REFUSED = "refused", pgettext_lazy("outcome", "不予批准")
    WITHDRAWN = "withdrawn", _("已撤回")


OPEN_STATES = (ProcedureState.PENDING, ProcedureState.IN_NOTICE)


class RequestProcedure(BaseModel):
    """The procedure one programme request walks. Every move locks this row."""

    request = models.OneToOneField("cases.ProgrammeRequest", on_delete=models.PROTECT, related_name="procedure")
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="procedures")
    template = models.ForeignKey(ProcedureTemplate, on_delete=models.PROTECT, related_name="+")
    step = models.ForeignKey(ProcedureStep, on_delete=models.PROTECT, related_name="+")
    state = models.CharField(max_length=12, choices=ProcedureState.choices, default=ProcedureState.PENDING)
    # Copied for scoped queues: the household's village, the programme's department, the
    # unit that must act now.
    division = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="+")
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+")
    acting_unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="procedures_to_act")
    step_started = models.DateField()
    step_due = models.DateField(db_index=True)
    # Raised on every move; a form carries the version it was drawn from (stale screens).
    version = models.PositiveIntegerField(default=1)
    escalated_to = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    escalated_at = models.DateTimeField(null=True, blank=True)
    # The one staff member of the acting unit handling it now (认领); cleared when the
    # request reaches a step that person cannot act on.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="claimed_procedures"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["step_due", "pk"]
        indexes = [models.Index(fields=["acting_unit", "state", "step_due"])]

    def __str__(self) -> str:
        return f"{self.request_id} @ {self.step.name} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class StepRecord(models.Model):
    """One thing that happened to a request's procedure (the 办理记录)."""

    procedure = models.ForeignKey(RequestProcedure, on_delete=models.CASCADE, related_name="records")
    step = models.ForeignKey(ProcedureStep, on_delete=models.PROTECT, related_name="+")
    action = models.CharField(max_length=20)
    from_state = models.CharField(max_length=12, blank=True)
    to_state = models.CharField(max_length=12)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    unit = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["procedure", "at", "pk"]


class HomeVisit(BaseModel):
    """入户调查: at least two staff visit the home together."""

    procedure = models.ForeignKey(RequestProcedure, on_delete=models.PROTECT, related_name="home_visits")
    visit_date = models.DateField(_("调查日期"))
    staff_1 = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    staff_2 = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    findings = models.TextField(_("调查情况"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-visit_date"]
        constraints = [
            models.CheckConstraint(condition=~Q(staff_1=models.F("staff_2")), name="homevisit_two_distinct_staff")
        ]


class HomeVisitPhoto(models.Model):
    visit = models.ForeignKey(HomeVisit, on_delete=models.CASCADE, related_name="photos")
    image = models.ImageField(upload_to="home_visits/%Y/%m/")


class Appraisal(BaseModel):
    """民主评议 / 群众评议 record."""

    procedure = models.ForeignKey(RequestProcedure, on_delete=models.PROTECT, related_name="appraisals")
    held_on = models.DateField(_("评议日期"))
    participants = models.PositiveSmallIntegerField(_("参加人数"))
    votes_for = models.PositiveSmallIntegerField(_("同意票数"))
    opinion = models.TextField(_("评议意见"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")


class SelfCareLevel(models.TextChoices):
    FULL = "full", _("完全自理")
    PARTIAL = "partial", _("部分自理")
    NONE = "none", _("完全不能自理")


# The six daily activities of the 特困 self-care assessment (生活自理能力评估).
DAILY_ACTIVITIES: tuple[tuple[str, str], ...] = (
    ("eating", "自主吃饭"),
    ("dressing", "自主穿衣"),
    ("transfer", "自主上下床"),
    ("toileting", "自主如厕"),
    ("walking", "室内行走"),
    ("bathing", "自主洗澡"),
)


def self_care_level(failed: int) -> str:
    if failed <= 0:
        return SelfCareLevel.FULL
    if failed <= 3:
        return SelfCareLevel.PARTIAL
    return SelfCareLevel.NONE


class SelfCareAssessment(BaseModel):
    procedure = models.ForeignKey(RequestProcedure, on_delete=models.PROTECT, related_name="self_care")
    person_name = models.CharField(_("被评估人"), max_length=40)
    assessed_on = models.DateField(_("评估日期"))
    # {"eating": true (can do), …}
    activities = models.JSONField(default=dict)
    failed_count = models.PositiveSmallIntegerField()
    level = models.CharField(max_length=10, choices=SelfCareLevel.choices)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")


class PublicNotice(BaseModel):
    """公示: a list per village of the requests reaching the notice step, 7 days."""

    NOTICE_DAYS = 7

    class Status(models.TextChoices):
        OPEN = "open", _("公示中")
        CLOSED = "closed", _("已结束")

    village = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    start_date = models.DateField()
    end_date = models.DateField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-start_date", "-pk"]


class PublicNoticeEntry(models.Model):
    """One line of a notice; only what the rules allow: masked name, size, programme, amount."""

    notice = models.ForeignKey(PublicNotice, on_delete=models.CASCADE, related_name="entries")
    procedure = models.ForeignKey(RequestProcedure, on_delete=models.PROTECT, related_name="notice_entries")
    masked_name = models.CharField(max_length=20)
    household_size = models.PositiveSmallIntegerField()
    programme_name = models.CharField(max_length=80)
    amount_fen = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["notice", "pk"]
        constraints = [models.UniqueConstraint(fields=["notice", "procedure"], name="noticeentry_unique")]


class Objection(BaseModel):
    """An objection raised during a notice; the notice step cannot close while one is open."""

    notice = models.ForeignKey(PublicNotice, on_delete=models.PROTECT, related_name="objections")
    procedure = models.ForeignKey(RequestProcedure, on_delete=models.PROTECT, related_name="objections")
    text = models.TextField(_("异议内容"))
    received_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    resolution = models.TextField(_("核实处理结果"), blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None


class Decision(BaseModel):
    class Outcome(models.TextChoices):
        APPROVED = "approved", pgettext_lazy("outcome", "批准")
        REFUSED = "refused", pgettext_lazy("outcome", "不予批准")

    procedure = models.OneToOneField(RequestProcedure, on_delete=models.PROTECT, related_name="decision")
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    amount_fen = models.BigIntegerField(null=True, blank=True)
    amount_fen_proposed = models.BigIntegerField(null=True, blank=True)
    amount_change_reason = models.TextField(blank=True)
    reasons = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome="approved") | ~Q(reasons=""), name="decision_refusal_has_reasons"
            )
        ]


class JointReview(BaseModel):
    """联合审核: the county centre looks at every request of a case together, once."""

    case = models.OneToOneField("cases.Case", on_delete=models.PROTECT, related_name="joint_review")
    unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    opinion = models.TextField(blank=True)
    reviewed_at = models.DateTimeField()


class DecisionNotice(BaseModel):
    """The one decision notice (救助决定通知书) a household receives per case."""

    case = models.OneToOneField("cases.Case", on_delete=models.PROTECT, related_name="decision_notice")
    joint_review = models.OneToOneField(JointReview, on_delete=models.PROTECT, related_name="notice")
    number = models.CharField(max_length=40, unique=True)
    issued_at = models.DateTimeField()
    # What the PDF says, frozen at issue: [{"programme", "outcome", "amount_fen", "reasons"}].
    content = models.JSONField(default=list)
