"""一卡发放 from decisions to the household's 360° page: a 低保 (household) and a 困难残疾人生活补贴
(per member) are approved through the workflow; the county reviewer builds next month's batch
(the member subsidy's first month comes as an arrears line of its own) and may not release it
himself; a second reviewer releases it, downloads the bank file and imports the bank's return
with one failure and one amount paid short; the first reviewer accepts the bank's amount with a
reason (the importer may not), the failure is re-issued into the following month's batch as a
line of its own, the batch is reconciled, and the households' 360° pages show what the bank
actually paid."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.utils import timezone

from conftest import _unit, make_staff
from e2e.conftest import DESKTOP, _close, _new_page, go, login, screenshot
from ejia.accounts.models import Role
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.tests.checks import check_finished
from ejia.cases.workflow.tests.test_procedures import walk_dibao_to_decision
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentLine, add_months, period_label

pytestmark = pytest.mark.e2e


@pytest.fixture
def seeded(catalogue):
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.core.outbox import templates_seed
    from ejia.verification.sources import sources_seed

    procedures_seed()
    templates_seed()
    sources_seed()


@pytest.fixture
def staff(org):
    return {
        "bob2": make_staff("bob2", _unit("371602001", "window"), Role.WINDOW_CLERK, display_name="陈刚"),
        "grace": make_staff("grace", _unit("371602", "centre"), Role.COUNTY_REVIEWER, display_name="孙悦"),
        "mz": make_staff("mz", _unit("371602", "department", "mz"), Role.DEPT_APPROVER, display_name="郑民"),
    }


def _submit(bob, key, members, programmes, account):
    case = case_submit(
        actor=bob,
        channel=Channel.WINDOW,
        idempotency_key=key,
        data=application(*members, programmes=programmes, bank_name="滨州农商银行", account_number=account),
    )
    wf.procedures_start_for_case(case)
    return case


@pytest.fixture
def decided(seeded, staff, bob, dave):
    """Two approved benefits, decided through the workflow's services."""
    today = timezone.localdate()
    dibao = _submit(
        bob,
        "e2e-money-1",
        [member("王建国", income_month_fen=30000), member("李秀英", female=True, relation="10", income_month_fen=0)],
        ("dibao",),
        "6228480000001111222",
    )
    p, _ = walk_dibao_to_decision(dibao, bob, staff["bob2"], dave, today, check_finished)
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    dibao_decision = wf.procedure_approve(actor=dave, procedure_id=p.pk, expected_version=p.version)

    elder = member("赵德福", birth=dt.date(1948, 6, 1))
    # A per-member programme names its member at the window: 赵德福.
    subsidy = _submit(
        bob, "e2e-money-2", [elder, member("赵小梅", female=True, relation="20")],
        (f"disability_living_subsidy:{elder['key']}",), "6228480000003333444",
    )  # fmt: skip
    p = RequestProcedure.objects.get(case=subsidy)
    while not p.step.decides:
        p = wf.procedure_complete(actor=staff["mz"], procedure_id=p.pk, expected_version=p.version)
    # The approval creates the member's entitlement in the same transaction.
    wf.procedure_approve(
        actor=staff["mz"],
        procedure_id=p.pk,
        expected_version=p.version,
        amount_fen=9000,
        amount_change_reason="一级残疾",
    )
    return {"dibao": dibao, "dibao_amount": dibao_decision.amount_fen, "subsidy": subsidy}


def _return_file(tmp_path, rows) -> str:
    path = tmp_path / "return.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["交易流水号", "金额（元）", "结果", "银行流水号", "说明"])
        writer.writerows(rows)
    return str(path)


