"""Department data sources and what they delivered (家庭经济状况核对 — data exchange).

A `DataSource` is one department's data set with a declared schema (Chinese headers → typed
fields). Offline exchange loads a department file into a `SourceSnapshot`; accepted rows become
`SourceRecord`s keyed by the person's ID blind index, refused rows become `RejectedRow`s with
Chinese reasons, so accepted + rejected = rows in the file. ID numbers are never stored in
plaintext here: records hold the blind index and an AES-GCM ciphertext, refused rows the
masked form.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ejia.core.models import BaseModel

# Must equal ejia.registry.models.ID_PURPOSE: records join persons on the same blind index.
PERSON_INDEX_PURPOSE = "person.id_number"
SOURCE_ID_PURPOSE = "source.id_number"


class SourceKind(models.TextChoices):
    POPULATION = "population", _("户籍人口")
    VEHICLE = "vehicle", _("机动车")
    REAL_ESTATE = "real_estate", _("不动产")
    BUSINESS = "business", _("市场主体")
    SOCIAL_INSURANCE = "social_insurance", _("社会保险及养老金")
    UNEMPLOYMENT = "unemployment", _("失业登记")
    PROVIDENT_FUND = "provident_fund", _("住房公积金")
    TAX = "tax", _("个人所得税")
    DEPOSIT = "deposit", _("存款及理财")
    MEDICAL = "medical", _("医疗费用")
    DISABILITY = "disability", _("残疾人证")
    CIVIL = "civil", _("婚姻及死亡登记")


class ColumnType(models.TextChoices):
    ID_NUMBER = "id_number", _("身份证号码")
    DATE = "date", _("日期")
    MONEY_YUAN = "money_yuan", _("金额（元）")
    DECIMAL = "decimal", _("小数")
    INT = "int", _("整数")
    TEXT = "text", _("文本")
    CODE = "code", _("代码")


class DataSource(BaseModel):
    """One department data set. `columns` is the declared schema, a list of
    {"header", "field", "type", "required", "codes"?, "aliases"?, "mask"?}; exactly one column
    has "key": true — the person's ID number the records are keyed by."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(_("数据源"), max_length=80)
    department = models.CharField(_("提供部门"), max_length=80)
    kind = models.CharField(_("类别"), max_length=20, choices=SourceKind.choices)
    columns = models.JSONField(default=list)
    sort_order = models.PositiveSmallIntegerField(default=0)
    offline_enabled = models.BooleanField(_("线下交换"), default=True)
    online_enabled = models.BooleanField(_("线上接口"), default=False)
    base_url = models.CharField(_("接口地址"), max_length=200, blank=True)
    timeout_seconds = models.FloatField(default=3.0)
    retries = models.PositiveSmallIntegerField(default=2)
    rate_limit_per_second = models.FloatField(default=20.0)

    class Meta:
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return f"{self.name}（{self.department}）"

    @property
    def key_column(self) -> dict:
        return next(c for c in self.columns if c.get("key"))


class SourceSnapshot(BaseModel):
    class Status(models.TextChoices):
        ANALYSING = "analysing", _("正在校验")
        PREVIEW = "preview", _("待确认")
        COMMITTING = "committing", _("正在入库")
        COMMITTED = "committed", _("已入库")
        SUPERSEDED = "superseded", _("已被新批次替代")
        REFUSED = "refused", _("文件被拒绝")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"
        ONLINE = "online", _("线上接口")

    source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="snapshots")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    committed_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PREVIEW)
    file_name = models.CharField(max_length=200)
    file_format = models.CharField(max_length=8, choices=Format.choices)
    file_size = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    encoding = models.CharField(max_length=20, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_accepted = models.PositiveIntegerField(default=0)
    rows_rejected = models.PositiveIntegerField(default=0)
    rows_blank = models.PositiveIntegerField(default=0)
    file_header = models.JSONField(default=list, blank=True)  # headers as in the file (for the refused-rows report)
    ignored_columns = models.JSONField(default=list, blank=True)
    # Where the uploaded file waits between preview and commit (deleted on commit).
    staged_path = models.CharField(max_length=300, blank=True)
    # Why the background analysis refused the file, or why the last commit failed (Chinese).
    error = models.CharField(max_length=300, blank=True)
    # The operator's reason for committing a file far smaller than the current snapshot
    # (see verification/guard.py).
    override_reason = models.CharField(_("低于比例入库的原因"), max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["source"], condition=Q(status="committed"), name="snapshot_one_committed_per_source"
            ),
            models.CheckConstraint(
                condition=Q(rows_total=models.F("rows_accepted") + models.F("rows_rejected")),
                name="snapshot_rows_add_up",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source.code} {self.file_name} ({self.get_status_display()})"


class SourceRecord(models.Model):
    """One accepted row. `data` holds the typed fields (money in fen, dates ISO), never a
    plaintext ID number; other ID-like columns are kept masked or as blind indexes."""

    snapshot = models.ForeignKey(SourceSnapshot, on_delete=models.CASCADE, related_name="records")
    row_number = models.PositiveIntegerField()
    person_index = models.CharField(max_length=64)
    id_ciphertext = models.TextField()
    data = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["person_index", "snapshot"], name="sourcerecord_person")]


