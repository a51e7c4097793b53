"""One access policy in the browser: a department approver is shown only its own work and gets
the branded refusal page for a family's file; the auditor opens a file from the audit log only
after stating a purpose, which the log then shows; a missing page is the branded 404; the system
administrator is told on the home page when the access log's seal job has stopped, and when a
nightly check fails."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from conftest import _unit, make_staff
from e2e.conftest import go, login, screenshot
from ejia.accounts.models import Role
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.core.audit import access_record, access_seal

pytestmark = pytest.mark.e2e


@pytest.fixture
def dibao_case(bob, catalogue, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="e2e-access", data=application())


@pytest.fixture
def ivy(org):
    return make_staff("ivy", _unit("371600", "centre"), Role.AUDITOR, display_name="许静")


def test_a_department_approver_sees_its_work_and_a_branded_refusal_for_a_family_file(
    page, live_server, dibao_case, erin
):
    login(page, live_server, erin)
    nav = page.locator("#staffnav .nav-link").all_inner_texts()
    # Its own work and its department's statistics; no case list, no household files.
    assert nav == ["首页", "救助事项办理", "统计看板"]
    response = page.goto(f"{live_server.url}/staff/cases/{dibao_case.public_id}/")
    assert response.status == 403
    page.get_by_test_id("forbidden").wait_for()
    reason = page.get_by_test_id("refusal-reason").inner_text()
    assert "部门审批员" in reason and "查阅申请件" in reason
    assert dibao_case.applicant.name not in page.content()
    # The refusal keeps the site navigation and a way home.
    assert page.locator("#staffnav").is_visible() or page.locator(".navbar-toggler").is_visible()
    screenshot(page, "access-refused-department-approver")
    go(page, page.get_by_role("link", name="返回工作台首页"))
    assert page.url.endswith("/staff/")


def test_the_auditor_states_a_purpose_before_a_file_opens_and_the_log_shows_it(page, live_server, dibao_case, ivy):
    login(page, live_server, ivy)
    go(page, page.get_by_test_id("nav-audit"))
    page.get_by_test_id("audit-events").wait_for()
    screenshot(page, "access-audit-log")
    # The case appears in the log (its intake); its link asks for a purpose first.
    go(page, page.locator(f'a[href="/staff/cases/{dibao_case.public_id}/"]').first)
    page.get_by_test_id("purpose-required").wait_for()
    assert dibao_case.applicant.name not in page.content()
    screenshot(page, "access-auditor-purpose")
    page.fill("#purpose", "2026年第12号审计抽查")
    go(page, "form[action='/staff/purpose/'] button[type=submit]")
    assert page.get_by_test_id("reference").inner_text() == dibao_case.reference
    # The log names who read which file and why.
    page.goto(f"{live_server.url}/staff/audit/?action=access")
    row = page.get_by_test_id("audit-events").locator("tbody tr").first
    assert "access.purpose_stated" in row.inner_text() and "2026年第12号审计抽查" in row.inner_text()
    # The API calls are the log's second tab.
    go(page, page.get_by_test_id("tab-access-log"))
    page.get_by_test_id("access-events").wait_for()
    screenshot(page, "access-api-log")


def test_the_system_administrator_is_told_when_the_access_log_stops_being_sealed(page, live_server, org):
    admin = make_staff("ma", _unit("371600", "centre"), Role.SYSADMIN, display_name="马超")
    with mock.patch.object(timezone, "now", return_value=timezone.now() - dt.timedelta(minutes=15)):
        access_record(actor=None, action="api.call", object_type="api.apiclient", object_id="c", data={"n": 1})
    login(page, live_server, admin)
    assert page.get_by_test_id("work-access_seal_stalled").inner_text() == "1"
    go(page, page.get_by_role("link", name="接口访问记录封存中断（超过 10 分钟未封存）"))
    alert = page.get_by_test_id("seal-stalled").inner_text()
    assert "有 1 条接口访问记录超过 10 分钟仍未封存" in alert and "ejia_audit_seal" in alert
    screenshot(page, "access-seal-stalled")
    access_seal()  # the job runs again
    page.reload()
    page.get_by_test_id("seal-ok").wait_for()
    go(page, page.get_by_test_id("nav-access-seal"))
    page.get_by_test_id("seal-ok").wait_for()
    page.goto(f"{live_server.url}/staff/")
    assert page.get_by_test_id("work-access_seal_stalled").count() == 0


def test_a_missing_page_is_the_branded_404(page, live_server, bob):
    login(page, live_server, bob)
    response = page.goto(f"{live_server.url}/staff/cases/00000000-0000-0000-0000-000000000000/")
    assert response.status == 404
    page.get_by_test_id("not-found").wait_for()
    assert "没有找到该申请件" in page.get_by_test_id("refusal-reason").inner_text()
    screenshot(page, "access-not-found")


def test_the_system_administrator_is_told_when_a_nightly_check_fails(page, live_server, org):
    from django.core.management import call_command

    from ejia.core.audit import audit_record
    from ejia.core.models import AuditEvent

    admin = make_staff("ma", _unit("371600", "centre"), Role.SYSADMIN, display_name="马超")
    event = audit_record(actor=None, action="demo.thing", object_type="core.thing", data={"a": 1})
    AuditEvent.objects.filter(pk=event.pk).update(data={"a": 2})  # someone edited the log
    with pytest.raises(Exception, match="哈希"):
        call_command("ejia_audit_verify", "--no-anchor")  # the nightly cron job
    login(page, live_server, admin)
    assert page.get_by_test_id("work-ops_health").inner_text() == "1"
    go(page, page.get_by_role("link", name="系统运行检查未通过：审计链核验"))
    page.get_by_test_id("ops-failing").wait_for()
    row = page.get_by_test_id("ops-check-audit_verify").inner_text()
    assert "异常" in row and "未通过" in row
    assert "正常" in page.get_by_test_id("ops-check-database").inner_text()
    screenshot(page, "ops-health-failing")
    AuditEvent.objects.filter(pk=event.pk).update(data={"a": 1})  # restored from the backup
    call_command("ejia_audit_verify", "--no-anchor")  # the next night passes
    go(page, page.get_by_test_id("nav-ops-health"))
    page.get_by_test_id("ops-ok").wait_for()
    page.goto(f"{live_server.url}/staff/")
    assert page.get_by_test_id("work-ops_health").count() == 0
