"""The case's 一键核对 pages: bob starts a check for the 张 household, the departments answer
from their imported files, and the report shows what they found, where it differs from what
was declared, and what it changes in the plan — to the staff handling the case only."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest
from django.urls import reverse
from django.utils import timezone

from ejia.cases.models import Authorisation, Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member
from ejia.core.models import AuditEvent
from ejia.verification.checks import check_source_run, check_start
from ejia.verification.models import CheckSource, DataSource, SourceSnapshot, VerificationCheck
from ejia.verification.services import snapshot_import
from ejia.verification.sources import sources_seed
from ejia.verification.tests.conftest import write_csv
from ejia.verification.tests.test_import import sample_value

pytestmark = pytest.mark.django_db

ACCOUNT = "6222020200112233445"
HEAD = member("张大山", birth=dt.date(1975, 4, 2), income_month_fen=30000)
SPOUSE = member("李小花", birth=dt.date(1978, 9, 12), female=True, relation="10", income_month_fen=0)


def department_rows(head: str, spouse: str) -> dict[str, list[dict[str, str]]]:
    """What each department's export says about the two of them (headers as exported)."""
    return {
        "bank_deposit": [
            {"证件号码": head, "姓名": "张大山", "银行名称": "中国工商银行滨州分行", "账号": ACCOUNT,
             "账户类型": "活期储蓄", "余额(元)": "52000.00", "余额日期": "2026-05-31"},
            {"证件号码": spouse, "姓名": "李小花", "银行名称": "中国农业银行滨州分行", "账号": "6228480012345678901",
             "账户类型": "定期储蓄", "余额(元)": "30000.00", "余额日期": "2026-05-31"},
        ],
        "gongan_vehicles": [
            {"所有人证件号码": head, "所有人": "张大山", "号牌号码": "鲁MA1234", "号牌种类": "小型汽车",
             "车辆类型": "小型普通客车", "初次登记日期": "2019-06-01", "车辆价值(元)": "45000", "机动车状态": "正常"},
        ],
        "bdc_realestate": [
            {"权利人证件号码": head, "权利人": "张大山", "不动产权证号": "鲁(2020)滨州市不动产权第0012345号",
             "坐落": "滨城区幸福路8号", "建筑面积(平方米)": "98.50", "规划用途": "住宅", "登记日期": "2020-03-15"},
        ],
        "yb_medical": [
            {"身份证号码": spouse, "姓名": "李小花", "就诊日期": "2026-02-03", "医疗机构名称": "滨州市人民医院",
             "就诊类型": "住院", "医疗总费用(元)": "18000.00", "医保统筹支付(元)": "12000.00", "个人自付(元)": "6000.00"},
            {"身份证号码": spouse, "姓名": "李小花", "就诊日期": "2026-04-20", "医疗机构名称": "滨城区中医院",
             "就诊类型": "门诊慢特病", "医疗总费用(元)": "800.00", "医保统筹支付(元)": "500.00", "个人自付(元)": "300.00"},
        ],
        "sw_tax": [
            {"纳税人识别号": head, "纳税人姓名": "张大山", "所得期间": "2025年度", "收入额(元)": "60000.00",
             "已缴税额(元)": "0", "主管税务机关": "国家税务总局滨州市滨城区税务局"},
        ],
    }  # fmt: skip


STRANGER = 30  # VALID_IDS index of a person unrelated to the 张 household


def import_departments(directory, *, rows: dict[str, list[dict[str, str]]], skip: tuple[str, ...] = ()) -> None:
    """Every source gets a committed file; where the department has nothing on them, the file
    carries a stranger's row (a file without one accepted row is never committed)."""
    directory.mkdir(parents=True, exist_ok=True)
    for source in DataSource.objects.all():
        if source.code in skip:
            continue
        header = [c["header"] for c in source.columns]
        body = [[r.get(h, "") for h in header] for r in rows.get(source.code, [])]
        body = body or [[sample_value(c, STRANGER) for c in source.columns]]
        snapshot_import(actor=None, source=source, path=write_csv(directory / f"{source.code}.csv", header, body))


@pytest.fixture
def zhang_case(bob, catalogue, tmp_path, settings):
    """The 张 household's 低保 application at bob's window, and every department's data."""
    settings.VAR_DIR = tmp_path / "var"
    sources_seed()
    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="zhang", data=application(HEAD, SPOUSE))
    import_departments(tmp_path / "departments", rows=department_rows(HEAD["id_number"], SPOUSE["id_number"]))
    return case


def pending_check(case, actor) -> VerificationCheck:
    """A check of the case's household whose sources have not answered yet (not queued: the
    test plays the departments)."""
    members = [m.person for m in case.household.current_memberships()]
    return check_start(
        actor=actor,
        household=case.household,
        members=members,
        reason=f"受理号 {case.reference} 家庭经济状况核对",
        reference=case.reference,
        run=False,
    )


