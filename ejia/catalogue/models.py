"""救助项目库: programmes, their versioned rules, and the regional standards they name.

A programme's eligibility and amount live in `ProgrammeVersion` rows written in the rule
language (ejia.rules). A published version is frozen: decisions taken under it keep a
reference to it, so a change is always a new version with a later effective date.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from ejia.accounts.models import Department, Division
from ejia.core.models import BaseModel


class Programme(BaseModel):
    """One assistance programme of one department, as the public catalogue shows it."""

    class Category(models.TextChoices):
        BASIC_LIVING = "basic_living", _("基本生活救助")
        MEDICAL = "medical", _("医疗救助")
        EDUCATION = "education", _("教育救助")
        HOUSING = "housing", _("住房救助")
        EMPLOYMENT = "employment", _("就业救助")
        TEMPORARY = "temporary", _("临时救助")
        DISABILITY = "disability", _("残疾人帮扶")
        ELDERLY = "elderly", _("老年人帮扶")
        CHILDREN = "children", _("儿童关爱")
        DISASTER = "disaster", _("受灾人员救助")
        VETERANS = "veterans", _("退役军人帮扶")
        LEGAL = "legal", _("法律援助与司法救助")
        CHARITY = "charity", _("慈善与社会帮扶")
        OTHER = "other", _("其他帮扶")

    class Target(models.TextChoices):
        HOUSEHOLD = "household", _("以家庭为单位")
        MEMBER = "member", _("以个人为单位")

    class BenefitForm(models.TextChoices):
        MONTHLY_CASH = "monthly_cash", _("按月发放现金")
        ONE_OFF_CASH = "one_off_cash", _("一次性现金")
        PREMIUM_SUBSIDY = "premium_subsidy", _("资助参保缴费")
        FEE_WAIVER = "fee_waiver", _("费用减免或报销")
        IN_KIND = "in_kind", _("实物救助")
        SERVICE = "service", _("服务救助")
        LOAN_INTEREST = "loan_interest", _("贷款或贴息")

    class AmountPeriod(models.TextChoices):
        # What one `amount_fen` from the engine pays: per month, per year, or once.
        MONTH = "month", _("每月")
        YEAR = "year", _("每年")
        ONCE = "once", _("一次性")

    class PayFrom(models.TextChoices):
        # The first month an approved cash benefit is paid for (programme policy, not code).
        DECISION_MONTH = "decision_month", _("自批准当月起发放")
        AFTER_DECISION = "after_decision", _("自批准次月起发放")
        AFTER_ACCEPTANCE = "after_acceptance", _("自受理申请次月起发放")

    class DiscoveryMode(models.TextChoices):
        # What the 主动发现 scan makes of this programme (ejia/discovery/scan.py). "Possible"
        # is worth a visit only where a visit establishes what is missing (income, assets,
        # care needs); elsewhere it mostly means the registry does not record the condition.
        LIKELY_AND_POSSIBLE = "likely_possible", _("“可能符合”和“需要核实”的家庭都列为线索")
        LIKELY = "likely", _("只把“可能符合”的家庭列为线索")
        NEVER = "never", _("不列为主动发现线索")

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="programmes")
    category = models.CharField(max_length=20, choices=Category.choices, db_index=True)
    target = models.CharField(max_length=10, choices=Target.choices)
    # Chinese labels the public catalogue filters on: 低保家庭, 残疾人, 老年人, 学生 …
    target_groups = models.JSONField(default=list, blank=True)
    benefit_form = models.CharField(max_length=20, choices=BenefitForm.choices)
    amount_period = models.CharField(max_length=10, choices=AmountPeriod.choices, blank=True)
    # Months between this and the first batch that pays the benefit are paid then as arrears (补发).
    pay_from = models.CharField(max_length=16, choices=PayFrom.choices, default=PayFrom.DECISION_MONTH)
    # 渐退期 (梯度救助): when a recipient's income rises above the line, the benefit goes on at its
    # current amount for this many months before it ends, instead of stopping at once.
    gradual_exit = models.BooleanField(_("设渐退期"), default=False)
    gradual_exit_months = models.PositiveSmallIntegerField(_("渐退期月数"), default=0)
    # Programmes delivered without an application (paid from the recipients list), asked for
    # at the point of need (a court case, a course, a hospital) or insured are NEVER leads.
    discovery_mode = models.CharField(
        _("主动发现"), max_length=16, choices=DiscoveryMode.choices, default=DiscoveryMode.LIKELY
    )
    summary = models.CharField(max_length=200, help_text="一句话说明，群众能看懂")
    description = models.TextField(blank=True)
    how_much = models.TextField(blank=True, help_text="救助标准或金额，用群众能看懂的话写")
    legal_basis = models.TextField(blank=True)
    materials = models.JSONField(default=list, blank=True)
    # Conditions a person must meet that no data source can check; shown as "还需满足".
    unchecked_conditions = models.JSONField(default=list, blank=True)
    contact_unit = models.CharField(max_length=100, blank=True)
    contact_phone = models.CharField(max_length=40, blank=True)
    keywords = models.CharField(max_length=300, blank=True)
    # Lower-case text plus pinyin (full and initials) for substring search; kept by services.
    search_text = models.TextField(blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    sort_order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    @property
    def pays_cash(self) -> bool:
        """Cash paid through 一卡发放: an approval without an amount would pay nothing."""
        return self.benefit_form in (self.BenefitForm.MONTHLY_CASH, self.BenefitForm.ONE_OFF_CASH)


class ProgrammeVersion(BaseModel):
    """The rules of a programme from a date on. Drafts may change; published rows never do."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("草稿")
        PUBLISHED = "published", _("已发布")

    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    # [{"label": "家庭人均月收入低于低保标准", "expr": "income_per_capita_month_fen < standard(\"dibao\")"}, …]
    criteria = models.JSONField(default=list)
    amount_expr = models.TextField(blank=True)
    effective_from = models.DateField()
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    change_note = models.TextField(blank=True)

    class Meta:
        ordering = ["programme", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "number"], name="programmeversion_unique_number"),
        ]
        indexes = [models.Index(fields=["status", "effective_from"])]

    def __str__(self) -> str:
        return f"{self.programme.code} v{self.number}（{self.get_status_display()}）"

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    def save(self, *args, **kwargs) -> None:
        # Decisions cite the version they were taken under; editing a published rule would
        # silently rewrite the grounds of past decisions. Enforced here, below every service.
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values_list("status", flat=True).first()
            if stored == self.Status.PUBLISHED:
                raise ValidationError(_("已发布的版本不能修改，请新建版本。"))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self.pk is not None and type(self).objects.filter(pk=self.pk, status=self.Status.PUBLISHED).exists():
            raise ValidationError(_("已发布的版本不能删除。"))
        return super().delete(*args, **kwargs)


