"""一卡发放 and 动态管理: entitlements, deliveries, monthly county payment batches, reviews, change reports.

Money is integer fen. A period is the first day of a month (DateField) in the database and
"YYYY-MM" at the edges. The rule that nothing is ever paid twice lives in the database: one
PaymentItem per (entitlement, period), whatever batch, line or re-issue it travels in.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ejia.accounts.models import Division
from ejia.catalogue.fields import PlanField
from ejia.core.models import BaseModel


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + (month.month - 1) + n
    return dt.date(index // 12, index % 12 + 1, 1)


def parse_period(text: str) -> dt.date:
    """'2026-05' -> date(2026, 5, 1); raises ValueError with a Chinese message."""
    try:
        year, month = str(text).strip().split("-")
        return dt.date(int(year), int(month), 1)
    except (ValueError, TypeError):
        raise ValueError(f"“{text}”不是有效的发放月份（应为 YYYY-MM）。") from None


def period_label(month: dt.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


class Entitlement(BaseModel):
    """A decided right to a benefit: an amount per period from a start month (一次性 = one period)."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("正常享受")
        SUSPENDED = "suspended", _("暂停发放")
        GRADUAL_EXIT = "gradual_exit", _("渐退期")
        ENDED = "ended", _("已终止")

    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="entitlements")
    person = models.ForeignKey(
        "registry.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="entitlements"
    )
    programme = models.ForeignKey("catalogue.Programme", on_delete=models.PROTECT, related_name="entitlements")
    request = models.ForeignKey(
        "cases.ProgrammeRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="entitlements"
    )
    # Denormalised from the household's village so a county batch is one indexed range scan.
    county_code = models.CharField(max_length=6, db_index=True)
    amount_fen = models.BigIntegerField(_("每期金额（分）"))
    # Facts and rule used at decision time, so a later rule change never rewrites history.
    facts = models.JSONField(default=dict, blank=True)
    rule_version = models.CharField(max_length=40, blank=True)
    rule_date = models.DateField(null=True, blank=True)
    start_month = models.DateField(_("起始月份"))
    # The last month paid. Before start_month = cancelled before it ever paid.
    end_month = models.DateField(_("终止月份（含）"), null=True, blank=True)
    status = models.CharField(max_length=14, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    exit_reason = models.TextField(_("终止或暂停原因"), blank=True)
    # The entitlement this one replaced (amount change, tier move): history stays readable.
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    next_review_on = models.DateField(null=True, blank=True, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["household", "programme", "start_month"]
        indexes = [models.Index(fields=["county_code", "household"], name="entitlement_county_hh")]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gte=0), name="entitlement_amount_nonnegative"),
        ]

    def __str__(self) -> str:
        return f"{self.programme_id}@{self.household_id} {self.amount_fen}"

    def pays_in(self, month: dt.date) -> bool:
        return (
            self.status != self.Status.SUSPENDED
            and self.start_month <= month
            and (self.end_month is None or month <= self.end_month)
        )


