"""The county reviewer looks at what the households of her county were told (the outbox),
sends a failed payment notice again, and opens the household's 360° page after its 低保
decision and first payment: the status and the money are there."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from e2e.conftest import go, login, screenshot
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.tests.checks import check_finished
from ejia.cases.workflow.tests.test_procedures import walk_dibao_to_decision
from ejia.core import outbox
from ejia.core.models import OutboxMessage
from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.models import add_months

pytestmark = pytest.mark.e2e


class BrokenBackend:
    def send(self, phone, text):
        raise ConnectionError("短信网关超时")


@pytest.fixture
def decided_and_paid(catalogue, bob, dave, settings):
    from conftest import _unit, make_staff
    from ejia.accounts.models import Role
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.verification.sources import sources_seed

    procedures_seed()
    outbox.templates_seed()
    sources_seed()
    bob2 = make_staff("bob2", _unit("371602001", "window"), Role.WINDOW_CLERK, display_name="陈刚")
    grace = make_staff("grace", _unit("371602", "centre"), Role.COUNTY_REVIEWER, display_name="孙悦")
    data = application(bank_name="滨州农商银行", account_number="6228480000000000777", phone="13805431234")
    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="e2e-outbox", data=data)
    today = dt.date(2026, 3, 2)
    p, _ = walk_dibao_to_decision(case, bob, bob2, dave, today, check_finished)
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    wf.procedure_approve(actor=dave, procedure_id=p.pk, expected_version=p.version)
    wf.joint_review_issue(actor=dave, case_id=case.pk, opinion="同意")

    # 低保 is paid from the month after the application was accepted (the programme's pay_from).
    month = add_months(timezone.localdate().replace(day=1), 1)
    batch = batch_release(actor=grace, batch=batch_build(actor=dave, county="371602", period=month))
    rows = list(csv.reader(io.StringIO(bank_file_export(actor=grace, batch=batch).content.decode("utf-8-sig"))))[6:]
    answer = io.StringIO()
    csv.writer(answer).writerows(
        [["交易流水号", "金额（元）", "结果", "银行流水号", "说明"], [rows[0][1], rows[0][5], "成功", "B1", ""]]
    )
    # The gateway is down when the bank's answer arrives: the payment notice fails five times.
    settings.EJIA_SMS_BACKEND = f"{__name__}.BrokenBackend"
    bank_return_import(actor=grace, batch=batch, data=answer.getvalue().encode("utf-8"))
    for _ in range(outbox.MAX_ATTEMPTS):
        OutboxMessage.objects.filter(status="pending").update(next_attempt_at=None)
        outbox.outbox_send()
    settings.EJIA_SMS_BACKEND = "ejia.core.sms.MemoryBackend"
    assert OutboxMessage.objects.get(template="payment_paid").status == OutboxMessage.Status.FAILED
    return case


def test_the_county_reviewer_sends_a_failed_notice_again_and_sees_the_household_after_its_decision(
    page, live_server, dave, decided_and_paid
):
    case = decided_and_paid
    login(page, live_server, dave)
    assert page.inner_text("[data-testid=work-outbox_failed]") == "1"
    go(page, "[data-testid=nav-outbox]")
    table = page.inner_text("[data-testid=outbox]")
    assert "受理回执" in table and "决定通知" in table and "发放到账" in table
    assert "138****1234" in table and "13805431234" not in table
    assert "短信网关超时" in table
    screenshot(page, "outbox-county-reviewer")

    go(page, "[data-testid=tab-failed]")
    rows = page.locator("[data-testid=outbox] tbody tr")
    assert rows.count() == 1 and "发放到账" in rows.first.inner_text()
    go(page, "[data-testid=retry]")
    page.wait_for_selector(".alert-success")
    assert "138****1234" in page.inner_text(".alert-success")
    assert page.locator("[data-testid=outbox] tbody tr").count() == 0  # nothing failed any more
    go(page, "[data-testid=tab-retried]")
    retried = page.inner_text("[data-testid=outbox]")
    assert "已发送" in retried and "人工重发 1 次（刘芳）" in retried
    screenshot(page, "outbox-after-retry")

    page.goto(f"{live_server.url}/staff/registry/households/{case.household.public_id}/")
    assert "低保" in page.inner_text("[data-testid=status-badge]")
    assert "暂无救助身份" not in page.inner_text("main")
    benefits = page.inner_text("[data-testid=benefits]")
    assert "最低生活保障" in benefits and "本平台发放" in benefits
    screenshot(page, "household-after-decision-and-payment")