def url(name: str, case, *args) -> str:
    return reverse(f"cases:{name}", args=[case.public_id, *args])


def start(client, case):
    return client.post(url("verification_start", case), follow=True)


def test_a_check_is_refused_while_an_adult_has_no_valid_authorisation(client, bob, zhang_case):
    Authorisation.objects.filter(person__name="李小花").update(valid_until=timezone.localdate() - dt.timedelta(days=1))
    client.force_login(bob)
    page = start(client, zhang_case).content.decode()
    assert "没有有效的核对授权书" in page and "李小花" in page and "alert-danger" in page
    assert not VerificationCheck.objects.exists()
    assert 'data-testid="start"' in page
    assert client.get(url("verification_panel", zhang_case)).status_code == 404


def test_the_report_shows_every_source_what_was_found_and_the_differences_first(client, bob, zhang_case):
    client.force_login(bob)
    response = start(client, zhang_case)
    assert response.redirect_chain == [(url("verification", zhang_case), 302)]
    page = response.content.decode()
    check = VerificationCheck.objects.get(reference=zhang_case.reference)
    assert check.status == "complete"
    for source in DataSource.objects.all():
        assert source.name in page
    assert page.count('data-status="done"') == DataSource.objects.count()
    # Found: two accounts (masked), the car, the flat, two hospital visits.
    assert "中国工商银行滨州分行" in page and "622202*********3445" in page and ACCOUNT not in page
    assert "余额合计 ¥52,000.00" in page and "中国农业银行滨州分行" in page
    assert "鲁MA1234" in page and "¥45,000.00" in page
    assert "滨城区幸福路8号" in page and "98.50平方米" in page
    assert "就诊 2 次" in page and "个人自付 ¥6,300.00" in page
    assert "年收入（工资薪金、经营所得等）" in page and "¥60,000.00/年" in page
    # Declared ¥1,000 of savings and no car: both differ, shown first and highlighted.
    differences = page.index('data-testid="differences"')
    assert differences < page.index('data-testid="sources"')
    assert page.count('class="table-warning"') == len(check.differences) >= 3
    assert "申报与核实不一致" in page and "家庭金融资产" in page and "非生活必需机动车辆" in page
    assert "¥1,000.00" in page and "¥82,000.00" in page
    # The plan on verified facts: 低保 is no longer within reach, the requested programme first.
    changes = page[page.index('data-testid="plan-changes"') :]
    assert "最低生活保障" in changes and "暂不符合" in changes
    assert HEAD["id_number"] not in page and SPOUSE["id_number"] not in page
    assert "hx-trigger" not in page  # finished: nothing polls


def test_the_case_detail_shows_the_latest_check(client, bob, zhang_case):
    client.force_login(bob)
    detail = client.get(url("case_detail", zhang_case)).content.decode()
    assert "尚未核对" in detail and url("verification", zhang_case) in detail
    start(client, zhang_case)
    detail = client.get(url("case_detail", zhang_case)).content.decode()
    assert "已完成" in detail and "查看核对报告" in detail and "项申报与核实不一致" in detail


def test_a_source_without_data_shows_as_failed_and_a_rerun_asks_it_again(client, bob, zhang_case):
    SourceSnapshot.objects.filter(source__code="bank_deposit").update(status=SourceSnapshot.Status.SUPERSEDED)
    client.force_login(bob)
    page = start(client, zhang_case).content.decode()
    check = VerificationCheck.objects.get()
    assert check.status == "partial"
    failed = check.sources.get(source__code="bank_deposit")
    row = page[page.index('data-source="bank_deposit"') :]
    row = row[: row.index("</tr>")]
    assert "查询失败" in row and "尚未导入任何数据" in row and "无记录" not in row
    # Each member's section says the bank could not be asked — never that nothing was found.
    assert page.count("查询失败，未能核实：存款及理财") == 2
    found_nothing = [line for line in page.splitlines() if "未查到记录" in line]
    assert found_nothing and not any("存款及理财" in line for line in found_nothing)
    assert "家庭金融资产" in page[page.index('data-testid="unverified"') :]
    assert "中国工商银行" not in page
    # The data arrives; bob asks the bank again from the page (htmx swaps the panel).
    SourceSnapshot.objects.filter(source__code="bank_deposit").update(status=SourceSnapshot.Status.COMMITTED)
    panel = client.post(url("verification_rerun", zhang_case, failed.pk), HTTP_HX_REQUEST="true")
    assert panel.status_code == 200 and panel.content.decode().startswith('<div id="verification-panel"')
    check.refresh_from_db()
    failed.refresh_from_db()
    assert check.status == "complete" and failed.status == "done" and failed.runs == 2
    assert "中国工商银行" in panel.content.decode()
    # A second click is harmless: the source is asked again, nothing breaks, one check still.
    again = client.post(url("verification_rerun", zhang_case, failed.pk))
    assert again.status_code == 302 and VerificationCheck.objects.count() == 1
    assert AuditEvent.objects.filter(action="verification.source_rerun", actor=bob).count() == 2