class Delivery(BaseModel):
    """Goods or a service handed over against an entitlement (实物、照料、助餐、康复、法律援助)."""

    class Kind(models.TextChoices):
        GOODS = "goods", _("实物")
        CARE = "care", _("照料护理")
        MEALS = "meals", _("助餐")
        REHABILITATION = "rehabilitation", _("康复服务")
        LEGAL_AID = "legal_aid", _("法律援助")
        OTHER_SERVICE = "other_service", _("其他服务")

    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="deliveries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    delivered_on = models.DateField(_("服务或发放日期"))
    description = models.CharField(_("内容"), max_length=200)
    quantity = models.CharField(_("数量"), max_length=40, blank=True)
    value_fen = models.BigIntegerField(_("折合金额（分）"), default=0)
    provider = models.CharField(_("提供单位"), max_length=100, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-delivered_on", "pk"]


class PaymentBatch(BaseModel):
    """One county's payments for one month (县级每月一批)."""

    class Status(models.TextChoices):
        BUILDING = "building", _("生成中")
        BUILT = "built", _("已生成，待复核发放")
        RELEASED = "released", _("已复核发放")
        EXPORTED = "exported", _("已导出银行文件")
        RECONCILED = "reconciled", _("已对账")

    county = models.ForeignKey(Division, on_delete=models.PROTECT, related_name="payment_batches")
    period = models.DateField(_("发放月份"))
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BUILDING, db_index=True)
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Resumable build: the last household id whose lines are complete.
    build_cursor = models.BigIntegerField(default=0)
    # Progress of the background build, for the page: entitlement rows walked of the county's total.
    build_total = models.PositiveIntegerField(default=0)
    build_done = models.PositiveIntegerField(default=0)
    build_error = models.CharField(max_length=300, blank=True)
    line_count = models.PositiveIntegerField(default=0)
    total_fen = models.BigIntegerField(default=0)
    held_count = models.PositiveIntegerField(default=0)
    declared_line_count = models.PositiveIntegerField(null=True, blank=True)
    declared_total_fen = models.BigIntegerField(null=True, blank=True)
    checksum = models.CharField(max_length=64, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    exported_at = models.DateTimeField(null=True, blank=True)
    return_imported_at = models.DateTimeField(null=True, blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period", "county__code"]
        constraints = [
            models.UniqueConstraint(fields=["county", "period"], name="paymentbatch_one_per_county_month"),
            models.CheckConstraint(
                condition=Q(released_by__isnull=True) | ~Q(released_by=models.F("prepared_by")),
                name="paymentbatch_two_person_rule",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.county.name} {self.period_label}"

    @property
    def period_label(self) -> str:
        return period_label(self.period)

    @property
    def reference(self) -> str:
        return f"{self.county.code[:6]}-{self.period:%Y%m}"

    @property
    def build_percent(self) -> int:
        if self.status != self.Status.BUILDING:
            return 100
        if not self.build_total:
            return 0
        return min(99, self.build_done * 100 // self.build_total)


def line_reference(line_id: int) -> str:
    """A payment line's 交易流水号, as the bank file writes it and the bank's return file names it."""
    return f"L{line_id:010d}"


class PaymentLine(models.Model):
    """One transfer to one household's registered account (一卡发放). A household has at most one
    regular line (this month, all its programmes summed) and one arrears line (补发: months due
    before the first batch that included an entitlement) per batch, and one re-issue line for
    each earlier line whose money is sent again (重新发放) — never merged into the others."""

    class Kind(models.TextChoices):
        REGULAR = "regular", _("当月发放")
        ARREARS = "arrears", _("补发")
        REISSUE = "reissue", _("重新发放")

    class Status(models.TextChoices):
        # Every state a line can be in; the batch page lists them all in this order.
        PENDING = "pending", _("待银行处理")
        PAID = "paid", _("已到账")
        MISMATCH = "mismatch", _("已到账，金额与应发不符（待确认）")
        ACCEPTED = "accepted", _("已到账，按银行金额确认")
        FAILED = "failed", _("发放失败")
        RETURNED = "returned", _("银行退回")
        HELD = "held", _("暂缓（未进入银行文件）")
        REISSUED = "reissued", _("已转入后续批次重新发放")

    class HoldReason(models.TextChoices):
        NO_ACCOUNT = "no_account", _("未登记银行账户")
        NO_HOLDER = "no_holder", _("未登记户名（账户所有人）")

    # The unique (batch, household, kind) index serves lookups by batch; fewer indexes, faster builds.
    batch = models.ForeignKey(PaymentBatch, on_delete=models.PROTECT, related_name="lines", db_index=False)
    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="payment_lines")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.REGULAR)
    bank_name = models.CharField(max_length=60, blank=True)
    account_ciphertext = models.TextField(blank=True)
    account_masked = models.CharField(max_length=40, blank=True)
    holder_name = models.CharField(max_length=40, blank=True)
    amount_fen = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    # Why the line never went into the bank file (set when it was built held; kept afterwards).
    hold_reason = models.CharField(max_length=12, choices=HoldReason.choices, blank=True)
    # The bank's latest answer (PaymentReturn keeps every answer).
    bank_amount_fen = models.BigIntegerField(null=True, blank=True)
    bank_reference = models.CharField(max_length=64, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)
    # 按银行金额确认: a second person accepts what the bank paid, with a written reason.
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)
    accept_reason = models.TextField(blank=True)
    # Failed, returned or held lines are re-issued: their items move to a re-issue line of a later
    # batch — the month named when asked (reissue_period), or the next one for a held line.
    reissue_requested = models.BooleanField(default=False)
    reissue_period = models.DateField(null=True, blank=True)
    reissued_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reissued_from", db_index=False
    )

    class Meta:
        ordering = ["batch", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "household", "kind"],
                condition=Q(kind__in=["regular", "arrears"]),
                name="paymentline_one_per_household_kind",
            ),
        ]
        indexes = [
            models.Index(
                fields=["household"],
                condition=Q(reissue_requested=True, reissued_to__isnull=True),
                name="paymentline_reissue_pending",
            )
        ]

    def __str__(self) -> str:
        return f"line {self.pk} {self.amount_fen}"

    @property
    def reference(self) -> str:
        return line_reference(self.pk)

    @property
    def in_bank_file(self) -> bool:
        return not self.hold_reason

    @property
    def difference_fen(self) -> int:
        return (self.bank_amount_fen or 0) - self.amount_fen


