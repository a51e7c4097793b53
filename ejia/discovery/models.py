"""主动发现: scan runs over the whole registry and the leads they find.

A lead is a household that the rules say is likely (or possibly) eligible for a programme it
neither receives nor has applied for; or a family a grid worker saw and reported, with or
without an ID number. One open lead per (household, programme): a re-run updates it, and
closes it when its reason went away.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from ejia.core.models import BaseModel


class ScanRun(BaseModel):
    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("比对中")
        FINISHED = "finished", _("已完成")
        FAILED = "failed", _("失败")

    # The subtree scanned (a county, or the city for the nightly run); leads outside it are
    # neither updated nor closed by this run.
    area = models.ForeignKey("accounts.Division", on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    on = models.DateField(_("比对基准日"))
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    households = models.PositiveIntegerField(_("比对家庭数"), default=0)
    members = models.PositiveIntegerField(_("比对人数"), default=0)
    candidates = models.PositiveIntegerField(_("初筛家庭数"), default=0)
    leads_new = models.PositiveIntegerField(_("新线索"), default=0)
    leads_updated = models.PositiveIntegerField(_("更新线索"), default=0)
    # Of the leads found again, those whose household was not explained again (nothing it is
    # explained from changed: not written, `selectors.lead_last_found`) or whose explanation came
    # out the same (only `last_run` moved).
    leads_unchanged = models.PositiveIntegerField(_("未变化线索"), default=0)
    leads_closed = models.PositiveIntegerField(_("自动关闭线索"), default=0)
    # {"export": s, "evaluate": s, "explain": s, "upsert": s, "total": s, "peak_rss_mb": n}
    timings = models.JSONField(default=dict, blank=True)
    # {programme code: open leads after the run}
    by_programme = models.JSONField(default=dict, blank=True)
    # [{"code", "name", "why"}]: department sources without a committed snapshot.
    failed_sources = models.JSONField(default=list, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["area"], condition=Q(status__in=["queued", "running"]), name="scanrun_one_open_per_area"
            )
        ]

    def __str__(self) -> str:
        return f"主动发现比对 {self.area_id} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class LeadStatus(models.TextChoices):
    OPEN = "open", _("待分派")
    ASSIGNED = "assigned", _("待走访")
    APPLIED = "applied", _("已发起申请")
    DECLINED = "declined", _("群众不申请")
    NOT_ELIGIBLE = "not_eligible", _("走访后不符合")
    LAPSED = "lapsed", _("线索已消失")


OPEN_STATUSES = (LeadStatus.OPEN, LeadStatus.ASSIGNED)


class Lead(BaseModel):
    class Source(models.TextChoices):
        SCAN = "scan", _("数据比对")
        REPORT = "report", _("网格员上报")

    class Likelihood(models.TextChoices):
        LIKELY = "likely", _("可能符合")
        POSSIBLE = "possible", _("需要核实")

    source = models.CharField(max_length=10, choices=Source.choices)
    status = models.CharField(max_length=14, choices=LeadStatus.choices, default=LeadStatus.OPEN, db_index=True)
    # The village (or, for a report without a known village, the township) the lead belongs to.
    division = models.ForeignKey("accounts.Division", on_delete=models.PROTECT, related_name="+")
    household = models.ForeignKey(
        "registry.Household", null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
    programme = models.ForeignKey(
        "catalogue.Programme", null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
    likelihood = models.CharField(max_length=10, choices=Likelihood.choices, blank=True)
    amount_fen = models.BigIntegerField(null=True, blank=True)
    # The members a member programme is for: [{"ref": person public id, "name"}].
    persons = models.JSONField(default=list, blank=True)
    # The plan's explanation: [{"label", "result": true/false/null, "explanation"}].
    reasons = models.JSONField(default=list, blank=True)
    # The facts behind them: [{"label", "value", "who", "source"}]; missing facts by label.
    facts = models.JSONField(default=list, blank=True)
    unknown_labels = models.JSONField(default=list, blank=True)
    # The scan's `lead_fingerprint` of the explanation the lead was written from: the same
    # value on the next scan means the lead would come out identical, so it is not rewritten.
    fingerprint = models.CharField(max_length=32, blank=True, editable=False)
    first_run = models.ForeignKey(ScanRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # The run that last explained the lead (created, rewritten, or found it the same); a later run
    # that left its household alone does not write it: `selectors.lead_last_found` derives the
    # last run that found it.
    last_run = models.ForeignKey(ScanRun, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    # 网格员上报: what the grid worker wrote down (the ID number is optional and not kept here).
    reported_name = models.CharField(_("姓名"), max_length=40, blank=True)
    reported_address = models.CharField(_("住址"), max_length=200, blank=True)
    reported_seen = models.TextField(_("看到的情况"), blank=True)
    reported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="leads_assigned"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    close_reason = models.CharField(_("说明"), max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "programme"],
                condition=Q(status__in=["open", "assigned"]),
                name="lead_one_open_per_household_programme",
            ),
            models.CheckConstraint(
                condition=Q(source="report") | (Q(household__isnull=False) & Q(programme__isnull=False)),
                name="lead_scan_names_household_and_programme",
            ),
        ]
        indexes = [models.Index(fields=["division", "status"], name="lead_division_status")]

    def __str__(self) -> str:
        return f"线索 {self.public_id}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def title(self) -> str:
        if self.household_id is not None:
            head = self.household.head()
            return head.name if head else self.household.address
        return self.reported_name or self.reported_address


class WhatIfRun(BaseModel):
    """影响测算: a draft version of a programme against the version in force, evaluated over the
    registry and the latest committed department snapshots (the discovery export), before the
    draft is published. The result is a diff per household, summed by county and township."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("测算中")
        FINISHED = "finished", _("已完成")
        FAILED = "failed", _("失败")

    programme = models.ForeignKey("catalogue.Programme", on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey("catalogue.ProgrammeVersion", on_delete=models.PROTECT, related_name="+")
    # The draft as it was when the run was asked for: a later edit makes the result stale.
    version_updated_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    on = models.DateField(_("测算基准日"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When the export the run read was written, and whether it was reused from an earlier run.
    export_at = models.DateTimeField(null=True, blank=True)
    export_reused = models.BooleanField(default=False)
    # {"households", "before", "after", "totals": {...}, "counties": [...], "snapshots": [...]}
    result = models.JSONField(default=dict, blank=True)
    # {"export": s, "evaluate": s, "diff": s, "total": s}
    timings = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"影响测算 {self.programme_id} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