class RejectedRow(models.Model):
    snapshot = models.ForeignKey(SourceSnapshot, on_delete=models.CASCADE, related_name="rejected_rows")
    row_number = models.PositiveIntegerField()
    cells = models.JSONField(default=list)  # the row as read, ID numbers masked
    reasons = models.JSONField(default=list)  # Chinese, one per problem

    class Meta:
        ordering = ["row_number"]
        indexes = [models.Index(fields=["snapshot", "row_number"], name="rejectedrow_snapshot")]


class SourceCircuit(models.Model):
    """Per-source state of the online adapter, shared by every process through the database:
    the circuit breaker (consecutive failures, open until) and the rate limiter's next slot."""

    class State(models.TextChoices):
        CLOSED = "closed", _("正常")
        OPEN = "open", _("熔断中")
        HALF_OPEN = "half_open", _("试探恢复")

    source = models.OneToOneField(DataSource, on_delete=models.CASCADE, related_name="circuit")
    state = models.CharField(max_length=10, choices=State.choices, default=State.CLOSED)
    consecutive_failures = models.PositiveIntegerField(default=0)
    open_until = models.DateTimeField(null=True, blank=True)
    next_slot_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)


class CheckStatus(models.TextChoices):
    RUNNING = "running", _("核对中")
    COMPLETE = "complete", _("已完成")
    PARTIAL = "partial", _("部分数据源失败")