class PaymentReturn(models.Model):
    """Every answer of the bank for a line, as imported; the latest one is the line's state."""

    line = models.ForeignKey(PaymentLine, on_delete=models.PROTECT, related_name="returns")
    status = models.CharField(max_length=10, choices=PaymentLine.Status.choices)
    bank_amount_fen = models.BigIntegerField()
    bank_reference = models.CharField(max_length=64, blank=True)
    note = models.CharField(max_length=200, blank=True)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField()
    file_sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["line", "-pk"]


class PaymentItem(models.Model):
    """One entitlement's amount for one month inside a line: the breakdown of 一卡发放."""

    line = models.ForeignKey(PaymentLine, on_delete=models.PROTECT, related_name="items")
    # Served by the unique (entitlement, period) index.
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="payment_items", db_index=False)
    period = models.DateField()
    amount_fen = models.BigIntegerField()

    class Meta:
        ordering = ["line", "pk"]
        constraints = [
            # Never twice: whatever happens, an entitlement's month appears in one item only.
            models.UniqueConstraint(fields=["entitlement", "period"], name="paymentitem_never_twice"),
        ]


class ReviewSchedule(models.Model):
    """How often a programme's recipients are reviewed (定期核查); rows, not code."""

    class HouseholdType(models.TextChoices):
        STABLE = "stable", _("收入稳定（无劳动年龄成员）")
        WORKING_AGE = "working_age", _("有劳动年龄成员或收入不稳定")

    programme = models.ForeignKey("catalogue.Programme", on_delete=models.CASCADE, related_name="review_schedules")
    household_type = models.CharField(max_length=12, choices=HouseholdType.choices, default=HouseholdType.STABLE)
    interval_months = models.PositiveSmallIntegerField(default=12)

    class Meta:
        ordering = ["programme", "household_type"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "household_type"], name="reviewschedule_unique"),
        ]


class Review(BaseModel):
    """A completed periodic review of one entitlement, with its written outcome."""

    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="reviews")
    due_on = models.DateField()
    reviewed_on = models.DateField()
    outcome = models.CharField(max_length=20)
    note = models.TextField(blank=True)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-reviewed_on"]


class Outcome(models.TextChoices):
    CONTINUE = "continue", _("继续享受")
    CHANGE_AMOUNT = "change_amount", _("调整金额")
    TIER_MOVE = "tier_move", _("梯度调整")
    GRADUAL_EXIT = "gradual_exit", _("进入渐退期")
    SUSPEND = "suspend", _("暂停")
    TERMINATE = "terminate", _("终止")


