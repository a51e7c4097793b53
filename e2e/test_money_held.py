"""Money that cannot go out is seen, not dropped: the county reviewer's home page counts what is
held, the batch page lists a household without an account and an approved aid without an
amount with their reasons, and the reviewer registers the account from there and brings the
line back into the batch before it is released."""

from __future__ import annotations

import pytest
from django.utils import timezone

from e2e.conftest import go, login, screenshot
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import Decision, RequestProcedure
from ejia.catalogue.models import Programme
from ejia.disbursement.batches import batch_build
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentLine
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import household

pytestmark = pytest.mark.e2e


@pytest.fixture
def held(catalogue, bob, dave):
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.core.outbox import templates_seed

    procedures_seed()
    templates_seed()
    month = timezone.localdate().replace(day=1)
    no_account = household(account=None)
    entitlement_create(
        actor=dave,
        household=no_account,
        programme=Programme.objects.get(code="dibao"),
        amount_fen=60000,
        start_month=month,
    )
    case = case_submit(
        actor=bob, channel=Channel.WINDOW, idempotency_key="e2e-held-1", data=application(programmes=("linshi",))
    )
    wf.procedures_start_for_case(case)
    p = RequestProcedure.objects.get(case=case)
    decision = wf.procedure_approve(
        actor=bob,
        procedure_id=p.pk,
        expected_version=p.version,
        amount_fen=50000,
        amount_change_reason="按实际困难核定",
    )
    # Approving cash without an amount is refused now; a release before that recorded some
    # (and made no entitlement for them).
    Decision.objects.filter(pk=decision.pk).update(amount_fen=None)
    Entitlement.objects.filter(request__case=case).delete()
    batch = batch_build(actor=dave, county="371602", period=month)
    return {"batch": batch, "household": no_account, "case": case}


def test_held_money_is_listed_with_reasons_and_the_account_brings_it_back(page, live_server, dave, held):
    login(page, live_server, dave)
    page.goto(live_server.url + "/staff/")
    assert page.inner_text("[data-testid=work-held_lines]") == "1"
    assert page.inner_text("[data-testid=work-held_decisions]") == "1"
    go(page, page.get_by_role("link", name="暂缓发放：已批准但未能生成待遇"))
    assert held["case"].reference in page.inner_text("[data-testid=held-decisions]")
    assert "批准时未核定金额" in page.inner_text("[data-testid=held-decisions]")
    screenshot(page, "money-held-page")

    batch = held["batch"]
    page.goto(f"{live_server.url}/staff/pay/batches/{batch.public_id}/")
    assert "未登记银行账户" in page.inner_text("[data-testid=held]")
    assert held["case"].reference in page.inner_text("[data-testid=held-decisions]")
    screenshot(page, "money-batch-held")
    go(page, "[data-testid=held] a.btn")
    head = held["household"].memberships.get().person
    page.fill("#id_bank_name", "滨州农商银行")
    page.fill("#id_account_number", "6228480000000000555")
    page.select_option("#id_holder", str(head.public_id))
    screenshot(page, "money-account-form")
    go(page, "[data-testid=account-form] button[type=submit]")
    assert f"/staff/pay/batches/{batch.public_id}/" in page.url
    go(page, page.get_by_role("button", name="重新核对账户"))
    assert "纳入本批次银行文件" in page.inner_text(".alert-success")
    line = PaymentLine.objects.get(batch=batch)
    assert line.status == PaymentLine.Status.PENDING and line.holder_name == head.name
    batch.refresh_from_db()
    assert batch.status == PaymentBatch.Status.BUILT and batch.declared_total_fen == 60000
    assert "本批次没有暂缓的明细" in page.inner_text("main")


def test_a_batch_built_in_the_background_shows_its_progress_and_the_page_follows(
    page, live_server, catalogue, dave, settings
):
    from ejia.disbursement.tasks import run_batch_build

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    month = timezone.localdate().replace(day=1)
    for _ in range(3):
        entitlement_create(
            actor=dave,
            household=household(),
            programme=Programme.objects.get(code="dibao"),
            amount_fen=60000,
            start_month=month,
        )
    login(page, live_server, dave)
    page.goto(live_server.url + "/staff/pay/")
    page.select_option("#id_county", "371602")
    go(page, "[data-testid=build-form] button[type=submit]")
    assert "正在后台生成" in page.inner_text(".alert-info")
    assert "后台生成中" in page.inner_text("[data-testid=progress]")
    screenshot(page, "money-batch-building")
    # The worker picks the job up; the page's next poll sees the end and reloads itself.
    # (The live server's thread holds its own queue: the test runs the job as the worker would.)
    batch = PaymentBatch.objects.get(period=month)  # the form offers the earliest month owed first
    assert batch.status == PaymentBatch.Status.BUILDING
    run_batch_build.call(batch.pk, dave.pk)
    page.wait_for_selector("[data-testid=release-refused]")
    assert "已生成，待复核发放" in page.inner_text("[data-testid=status]")
    assert page.locator("[data-testid=progress]").count() == 0
