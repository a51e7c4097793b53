"""Monthly summary tables of the dashboards (issue #19): rebuilt from the raw tables by
ejia/dashboards/refresh.py, read by the dashboard pages only. Never edited by hand."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class PaymentMonthly(models.Model):
    """Money of one payment month for one county and one programme, by what the bank answered.
    The month is the period the money is for (PaymentItem.period), so arrears count in the month
    they were owed for."""

    month = models.DateField(_("月份"))
    county_code = models.CharField(max_length=6)
    programme = models.ForeignKey("catalogue.Programme", on_delete=models.CASCADE, related_name="+")
    department_code = models.CharField(max_length=20)
    households = models.IntegerField(default=0)
    due_fen = models.BigIntegerField(default=0)
    paid_fen = models.BigIntegerField(default=0)
    pending_fen = models.BigIntegerField(default=0)
    held_fen = models.BigIntegerField(default=0)
    failed_fen = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["month", "county_code", "programme"], name="paymentmonthly_one_row"),
        ]


class RecipientMonthly(models.Model):
    """Entitlements in force during one month (start ≤ month ≤ end, not ended before it) for one
    county and programme, by status at refresh time."""

    month = models.DateField(_("月份"))
    county_code = models.CharField(max_length=6)
    programme = models.ForeignKey("catalogue.Programme", on_delete=models.CASCADE, related_name="+")
    department_code = models.CharField(max_length=20)
    entitlements = models.IntegerField(default=0)
    households = models.IntegerField(default=0)
    monthly_fen = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["month", "county_code", "programme"], name="recipientmonthly_one_row"),
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