def test_a_rerun_of_another_checks_source_is_not_found(client, bob, zhang_case):
    client.force_login(bob)
    start(client, zhang_case)
    household = zhang_case.household
    other = check_start(actor=None, household=household, members=[zhang_case.applicant], reason="另案", run=False)
    row = other.sources.first()
    assert client.post(url("verification_rerun", zhang_case, row.pk)).status_code == 404


def test_the_panel_polls_while_the_check_runs_and_stops_when_it_is_done(client, bob, zhang_case):
    client.force_login(bob)
    check = pending_check(zhang_case, bob)
    page = client.get(url("verification", zhang_case)).content.decode()
    assert 'hx-trigger="every 1s"' in page and "等待查询" in page and "核对中" in page
    assert 'data-testid="start"' not in page  # a running check is not started twice
    views = AuditEvent.objects.filter(action="verification.report_view", object_id=str(check.public_id))
    assert views.count() == 1
    first = check.sources.first()
    check_source_run(check_source_id=first.pk)
    poll = client.get(url("verification_panel", zhang_case) + "?poll=1").content.decode()
    assert 'hx-trigger="every 1s"' in poll and "已返回" in poll
    assert views.count() == 1  # polls are not audited
    for row in check.sources.exclude(pk=first.pk):
        check_source_run(check_source_id=row.pk)
    done = client.get(url("verification_panel", zhang_case) + "?poll=1").content.decode()
    assert "hx-trigger" not in done and "核实的事实" in done
    assert views.count() == 2  # the poll that first shows the finished report is


def test_the_printed_report_is_a_chinese_pdf_with_masked_ids_only(client, bob, zhang_case, settings):
    client.force_login(bob)
    start(client, zhang_case)
    response = client.get(url("verification_pdf", zhang_case))
    assert response["Content-Type"] == "application/pdf"
    data = b"".join(response.streaming_content)
    assert data.startswith(b"%PDF")
    out = settings.TEST_ARTIFACTS_DIR / "pdf"
    out.mkdir(parents=True, exist_ok=True)
    path = out / "verification-report.pdf"
    path.write_bytes(data)
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed; scripts/test.sh installs it")
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True).stdout.decode()
    flat = "".join(text.split())
    assert "家庭经济状况核对报告" in flat and zhang_case.reference in flat
    head = HEAD["id_number"]
    assert f"{head[:6]}********{head[-4:]}" in flat
    assert head not in flat and SPOUSE["id_number"] not in flat and ACCOUNT not in flat
    assert "申报与核实不一致" in flat and "家庭金融资产" in flat and "最低生活保障" in flat
    assert "王丽" in flat  # who printed it
    event = AuditEvent.objects.get(action="verification.report_pdf")
    assert event.actor == bob and event.object_id == str(VerificationCheck.objects.get().public_id)


def test_viewing_the_report_is_audited_with_the_viewer_and_the_check(client, bob, dave, alice, zhang_case):
    client.force_login(bob)
    start(client, zhang_case)
    check = VerificationCheck.objects.get()
    client.force_login(dave)
    assert client.get(url("verification", zhang_case)).status_code == 200
    # The village clerk sees on the case page whether the check is done, not the report itself.
    client.force_login(alice)
    assert client.get(url("verification", zhang_case)).status_code == 403
    views = AuditEvent.objects.filter(action="verification.report_view", object_id=str(check.public_id))
    assert {e.actor for e in views} == {bob, dave}


def test_department_approvers_and_other_townships_cannot_see_the_report(client, bob, carol, erin, frank, zhang_case):
    client.force_login(bob)
    start(client, zhang_case)
    for user in (erin, frank):
        client.force_login(user)
        for name in ("verification", "verification_pdf", "verification_panel"):
            response = client.get(url(name, zhang_case))
            assert response.status_code == 403, (user, name)
        assert "最少够用" in response.content.decode()
        assert client.post(url("verification_start", zhang_case)).status_code == 403
    client.force_login(carol)
    response = client.get(url("verification", zhang_case))
    assert response.status_code == 403 and "不在您的数据权限范围内" in response.content.decode()
    assert client.post(url("verification_start", zhang_case)).status_code == 403
    row = CheckSource.objects.first()
    assert client.post(url("verification_rerun", zhang_case, row.pk)).status_code == 403
    assert not AuditEvent.objects.filter(action__startswith="verification.report", actor__in=[carol, erin, frank])
    assert VerificationCheck.objects.count() == 1