def test_the_money_journey(page, browser, request, live_server, dave, staff, decided, tmp_path):
    grace = staff["grace"]
    this = timezone.localdate().replace(day=1)
    m1, m2 = add_months(this, 1), add_months(this, 2)
    amount = decided["dibao_amount"]
    assert amount and Entitlement.objects.get(request__case=decided["subsidy"]).start_month == this

    # dave builds next month's batch; the form offers this month too (the subsidy is unpaid).
    login(page, live_server, dave)
    page.goto(live_server.url + "/staff/pay/")
    options = page.locator("#id_period option").all_inner_texts()
    assert any(o.startswith(period_label(this)) and "未发放" in o for o in options)
    page.select_option("#id_county", "371602")
    page.select_option("#id_period", period_label(m1))
    screenshot(page, "money-build-form")
    go(page, "[data-testid=build-form] button[type=submit]")
    page.wait_for_selector("[data-testid=status]")
    batch = PaymentBatch.objects.get(period=m1)
    assert batch.status == PaymentBatch.Status.BUILT
    assert sorted(batch.lines.values_list("kind", "amount_fen")) == [
        ("arrears", 9000),
        ("regular", 9000),
        ("regular", amount),
    ]
    assert "须由生成人以外的另一位工作人员复核发放" in page.inner_text("main")
    counts = page.inner_text("[data-testid=counts]")
    for label in ("待银行处理", "已到账", "发放失败", "银行退回", "暂缓（未进入银行文件）", "已转入后续批次重新发放"):
        assert label in counts
    screenshot(page, "money-batch-built")
    # The preparer cannot release, even through the confirmation page.
    batch_url = page.url
    page.goto(f"{live_server.url}/staff/pay/batches/{batch.public_id}/release/")
    go(page, "[data-testid=confirm-release]")
    assert "两人复核" in page.inner_text(".alert-danger")
    batch.refresh_from_db()
    assert batch.status == PaymentBatch.Status.BUILT

    # grace releases and downloads the bank file.
    context2, page2, complaints2 = _new_page(browser, request, viewport=DESKTOP)
    try:
        login(page2, live_server, grace)
        page2.goto(batch_url)
        go(page2, "[data-testid=release]")
        assert "¥" in page2.inner_text(".alert-warning")
        go(page2, "[data-testid=confirm-release]")
        assert "已复核发放" in page2.inner_text("[data-testid=status]")
        with page2.expect_download() as download:
            page2.click("[data-testid=download-csv]")
        content = download.value.path().read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(content)))
        assert rows[2] == ["笔数", "3"]
        details = rows[6:]
        assert all(r[2] and r[3] for r in details)  # 户名 and 账号 on every line
        by_holder = {}
        for r in details:
            by_holder.setdefault(r[2], []).append(r)
        [wang] = by_holder["王建国"]
        zhao = {r[6].split()[0]: r for r in by_holder["赵德福"]}
        assert set(zhao) == {"当月发放", "补发"}

        # The bank: 王建国's transfer failed; 赵德福's month arrived ¥1 short, the arrears in full.
        page2.goto(batch_url)
        page2.set_input_files(
            "[data-testid=return-form] input[type=file]",
            _return_file(
                tmp_path,
                [
                    [wang[1], wang[5], "失败", "", "账户已冻结"],
                    [zhao["当月发放"][1], "89.00", "成功", "B-0001", ""],
                    [zhao["补发"][1], "90.00", "成功", "B-0002", ""],
                ],
            ),
        )
        go(page2, "[data-testid=return-form] button[type=submit]")
        assert "金额不符 1 笔，失败 1 笔" in page2.inner_text(".alert-success")
        differences = page2.inner_text("[data-testid=differences]")
        assert f"{wang[1]}：发放失败（账户已冻结），尚未安排重新发放" in differences
        assert "应发 ¥90.00，银行回盘 ¥89.00，差额 -¥1.00" in differences
        screenshot(page2, "money-return-imported")
        # grace imported the answer: she may not accept the bank's amount herself.
        mismatch = zhao["当月发放"][1]
        page2.fill(f"[data-testid=open-{mismatch}] textarea", "银行扣除手续费")
        go(page2, f"[data-testid=accept-{mismatch}]")
        assert "须由另一位工作人员确认" in page2.inner_text(".alert-danger")

        # dave accepts it with a reason.
        page.goto(batch_url)
        page.fill(f"[data-testid=open-{mismatch}] textarea", "银行扣除跨行手续费 1 元，已电话核实")
        go(page, f"[data-testid=accept-{mismatch}]")
        assert "已按银行金额确认" in page.inner_text(".alert-success")

        # grace re-issues the failure into the month after, as a line of its own.
        page2.goto(batch_url)
        target = page2.locator(f"[data-testid=target-{wang[1]}] option").first
        assert target.inner_text().startswith(period_label(m2))
        page2.fill(f"[data-testid=open-{wang[1]}] input[name=reason]", "户主已更换账户")
        go(page2, f"[data-testid=reissue-{wang[1]}]")
        assert f"将在 {period_label(m2)} 的批次生成时转入重新发放" in page2.inner_text(".alert-success")
        assert wang[1] in page2.inner_text("[data-testid=reissue-pending]")
        go(page2, "[data-testid=reconcile]")
        assert "对账完成" in page2.inner_text(".alert-success")
        assert "已对账" in page2.inner_text("[data-testid=status]")
        counts = page2.inner_text("[data-testid=counts]")
        assert "已到账，按银行金额确认" in counts
        assert page2.inner_text("[data-testid=bank-paid]") == "¥179.00"  # ¥89 + ¥90: what the bank paid
        screenshot(page2, "money-reconciled")
    finally:
        _close(context2, complaints2)

    # The following month's batch carries the failure as its own line next to the regular ones.
    page.goto(live_server.url + "/staff/pay/")
    page.select_option("#id_county", "371602")
    page.select_option("#id_period", period_label(m2))
    go(page, "[data-testid=build-form] button[type=submit]")
    later = PaymentBatch.objects.get(period=m2)
    reissued = later.lines.get(kind=PaymentLine.Kind.REISSUE)
    assert reissued.household == decided["dibao"].household and reissued.amount_fen == amount
    assert later.lines.get(household=reissued.household, kind=PaymentLine.Kind.REGULAR).amount_fen == amount
    assert f"重发 {wang[1]}（{period_label(m1)}）" in page.inner_text("[data-testid=lines]")
    screenshot(page, "money-next-batch")

    # The 360° pages show what the bank actually paid.
    page.goto(f"{live_server.url}/staff/registry/households/{decided['subsidy'].household.public_id}/")
    payments = page.inner_text("[data-testid=household-payments]")
    assert "¥89.00" in payments and "已到账，按银行金额确认" in payments and "跨行手续费" in payments
    assert "补发" in payments and "¥90.00" in payments
    screenshot(page, "money-household-360")
    page.goto(f"{live_server.url}/staff/registry/households/{decided['dibao'].household.public_id}/")
    payments = page.inner_text("[data-testid=household-payments]")
    assert "已转入后续批次重新发放" in payments and "账户已冻结" in payments and later.reference in payments
