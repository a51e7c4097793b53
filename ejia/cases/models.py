"""一门受理: cases (申请件), the programmes requested inside them (子件), authorisations, drafts.

Intake half only; the workflow (routing, approvals, notices) extends these models later.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ejia.accounts.models import Division, OrgUnit
from ejia.catalogue.fields import PlanField
from ejia.core.models import BaseModel


class Channel(models.TextChoices):
    WINDOW = "window", _("窗口受理")
    STATION = "station", _("村（社区）工作站受理")
    GRID_PROXY = "grid_proxy", _("网格员代办")
    SELF_SERVICE = "self_service", _("群众自助申请")


class Need(models.TextChoices):
    """What the applicant says in plain words; helps the clerk, never decides eligibility."""

    ILLNESS = "illness", _("生病、看病花钱多")
    DISABILITY = "disability", _("家里有残疾人")
    SCHOOLING = "schooling", _("孩子上学有困难")
    HOUSING = "housing", _("住房困难（危房、无房、租房）")
    JOB_LOSS = "job_loss", _("失业、没有收入")
    DISASTER = "disaster", _("遭受灾害或意外")
    ELDERLY_CARE = "elderly_care", _("老人需要照护")
    DAILY_LIVING = "daily_living", _("基本生活困难")
    OTHER = "other", _("其他困难")


class CaseStatus(models.TextChoices):
    SUBMITTED = "submitted", _("已受理")
    WITHDRAWN = "withdrawn", _("已撤回")
    CLOSED = "closed", _("已办结")


class ReferenceCounter(models.Model):
    """The last sequence number handed out per county and day; locked to allocate the next."""

    county_code = models.CharField(max_length=6)
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["county_code", "day"], name="referencecounter_unique")]


class Case(BaseModel):
    """One application of one household, any number of programmes (申请件)."""

    # County code + date + 4-digit sequence, written 371602-20260501-0001. The hyphens matter:
    # eighteen bare digits would look like (and may even check as) a resident ID number.
    reference = models.CharField(_("受理号"), max_length=20, unique=True)
    channel = models.CharField(_("受理渠道"), max_length=12, choices=Channel.choices)
    status = models.CharField(
        _("状态"), max_length=20, choices=CaseStatus.choices, default=CaseStatus.SUBMITTED, db_index=True
    )
    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="cases")
    # The household's village at submission; scoping filters on it.
    division = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="+")
    # The home township's window, which handles the case (全市通办 routes it there).
    window = models.ForeignKey(OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="cases")
    # The unit where the application was taken (any window or station of the city); null online.
    accepted_unit = models.ForeignKey(
        OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="cases_accepted"
    )
    applicant = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="cases_applied")
    phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    needs = models.JSONField(_("困难类型"), default=list, blank=True)
    needs_note = models.TextField(_("困难情况说明"), blank=True)
    # Facts as entered at intake: {"household": {...}, "members": [{"person": uuid, "name",
    # "masked_id", "relation", "facts": {...}}]} — never a full ID number.
    declared_facts = models.JSONField(default=dict)
    # The comprehensive plan at submission (ejia.catalogue.plan.Plan, with the date used).
    plan = PlanField()
    rule_date = models.DateField()
    materials = models.JSONField(default=list, blank=True)
    idempotency_key = models.CharField(max_length=64, unique=True)
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="cases_submitted"
    )
    submitted_at = models.DateTimeField()
    # 代办: a grid worker applies on the applicant's behalf with the applicant's consent.
    proxy_consent = models.BooleanField(default=False)
    proxy_consent_signature = models.ImageField(upload_to="consents/%Y/%m/", blank=True)

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [models.Index(fields=["division", "status"])]

    def __str__(self) -> str:
        return self.reference

    @property
    def county_code(self) -> str:
        return self.reference[:6]

    @property
    def handed_over(self) -> bool:
        """Taken at a unit of another township than the household's (全市通办)."""
        township = self.division.parent
        return bool(self.accepted_unit_id and township and not self.accepted_unit.division.is_within(township))


class ProgrammeRequest(BaseModel):
    """One programme applied for inside a case (子件)."""

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("已受理")
        WITHDRAWN = "withdrawn", _("已撤回")
        APPROVED = "approved", _("已批准")
        REJECTED = "rejected", pgettext_lazy("outcome", "不予批准")

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="requests")
    # Copied from the case so the database can hold "one open request per household per programme".
    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="programme_requests")
    programme = models.ForeignKey("catalogue.Programme", on_delete=models.PROTECT, related_name="requests")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED, db_index=True)
    is_open = models.BooleanField(default=True)
    # A programme paid to a person names the member it is for, from intake on (the plan entry's person).
    person = models.ForeignKey(
        "registry.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="programme_requests"
    )
    outcome_at_intake = models.CharField(max_length=20, blank=True)
    amount_fen_proposed = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["case", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "programme"],
                condition=Q(is_open=True, person__isnull=True),
                name="programmerequest_one_open",
            ),
            # A member programme: one open request per person (two disabled members may both apply).
            models.UniqueConstraint(
                fields=["household", "programme", "person"],
                condition=Q(is_open=True, person__isnull=False),
                name="programmerequest_one_open_per_person",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case.reference} {self.programme.code}"

    @property
    def plan_key(self) -> str:
        """The key of this request's entry in the case's plan."""
        return f"{self.programme.code}:{self.person.public_id}" if self.person_id else self.programme.code

    def plan_entry(self):
        """This request's entry in the case's plan (the member's own entry for a member programme)."""
        plan = self.case.plan
        entry = plan.get(self.plan_key)
        if entry is None and not self.person_id:
            entry = next(iter(plan.for_code(self.programme.code)), None)
        return entry


class Authorisation(BaseModel):
    """An adult member's signed consent to the economic verification (授权书)."""

    class Method(models.TextChoices):
        SIGNATURE = "signature", _("屏幕手写签名")
        PHOTO = "photo", _("纸质授权书拍照")

    VALID_DAYS = 365

    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="authorisations")
    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="authorisations")
    method = models.CharField(max_length=10, choices=Method.choices)
    image = models.ImageField(upload_to="authorisations/%Y/%m/")
    signed_at = models.DateTimeField()
    valid_until = models.DateField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["case", "pk"]
        constraints = [models.UniqueConstraint(fields=["case", "person"], name="authorisation_one_per_person")]

    def valid_on(self, day: dt.date) -> bool:
        return self.signed_at.date() <= day <= self.valid_until


class IntakeDraft(BaseModel):
    """The form in progress, one per staff member, kept server-side so that an expired
    session or a reload loses nothing. The content (which holds ID numbers) is encrypted."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="intake_draft"
    )
    # Self-service drafts belong to the phone number the citizen logged in with.
    phone = models.CharField(max_length=20, blank=True)
    channel = models.CharField(max_length=12, choices=Channel.choices)
    step = models.CharField(max_length=20, default="start")
    data_ciphertext = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["phone"], condition=~Q(phone=""), name="intakedraft_one_per_phone"),
            models.CheckConstraint(condition=Q(user__isnull=False) | ~Q(phone=""), name="intakedraft_has_owner"),
        ]

    def __str__(self) -> str:
        return f"draft of {self.user_id or self.phone} at {self.step}"


class SmsCode(models.Model):
    """A one-time login code sent to a citizen's phone; only its hash is kept."""

    phone = models.CharField(max_length=20, db_index=True)
    code_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    attempts = models.PositiveSmallIntegerField(default=0)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
