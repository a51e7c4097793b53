"""The summaries agree with the raw payment rows they are computed from; refresh is idempotent
and a failed month is recorded, not raised."""

from __future__ import annotations

import pytest
from django.db.models import Sum

from ejia.core.models import AuditEvent
from ejia.dashboards.models import AreaPopulation, PaymentMonthly, RecipientMonthly, RefreshRun
from ejia.dashboards.refresh import refresh
from ejia.dashboards.tasks import refresh_dashboards
from ejia.disbursement.models import PaymentItem
from ejia.disbursement.tests.conftest import MAY
from ejia.registry.models import Household

pytestmark = pytest.mark.django_db


def test_summaries_match_the_raw_rows_at_every_level_and_refresh_is_idempotent(answered):
    assert RefreshRun.objects.get(trigger="bank_return").status == RefreshRun.Status.DONE
    [run] = refresh(months=[MAY], trigger="test")
    assert run.status == RefreshRun.Status.DONE
    dibao = PaymentMonthly.objects.get(month=MAY, area_code="371602", programme=answered["dibao"])
    assert dibao.level == "county" and dibao.parent_code == "371600"
    assert (dibao.households, dibao.due_fen) == (3, 60000 + 121200 + 50000)
    assert (dibao.paid_fen, dibao.failed_fen, dibao.held_fen, dibao.pending_fen) == (60000, 121200, 50000, 0)
    disability = PaymentMonthly.objects.get(
        month=MAY, area_code="371602", programme=answered["disability_living_subsidy"]
    )
    assert (disability.households, disability.paid_fen) == (1, 22900)
    # Every level holds the same totals: recomputed straight from the payment items.
    raw = PaymentItem.objects.filter(period=MAY).aggregate(t=Sum("amount_fen"))["t"]
    for level in ("city", "county", "township", "village"):
        rows = PaymentMonthly.objects.filter(month=MAY, level=level, programme__isnull=False)
        assert rows.aggregate(t=Sum("due_fen"))["t"] == raw, level
    # The "any programme" row counts a household with two programmes once.
    city = PaymentMonthly.objects.get(month=MAY, area_code="371600", programme=None)
    assert (city.households, city.due_fen) == (3, raw)
    recipients = RecipientMonthly.objects.get(month=MAY, area_code="371600", programme=answered["dibao"])
    assert (recipients.entitlements, recipients.households, recipients.monthly_fen) == (3, 3, 231200)
    per_person = RecipientMonthly.objects.get(
        month=MAY, area_code="371600", programme=answered["disability_living_subsidy"]
    )
    assert (per_person.households, per_person.persons) == (1, 1)
    population = AreaPopulation.objects.get(month=MAY, area_code="371600")
    assert population.households == Household.objects.count() and population.persons >= 3

    before = sorted(
        PaymentMonthly.objects.filter(month=MAY).values_list("area_code", "programme_id", "due_fen"), key=str
    )
    refresh_dashboards.enqueue(trigger="again", months=[MAY.isoformat()])
    after = sorted(
        PaymentMonthly.objects.filter(month=MAY).values_list("area_code", "programme_id", "due_fen"), key=str
    )
    assert after == before
    assert AuditEvent.objects.filter(action="dashboards.refresh", object_id="2026-05-01", actor=None).count() == 3


def test_a_failed_month_is_recorded_and_not_raised(answered, monkeypatch):
    from ejia.dashboards import refresh as module

    def broken(month, tree):
        raise RuntimeError("数据库连接中断")

    refresh(months=[MAY], trigger="test")
    monkeypatch.setattr(module, "PARTS", [module.Part("money", (PaymentMonthly,), broken), *module.PARTS[1:]])
    kept = PaymentMonthly.objects.filter(month=MAY).count()
    [run] = refresh(months=[MAY], trigger="test")
    assert run.status == RefreshRun.Status.FAILED and "数据库连接中断" in run.error
    # The month keeps what the last good refresh wrote, all parts of it.
    assert kept > 0 and PaymentMonthly.objects.filter(month=MAY).count() == kept
    assert RecipientMonthly.objects.filter(month=MAY).exists()


def test_a_refresh_already_waiting_is_not_queued_again(db, settings, django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    from ejia.dashboards.tasks import enqueue_after_commit

    settings.TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default", "bulk"]}}
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_after_commit(trigger="decision", months=[MAY], parts=["cases", "backlog"])
        enqueue_after_commit(trigger="decision", months=[MAY], parts=["backlog", "cases"])
        enqueue_after_commit(trigger="import", months=[MAY], parts=["data"])
    assert DBTaskResult.objects.count() == 2
    # Once the waiting one has started, a new change queues a new refresh (it may come too late
    # for the running one).
    DBTaskResult.objects.update(status="RUNNING")
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_after_commit(trigger="decision", months=[MAY], parts=["cases", "backlog"])
    assert DBTaskResult.objects.count() == 3


def test_a_batch_refreshes_the_months_its_arrears_are_for(dave, grace, programmes, django_capture_on_commit_callbacks):
    """A 低保 decided in July that pays from May: July's batch carries May and June as 补发, and
    the dashboards count them in May and June as soon as the batch is released."""
    from ejia.disbursement.batches import batch_build, batch_release
    from ejia.disbursement.services import entitlement_create
    from ejia.disbursement.tests.conftest import household

    july = MAY.replace(month=7)
    entitlement_create(
        actor=dave, household=household(), programme=programmes["dibao"], amount_fen=50000, start_month=MAY
    )
    with django_capture_on_commit_callbacks(execute=True):
        batch_release(actor=grace, batch=batch_build(actor=dave, county="371602", period=july))
    for month in (MAY, MAY.replace(month=6), july):
        row = PaymentMonthly.objects.get(month=month, area_code="371600", programme=programmes["dibao"])
        assert row.due_fen == 50000 and row.pending_fen == 50000
    may = PaymentMonthly.objects.get(month=MAY, area_code="371600", programme=programmes["dibao"])
    assert may.arrears_fen == 50000
