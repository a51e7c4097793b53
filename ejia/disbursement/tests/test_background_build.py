"""Batches are built by a background worker; the page follows the progress and resumes a build
whose worker died, from where it stopped."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone

from ejia.disbursement.batches import batch_build
from ejia.disbursement.models import PaymentBatch, PaymentItem, PaymentLine
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tasks import run_batch_build
from ejia.disbursement.tests.conftest import MAY, household

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(settings):
    """Tasks are queued, not run: the test plays the worker."""
    from django_tasks import task_backends

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    backend = task_backends["default"]
    backend.clear()
    return backend


def _households(dave, programmes, n):
    for _ in range(n):
        entitlement_create(
            actor=dave, household=household(), programme=programmes["dibao"], amount_fen=60000, start_month=MAY
        )


def test_the_build_runs_in_the_background_and_the_page_shows_its_progress(client, dave, programmes, queued):
    _households(dave, programmes, 5)
    client.force_login(dave)
    response = client.post(reverse("disbursement:batch_list"), {"county": "371602", "period": "2026-05"})
    batch = PaymentBatch.objects.get()
    assert response["Location"] == reverse("disbursement:batch_detail", args=[batch.public_id])
    assert batch.status == PaymentBatch.Status.BUILDING and not PaymentLine.objects.exists()
    assert [r.task.name for r in queued.results] == [run_batch_build.name]
    page = client.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 2s"' in page and "后台生成中" in page and 'data-testid="total">5<' in page
    assert "继续生成" not in page

    # The worker does part of the job, then dies; the poll shows how far it got.
    batch_build(actor=dave, county="371602", period=MAY, chunk_size=2, max_chunks=1)
    poll = client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert "HX-Refresh" not in poll and 'data-testid="done">2<' in poll.content.decode()
    PaymentBatch.objects.filter(pk=batch.pk).update(updated_at=timezone.now() - dt.timedelta(minutes=5))
    page = client.get(response["Location"]).content.decode()
    assert "后台生成似乎已中断" in page
    queued.clear()
    client.post(reverse("disbursement:batch_resume", args=[batch.public_id]))
    [result] = queued.results
    run_batch_build.call(*result.args, **result.kwargs)
    batch.refresh_from_db()
    assert batch.status == PaymentBatch.Status.BUILT and batch.line_count == 5 and PaymentItem.objects.count() == 5
    poll = client.get(response["Location"], HTTP_HX_REQUEST="true")
    assert poll["HX-Refresh"] == "true"
    page = client.get(response["Location"]).content.decode()
    assert "后台生成中" not in page and "须由生成人以外的另一位工作人员复核发放" in page


def test_a_failed_build_says_why_and_another_reviewer_resumes_it(client, dave, grace, programmes, queued):
    from ejia.accounts.models import Role

    _households(dave, programmes, 2)
    client.force_login(dave)
    client.post(reverse("disbursement:batch_list"), {"county": "371602", "period": "2026-05"})
    batch = PaymentBatch.objects.get()
    # Before the worker starts, dave is moved off pay duty: the build cannot run as him.
    dave.roles.filter(role=Role.COUNTY_REVIEWER).delete()
    [result] = queued.results
    with pytest.raises(PermissionDenied):
        run_batch_build.call(*result.args, **result.kwargs)
    client.force_login(grace)
    page = client.get(reverse("disbursement:batch_detail", args=[batch.public_id])).content.decode()
    assert "生成出错（PermissionDenied）" in page and "继续生成" in page
    queued.clear()
    client.post(reverse("disbursement:batch_resume", args=[batch.public_id]))
    run_batch_build.call(*queued.results[0].args, **queued.results[0].kwargs)
    batch.refresh_from_db()
    assert batch.status == PaymentBatch.Status.BUILT and batch.line_count == 2 and not batch.build_error
    assert batch.prepared_by == dave  # the batch is still his: grace may release it