class ChangeReport(BaseModel):
    """A change in a household's situation, reported by a clerk or the citizen (变更报告)."""

    class Kind(models.TextChoices):
        # Each kind's facts and what it drives: ejia/disbursement/change_facts.py.
        INCOME_CHANGE = "income_change", _("收入变化")
        EMPLOYMENT = "employment", _("就业或失业")
        MEMBER_JOINED = "member_joined", _("家庭成员增加")
        MOVED_OUT = "moved_out", _("家庭成员迁出")
        DEATH = "death", _("家庭成员死亡")
        DISABILITY = "disability", _("残疾人证变化")
        VEHICLE = "vehicle", _("新增或处置车辆")
        PROPERTY = "property", _("房产变化")
        BUSINESS = "business", _("经营主体登记")
        ASSETS = "assets", _("存款等金融资产变化")
        MEDICAL_COSTS = "medical_costs", _("大额医疗费用")
        ILLNESS = "illness", _("重病或慢性病")
        SCHOOL_STAGE = "school_stage", _("学段变化")
        OTHER = "other", _("其他变化")

    class Channel(models.TextChoices):
        CLERK = "clerk", _("工作人员")
        CITIZEN = "citizen", _("群众本人")
        DEPARTMENT = "department", _("部门数据")

    class Status(models.TextChoices):
        OPEN = "open", _("待评估")
        EVALUATED = "evaluated", _("已评估，待决定")
        DECIDED = "decided", _("已决定")

    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="change_reports")
    person = models.ForeignKey("registry.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    channel = models.CharField(max_length=12, choices=Channel.choices)
    effective_on = models.DateField()
    # {"facts": {"household": {...}, "members": {person public id: {...}}}, "note": ...}: the new
    # facts as the engine input builder takes declared facts.
    details = models.JSONField(default=dict, blank=True)
    # Where the facts come from: declared by whom, or which department file.
    source = models.CharField(_("信息来源"), max_length=12, blank=True)
    source_detail = models.CharField(_("申报人或部门文件"), max_length=120, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    # The plans on the registry's facts (before) and with the report's facts on top (after),
    # both from the one engine input builder; None until evaluated.
    evaluation_before = PlanField(null=True, blank=True, default=None)
    evaluation = PlanField(null=True, blank=True, default=None)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    decision_reason = models.TextField(blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class Notice(BaseModel):
    """A written notice to the household (调整、暂停、终止、渐退告知书), with its reasons."""

    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="disbursement_notices")
    entitlement = models.ForeignKey(
        Entitlement, null=True, blank=True, on_delete=models.PROTECT, related_name="notices"
    )
    kind = models.CharField(max_length=16, choices=Outcome.choices)
    title = models.CharField(max_length=100)
    body = models.TextField()
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]


class Recovery(BaseModel):
    """待追回: a month paid for a person after their death (the payment was already made when the
    death became known). Staff close it with a note once recovered or waived."""

    class Status(models.TextChoices):
        OPEN = "open", _("待追回")
        CLOSED = "closed", _("已处理")

    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="recoveries")
    person = models.ForeignKey("registry.Person", on_delete=models.PROTECT, related_name="+")
    item = models.OneToOneField(PaymentItem, on_delete=models.PROTECT, related_name="recovery")
    period = models.DateField()
    amount_fen = models.BigIntegerField()
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True)
    note = models.TextField(blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["household", "period", "pk"]


class AlertReason(models.TextChoices):
    """What a department file says that matters for a recipient (动态监测)."""

    DEATH = "death", _("死亡登记")
    VEHICLE = "vehicle", _("新增车辆")
    PROPERTY = "property", _("新增房产")
    BUSINESS = "business", _("经营主体登记")
    INCOME = "income", _("收入超过登记")
    UNEMPLOYMENT = "unemployment", _("失业登记")
    MEDICAL = "medical", _("大额医疗自付费用")


class DynamicAlert(BaseModel):
    """One alert per (household, person, reason) while the reason holds: a re-import updates its
    facts instead of adding a row. The township confirms it into a change report carrying the
    facts, or dismisses it with a reason."""

    class Status(models.TextChoices):
        OPEN = "open", _("待核实")
        CONFIRMED = "confirmed", _("已转为变更报告")
        DISMISSED = "dismissed", _("已排除")

    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="dynamic_alerts")
    person = models.ForeignKey("registry.Person", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # "" for a household's alert: one key with no NULLs, so the unique index holds on PostgreSQL.
    person_key = models.CharField(max_length=36, blank=True)
    reason = models.CharField(max_length=16, choices=AlertReason.choices)
    # The changed facts, in the change report's shape, and the day they speak for.
    facts = models.JSONField(default=dict)
    effective_on = models.DateField()
    source_name = models.CharField(max_length=200)
    snapshot_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    due_on = models.DateField(_("处理期限"))
    dismiss_reason = models.TextField(blank=True)
    change_report = models.ForeignKey(
        ChangeReport, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts"
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_on", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "person_key", "reason"],
                condition=Q(status="open"),
                name="dynamicalert_one_open_per_reason",
            ),
        ]


class AlertScan(BaseModel):
    """One scan of a committed department file for recipients' changes. A scan that failed stays
    visible in the 动态管理 queue until a rerun succeeds."""

    class Status(models.TextChoices):
        RUNNING = "running", _("正在比对")
        DONE = "done", _("已完成")
        FAILED = "failed", _("比对失败")

    snapshot_id = models.BigIntegerField(db_index=True)
    source_name = models.CharField(max_length=200)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.RUNNING)
    alerts_raised = models.PositiveIntegerField(default=0)
    alerts_updated = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
