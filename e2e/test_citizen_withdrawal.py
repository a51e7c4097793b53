"""The applicant, logged in on a phone with an SMS code, withdraws one programme from the
tracker: the confirmation page lists the open programmes, ticked, and a big red button."""

from __future__ import annotations

import re

import pytest

from e2e.conftest import screenshot
from ejia.cases.models import Channel, ProgrammeRequest
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.cases.workflow.models import RequestProcedure
from ejia.core.sms import MemoryBackend

pytestmark = pytest.mark.e2e


@pytest.fixture
def procedures(catalogue):
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.core.outbox import templates_seed

    procedures_seed()
    templates_seed()


def test_the_applicant_withdraws_a_programme_on_a_phone(phone_page, live_server, bob, procedures):
    from ejia.cases.workflow.services import procedures_start_for_case

    case = case_submit(
        actor=bob,
        channel=Channel.WINDOW,
        idempotency_key="e2e-citizen-withdraw",
        data=application(programmes=("dibao", "medical_aid")),
    )
    procedures_start_for_case(case)
    page = phone_page
    page.goto(live_server.url + "/track/login/")
    page.fill("#phone", "13812345678")
    page.get_by_role("button", name="获取验证码").click()
    code = re.search(r"验证码是(\d{6})", MemoryBackend.sent[-1][1]).group(1)
    page.fill("#code", code)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/track/mine/")
    page.get_by_test_id("withdraw-link").click()
    page.wait_for_url(f"**/track/mine/{case.public_id}/withdraw/")
    assert case.reference in page.inner_text("main")
    screenshot(page, "citizen-withdraw-confirm-phone")
    page.get_by_label("最低生活保障").uncheck()
    page.get_by_text("我已了解：撤回后这些事项不再办理").click()
    page.get_by_test_id("withdraw-confirm").click()
    page.wait_for_url("**/track/mine/")
    assert "已撤回：门诊和住院医疗救助" in page.inner_text("main")
    states = dict(RequestProcedure.objects.filter(case=case).values_list("request__programme__code", "state"))
    assert states == {"dibao": "pending", "medical_aid": "withdrawn"}
    assert ProgrammeRequest.objects.get(case=case, programme__code="dibao").is_open
