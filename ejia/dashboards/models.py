"""Summary tables of the dashboards (issue #19): rebuilt from the raw tables by
ejia/dashboards/refresh.py, read by the dashboard pages only. Never edited by hand.

Every area table holds one row per area at each of the four levels (city, county, township,
village) so that a page reads the rows of one area, or of its children, by an indexed equality
and never sums raw rows: `level` is the area's level, `parent_code` the area above it. A month
is the first day of the month."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from ejia.accounts.models import Division

Level = Division.Level


class AreaRow(models.Model):
    month = models.DateField(_("月份"))
    level = models.CharField(max_length=10, choices=Level.choices)
    area_code = models.CharField(max_length=12)
    parent_code = models.CharField(max_length=12, blank=True)

    class Meta:
        abstract = True
        indexes = [
            models.Index(fields=["area_code", "month"], name="%(class)s_area"),
            models.Index(fields=["parent_code", "month"], name="%(class)s_children"),
        ]


class RecipientMonthly(AreaRow):
    """Entitlements in force during one month (start ≤ month ≤ end) for one area and programme.
    The row with no programme counts households with at least one entitlement (a household
    with two programmes is one household there, two in the programme rows)."""

    programme = models.ForeignKey(
        "catalogue.Programme", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    department_code = models.CharField(max_length=20, blank=True)
    entitlements = models.IntegerField(default=0)
    households = models.IntegerField(default=0)
    # Members receiving a per-person benefit (0 for household programmes).
    persons = models.IntegerField(default=0)
    monthly_fen = models.BigIntegerField(default=0)

    class Meta(AreaRow.Meta):
        constraints = [
            models.UniqueConstraint(fields=["month", "area_code", "programme"], name="recipientmonthly_one_row"),
        ]


class PaymentMonthly(AreaRow):
    """Money of one payment month (PaymentItem.period, so 补发 counts in the month it was owed
    for) for one area and programme, by what the bank answered. The row with no programme
    counts households paid anything."""

    programme = models.ForeignKey(
        "catalogue.Programme", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    department_code = models.CharField(max_length=20, blank=True)
    households = models.IntegerField(default=0)
    due_fen = models.BigIntegerField(default=0)
    paid_fen = models.BigIntegerField(default=0)
    pending_fen = models.BigIntegerField(default=0)
    held_fen = models.BigIntegerField(default=0)
    failed_fen = models.BigIntegerField(default=0)
    # Paid in a later month's batch than the month owed (补发), whatever the bank answered.
    arrears_fen = models.BigIntegerField(default=0)

    class Meta(AreaRow.Meta):
        constraints = [
            models.UniqueConstraint(fields=["month", "area_code", "programme"], name="paymentmonthly_one_row"),
        ]


class AreaPopulation(AreaRow):
    """Residents and households in the registry at the end of the month (written for the
    refreshed month; a past month keeps what was counted when it was last refreshed)."""

    persons = models.IntegerField(default=0)
    households = models.IntegerField(default=0)

    class Meta(AreaRow.Meta):
        constraints = [models.UniqueConstraint(fields=["month", "area_code"], name="areapopulation_one_row")]


class CaseMonthly(AreaRow):
    """Applications of one month by the household's area and the channel they came through:
    cases and programme requests received, and requests decided in the month."""

    channel = models.CharField(max_length=12)
    cases = models.IntegerField(default=0)
    requests = models.IntegerField(default=0)
    approved = models.IntegerField(default=0)
    refused = models.IntegerField(default=0)
    withdrawn = models.IntegerField(default=0)

    class Meta(AreaRow.Meta):
        constraints = [
            models.UniqueConstraint(fields=["month", "area_code", "channel"], name="casemonthly_one_row"),
        ]


class StepMonthly(AreaRow):
    """Workflow steps finished in one month, by the household's area, the programme's department
    and the step's name: how many, how many late, and a histogram of working days taken
    (`days[i]` = steps that took i working days; the last bucket holds that many or more), so
    medians and 90th percentiles of any area are read from summed histograms."""

    HISTOGRAM_BUCKETS = 61

    department_code = models.CharField(max_length=20)
    step_name = models.CharField(max_length=40)
    finished = models.IntegerField(default=0)
    late = models.IntegerField(default=0)
    days = models.JSONField(default=list)

    class Meta(AreaRow.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["month", "area_code", "department_code", "step_name"], name="stepmonthly_one_row"
            ),
        ]


class StageSnapshot(AreaRow):
    """Open requests at the moment of the month's last refresh, by the household's area, the
    programme's department, the step they wait at and the unit that must act: the backlog and
    how much of it is overdue."""

    department_code = models.CharField(max_length=20)
    step_name = models.CharField(max_length=40)
    unit_name = models.CharField(max_length=80)
    open = models.IntegerField(default=0)
    overdue = models.IntegerField(default=0)

    class Meta(AreaRow.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["month", "area_code", "department_code", "step_name", "unit_name"],
                name="stagesnapshot_one_row",
            ),
        ]


class CheckMonthly(AreaRow):
    """One-click economic checks finished in one month, by the household's area and the data
    source asked: how many, how many found a difference with what the family declared, how
    many could not be answered."""

    source_code = models.CharField(max_length=40)
    checks = models.IntegerField(default=0)
    with_differences = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)

    class Meta(AreaRow.Meta):
        constraints = [
            models.UniqueConstraint(fields=["month", "area_code", "source_code"], name="checkmonthly_one_row"),
        ]


class DiscoveryMonthly(AreaRow):
    """主动发现 and 动态管理 of one month by area: leads found, visited, turned into an
    application; grid workers' reports; alerts raised and confirmed."""

    leads_found = models.IntegerField(default=0)
    leads_visited = models.IntegerField(default=0)
    leads_applied = models.IntegerField(default=0)
    reports = models.IntegerField(default=0)
    alerts_raised = models.IntegerField(default=0)
    alerts_confirmed = models.IntegerField(default=0)

    class Meta(AreaRow.Meta):
        constraints = [models.UniqueConstraint(fields=["month", "area_code"], name="discoverymonthly_one_row")]


class ImportMonthly(models.Model):
    """Department files imported in one month (city-wide: a department's file covers its whole
    jurisdiction), by department and source: files committed or refused, rows accepted and
    rejected."""

    month = models.DateField(_("月份"))
    department_code = models.CharField(max_length=20)
    source_code = models.CharField(max_length=40)
    files = models.IntegerField(default=0)
    refused_files = models.IntegerField(default=0)
    rows = models.IntegerField(default=0)
    accepted = models.IntegerField(default=0)
    rejected = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["month", "department_code", "source_code"], name="importmonthly_one_row"),
        ]


class RefreshRun(models.Model):
    """One refresh of one month: kept so a failed refresh is visible (the business action that
    triggered it has already committed and is never undone by it)."""

    class Status(models.TextChoices):
        DONE = "done", _("完成")
        FAILED = "failed", _("失败")

    month = models.DateField(_("月份"))
    trigger = models.CharField(_("触发原因"), max_length=40)
    status = models.CharField(max_length=8, choices=Status.choices)
    rows = models.IntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at", "-pk"]