class VerificationCheck(BaseModel):
    """One 一键核对: every current member of one household against every data source.

    Each source answers on its own (`CheckSource`); when the last one has answered the
    findings are turned into verified facts with provenance (`facts`) and the differences
    from what was declared (`differences`). `reference` names what asked for the check — a
    case's 受理号, or a re-verification batch — without this app knowing about cases.
    """

    class Purpose(models.TextChoices):
        APPLICATION = "application", _("申请核对")
        REVIEW = "review", _("年度复核")

    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="verification_checks")
    purpose = models.CharField(max_length=12, choices=Purpose.choices, default=Purpose.APPLICATION)
    reference = models.CharField(_("关联业务"), max_length=40, blank=True, db_index=True)
    reason = models.CharField(_("查询事由"), max_length=200)
    status = models.CharField(max_length=10, choices=CheckStatus.choices, default=CheckStatus.RUNNING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    # [{"person": uuid, "name", "masked_id", "relation"}] — the members checked, never an ID number.
    members = models.JSONField(default=list)
    # What the applicant declared: {"household": {fact: value}, "members": {person uuid: {fact: value}}}.
    declared = models.JSONField(default=dict)
    # Verified facts with provenance: {"household": {fact: {"value", "sources", "as_of", "note"}},
    # "members": {person uuid: {fact: {...}}}}; written when every source has answered.
    facts = models.JSONField(default=dict)
    differences = models.JSONField(default=list)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"核对 {self.reference or self.public_id}"

    @property
    def is_finished(self) -> bool:
        return self.status != CheckStatus.RUNNING


class CheckSource(models.Model):
    """One source's answer within a check: pending → running → done | failed. A failed source
    is never read as "nothing found"."""

    class Status(models.TextChoices):
        PENDING = "pending", _("等待查询")
        RUNNING = "running", _("查询中")
        DONE = "done", _("已返回")
        FAILED = "failed", _("查询失败")

    class Mode(models.TextChoices):
        SNAPSHOT = "snapshot", _("本地交换数据")
        ONLINE = "online", _("线上接口")

    verification = models.ForeignKey(VerificationCheck, on_delete=models.CASCADE, related_name="sources")
    source = models.ForeignKey(DataSource, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.SNAPSHOT)
    snapshot = models.ForeignKey(SourceSnapshot, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The date the department's data speaks for (snapshot commit day, or the answer's as_of).
    as_of = models.DateField(null=True, blank=True)
    # {person uuid: [record data, …]} — typed fields as imported, no plaintext ID number.
    findings = models.JSONField(default=dict)
    error = models.CharField(max_length=300, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    runs = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    elapsed_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["verification", "source__sort_order", "source__code"]
        constraints = [models.UniqueConstraint(fields=["verification", "source"], name="checksource_one_per_source")]

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.PENDING, self.Status.RUNNING)


class ReverificationBatch(BaseModel):
    """年度复核批量核对: every current recipient household of one county checked against the
    departments' committed snapshots in one background job. Households whose verified facts
    no longer meet the rule of the programme they receive become `ReverificationFlag`s."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("核对中")
        FINISHED = "finished", _("已完成")
        FAILED = "failed", _("失败")

    county = models.ForeignKey(
        "accounts.Division", on_delete=models.PROTECT, related_name="+", verbose_name=_("县（市、区）")
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    on = models.DateField(_("核对基准日"))
    total = models.PositiveIntegerField(_("待核对家庭"), default=0)
    done = models.PositiveIntegerField(_("已核对家庭"), default=0)
    flagged = models.PositiveIntegerField(_("需复核家庭"), default=0)
    persons = models.PositiveIntegerField(_("核对人数"), default=0)
    # [{"code", "name", "why"}]: sources that could not be asked; their facts stay as registered.
    failed_sources = models.JSONField(default=list, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            # One open batch per county: a second click (or a second clerk) joins the running one.
            models.UniqueConstraint(
                fields=["county"],
                condition=Q(status__in=["queued", "running"]),
                name="reverification_one_open_per_county",
            ),
            models.CheckConstraint(condition=Q(done__lte=models.F("total")), name="reverification_done_within_total"),
        ]

    def __str__(self) -> str:
        return f"复核批次 {self.county_id} {self.created_at:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if not self.is_open else 0
        return min(100, self.done * 100 // self.total)


class ReverificationFlag(models.Model):
    """One household × programme that the batch found no longer (or no longer surely) eligible."""

    class Outcome(models.TextChoices):
        NOT_ELIGIBLE = "not_eligible", _("不再符合条件")
        POSSIBLY = "possibly_eligible", _("无法确认是否符合")

    class Resolution(models.TextChoices):
        # The reviewer looked (papers, a visit) and the verified data does not change the
        # entitlement, e.g. the car was scrapped after the department's data date.
        KEPT = "kept", _("核实后继续享受")
        # The entitlement was suspended, adjusted or ended through 动态管理.
        ACTED = "acted", _("已调整、暂停或终止待遇")

    batch = models.ForeignKey(ReverificationBatch, on_delete=models.CASCADE, related_name="flags")
    household = models.ForeignKey("registry.Household", on_delete=models.PROTECT, related_name="+")
    programme_code = models.CharField(max_length=50)
    programme_name = models.CharField(_("项目"), max_length=80)
    status_kind = models.CharField(_("救助身份"), max_length=24)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    # The engine's explanations of the criteria no longer met (Chinese), or of the missing facts.
    reasons = models.JSONField(default=list)
    # Registered against verified, as findings.differences writes them.
    differences = models.JSONField(default=list)
    # What the reviewer made of it; blank while it waits (待处理).
    resolution = models.CharField(_("处理结果"), max_length=10, choices=Resolution.choices, blank=True)
    resolution_note = models.TextField(_("处理说明"), blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "household", "programme_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["batch", "household", "programme_code"], name="reverificationflag_one_per_programme"
            )
        ]