class Standard(BaseModel):
    """A regional amount (`standard("<kind>")` in rules) in force over a date range.

    Set at city level and overridden by a county; `urban` None applies to urban and rural
    households alike. `effective_to` is the last day in force (inclusive), None = open.
    """

    kind = models.CharField(max_length=40, db_index=True)
    division = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="standards")
    urban = models.BooleanField(null=True, blank=True)
    amount_fen = models.BigIntegerField()
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["kind", "division__code", "urban", "effective_from"]
        indexes = [models.Index(fields=["kind", "division", "effective_from"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_fen__gte=0), name="standard_amount_not_negative"),
            models.CheckConstraint(
                condition=models.Q(effective_to__isnull=True) | models.Q(effective_to__gte=models.F("effective_from")),
                name="standard_dates_ordered",
            ),
        ]

    def __str__(self) -> str:
        area = {True: "城市", False: "农村", None: "城乡"}[self.urban]
        return f"{self.kind} {self.division.name}{area} {self.amount_fen / 100:.2f}元 自{self.effective_from}"

    def in_force(self, on: dt.date) -> bool:
        return self.effective_from <= on and (self.effective_to is None or on <= self.effective_to)


class CombinationRule(BaseModel):
    """组合规则: `programme` excludes, takes precedence over, or requires `other` — for the same
    person or the same household (ejia.catalogue.combinations). Kept by the programme's
    department; every change is checked as a whole (no cycles, no contradictions) and audited."""

    class Kind(models.TextChoices):
        EXCLUDES = "excludes", _("不可同时享受")
        PRECEDES = "precedes", _("优先于（不可同时享受）")
        REQUIRES = "requires", _("须同时符合")

    class Scope(models.TextChoices):
        PERSON = "person", _("同一人")
        HOUSEHOLD = "household", _("同一家庭")

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="combination_rules")
    kind = models.CharField(_("规则"), max_length=10, choices=Kind.choices)
    other = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="+", verbose_name=_("另一项目"))
    scope = models.CharField(_("适用范围"), max_length=10, choices=Scope.choices, default=Scope.PERSON)
    note = models.CharField(_("依据或说明"), max_length=200, blank=True)

    class Meta:
        ordering = ["programme__sort_order", "kind", "other__sort_order"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "kind", "other"], name="combinationrule_unique"),
            models.CheckConstraint(condition=~models.Q(programme=models.F("other")), name="combinationrule_not_self"),
        ]

    def __str__(self) -> str:
        return f"{self.programme_id} {self.kind} {self.other_id}"
