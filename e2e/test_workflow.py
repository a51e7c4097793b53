"""A 低保 request walks from the township queue to the household's decision notice: claimed
by one clerk, acceptance, the one-click check (one department's file missing, acknowledged)
with the re-evaluated outcome, a two-person
home visit with a photo, township review, a 7-day village notice with an objection
resolved, the county decision, and the joint review."""

from __future__ import annotations

import datetime as dt

import pytest
from PIL import Image

from conftest import _unit, make_staff
from e2e.conftest import go, login, screenshot
from ejia.accounts.models import Role
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.cases.tests.test_verification_views import HEAD, SPOUSE, department_rows, import_departments
from ejia.cases.workflow.models import PublicNotice, RequestProcedure
from ejia.verification.models import DataSource

pytestmark = pytest.mark.e2e


@pytest.fixture
def procedures(org):
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.catalogue.seed import catalogue_seed
    from ejia.core.outbox import templates_seed
    from ejia.verification.sources import sources_seed

    catalogue_seed()
    procedures_seed()
    templates_seed()
    sources_seed()


@pytest.fixture
def bob2(org):
    return make_staff("bob2", _unit("371602001", "window"), Role.WINDOW_CLERK, display_name="陈刚")


@pytest.fixture
def dibao_case(bob, procedures, tmp_path, settings):
    """The 张 household applies for 低保. The departments have files: no deposits, no car, the
    house they declared; the tax office's file has not arrived (its source will fail)."""
    settings.VAR_DIR = tmp_path / "var"
    case = case_submit(
        actor=bob,
        channel=Channel.WINDOW,
        idempotency_key="e2e-wf-1",
        data=application(HEAD, SPOUSE, programmes=("dibao",)),
    )
    rows = {**department_rows(HEAD["id_number"], SPOUSE["id_number"]), "bank_deposit": [], "gongan_vehicles": []}
    import_departments(tmp_path / "departments", rows=rows, skip=("sw_tax",))
    return case


def complete(page) -> None:
    page.fill("#c-complete", "材料齐全，情况属实")
    go(page, "[data-testid=complete]")
    page.wait_for_selector(".alert-success")


def test_a_dibao_request_from_the_township_queue_to_the_decision_notice(
    page, live_server, bob, bob2, dave, dibao_case, tmp_path
):
    login(page, live_server, bob)
    page.goto(live_server.url + "/staff/work/")
    # The queue starts the procedure of a case accepted before (lazy start).
    row = page.locator("[data-testid=work-queue] tbody tr", has_text=dibao_case.reference)
    assert "乡镇受理" in row.inner_text()
    screenshot(page, "workflow-township-queue")
    # bob claims it: it is his from now on, in "我的".
    go(page, row.locator(f"[data-testid='claim-{dibao_case.reference}']"))
    page.wait_for_selector(".alert-success")
    go(page, "[data-testid=tab-claimed]")
    row = page.locator("[data-testid=work-queue] tbody tr", has_text=dibao_case.reference)
    assert "王丽" in row.inner_text()
    go(page, row.locator("a").first)
    assert "最低生活保障" in page.inner_text("h1")
    complete(page)
    assert "家庭经济状况核对" in page.inner_text("[data-testid=steps] strong")
    # The step waits for the one-click check: bob runs it from the report page.
    procedure_url = page.url
    assert "尚未发起一键核对" in page.inner_text("[data-testid=verification]")
    go(page, "[data-testid=verification-report]")
    go(page, "[data-testid=start]")
    page.wait_for_selector("#verification-panel[data-status=partial]")
    page.goto(procedure_url)
    assert "部分数据源失败" in page.inner_text("[data-testid=check-status]")
    tax = DataSource.objects.get(code="sw_tax").name
    assert tax in page.inner_text("label[for=ack_failed]")
    screenshot(page, "workflow-verification-step")
    page.check("#ack_failed")
    complete(page)
    assert f"已知悉查询失败：{tax}" in page.inner_text("[data-testid=records]")
    assert "按核对后的事实重新测算" in page.inner_text("[data-testid=verified-outcome]")
    screenshot(page, "workflow-verified-outcome")

    go(page, "[data-testid=home-visit-link]")
    page.select_option("#id_staff_1", str(bob.pk))
    page.select_option("#id_staff_2", str(bob2.pk))
    page.fill("#id_findings", "两人入户：住房简陋，丈夫患病卧床，无稳定收入。")
    photo = tmp_path / "visit.png"
    Image.new("RGB", (320, 240), (200, 180, 150)).save(photo)
    page.set_input_files("#id_photos", str(photo))
    screenshot(page, "workflow-home-visit")
    go(page, "[data-testid=save-visit]")
    page.wait_for_selector(".alert-success")
    # The photo is sealed on disk; the browser gets it decrypted, through the scoped view.
    page.wait_for_function("() => document.querySelector('[data-testid=visit-photos] img')?.naturalWidth === 320")
    screenshot(page, "workflow-home-visit-photos")
    complete(page)
    complete(page)  # township review
    screenshot(page, "workflow-procedure-at-notice")

    go(page, "[data-testid=to-notices]")
    go(page, "[data-testid=publish]")
    page.wait_for_selector("[data-testid=countdown]")
    assert "公示剩余 7 天" in page.inner_text("[data-testid=countdown]")
    entries = page.inner_text("[data-testid=entries]")
    assert "张*山" in entries and "张大山" not in entries and "2 人" in entries
    page.fill("textarea[name=text]", "邻居反映其家中有一辆面包车")
    go(page, "[data-testid=add-objection]")
    page.wait_for_selector("[data-testid=resolve]")
    page.fill("input[name=resolution]", "经核实，车辆已于2024年报废注销")
    go(page, "[data-testid=resolve]")
    page.wait_for_selector("text=已核实处理")
    screenshot(page, "workflow-public-notice")
    pdf = page.request.get(live_server.url + page.locator("[data-testid=notice-pdf]").get_attribute("href"))
    assert pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")

    # Seven days pass.
    today = dt.date.today()
    PublicNotice.objects.update(start_date=today - dt.timedelta(days=7), end_date=today)
    procedure = RequestProcedure.objects.get(case=dibao_case)
    page.goto(f"{live_server.url}/staff/work/r/{procedure.public_id}/")
    go(page, "[data-testid=close-notice]")
    page.wait_for_selector(".alert-success")
    assert "县级审批确认" in page.inner_text("[data-testid=steps] strong")

    page.context.clear_cookies()
    login(page, live_server, dave)
    page.goto(live_server.url + "/staff/work/")
    go(page, page.locator("[data-testid=work-queue] a", has_text=dibao_case.reference))
    screenshot(page, "workflow-county-decision")
    go(page, "[data-testid=approve]")
    page.wait_for_selector("[data-testid=decision]")
    assert "批准" in page.inner_text("[data-testid=decision]")

    page.goto(live_server.url + "/staff/work/?tab=joint")
    go(page, page.locator("[data-testid=joint-queue] a").first)
    go(page, "[data-testid=issue-notice]")
    page.wait_for_selector("[data-testid=decision-notice]")
    screenshot(page, "workflow-joint-review")
    href = page.locator("[data-testid=decision-notice] a").get_attribute("href")
    pdf = page.request.get(live_server.url + href)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    assert dibao_case.decision_notice.number.startswith(dibao_case.reference)


@pytest.fixture
def erin_case(bob, procedures):
    return case_submit(
        actor=bob,
        channel=Channel.WINDOW,
        idempotency_key="e2e-wf-2",
        data=application(programmes=("dibao", "medical_aid")),
    )


def test_the_department_sees_the_minimum_and_the_county_sees_overdue_steps(
    page, live_server, bob, dave, erin, erin_case
):
    from ejia.cases.workflow.services import procedures_start_for_case

    procedures_start_for_case(erin_case)
    RequestProcedure.objects.filter(request__programme__code="dibao").update(
        step_due=dt.date.today() - dt.timedelta(days=3)
    )
    login(page, live_server, erin)
    page.goto(live_server.url + "/staff/work/")
    go(page, page.locator("[data-testid=work-queue] a", has_text=erin_case.reference))
    text = page.inner_text("main")
    assert "张大山" not in text and "13812345678" not in text and "2 人" in text
    assert "家庭人均月收入低于低保标准" not in text  # only the medical programme's criteria
    assert "年度医疗自付费用" in text and "家庭金融资产" not in text and "个人月收入" not in text
    screenshot(page, "workflow-department-request")

    page.context.clear_cookies()
    login(page, live_server, dave)
    page.goto(live_server.url + "/staff/work/?tab=overdue")
    row = page.locator("[data-testid=work-queue] tbody tr", has_text=erin_case.reference)
    assert "已超期" in row.inner_text()
    screenshot(page, "workflow-county-overdue")
    go(page, row.locator("a").first)
    go(page, "text=列入督办")
    page.wait_for_selector(".alert-success")
    assert "督办" in page.inner_text("main")
