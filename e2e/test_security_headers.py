"""The pages under the security headers: what templates used to do inline (onsubmit="confirm…",
onchange="submit", style="width:…") still works through static/ejia/ejia.js, and a personal
image opened on its own raises no complaint. (The `page` fixture fails any test whose pages
break the Content-Security-Policy or the Permissions-Policy.)"""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from e2e.conftest import go, login, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture
def catalogue(org):
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()


def test_the_staff_pages_come_with_the_headers_and_nothing_inline_is_needed(page, live_server, bob):
    login(page, live_server, bob)
    response = page.goto(live_server.url + "/staff/")
    headers = response.all_headers()
    assert "script-src 'self'" in headers["content-security-policy"]
    assert "camera=()" in headers["permissions-policy"]
    assert "no-store" in headers["cache-control"]
    # htmx takes its settings from the page, not from an inline script or <style>.
    config = page.evaluate(
        "() => [htmx.config.includeIndicatorStyles, htmx.config.allowEval, htmx.config.historyCacheSize]"
    )
    assert config == [False, False, 0]
    assert page.evaluate("() => document.querySelectorAll('head style').length") == 0


def test_discarding_an_unfinished_application_asks_first(page, live_server, bob, catalogue):
    login(page, live_server, bob)
    page.goto(live_server.url + "/staff/cases/intake/")
    page.fill("#id_id_number", settings.EJIA_ID_READER_MOCK_CARD["id_number"])
    page.fill("#id_name", settings.EJIA_ID_READER_MOCK_CARD["name"])
    page.get_by_role("button", name="查询并下一步").click()
    page.wait_for_url("**/intake/household/")

    questions = []

    def answer(dialog, accept: bool) -> None:
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda d: answer(d, False))
    page.get_by_role("button", name="放弃本次申请").click()
    page.wait_for_timeout(300)  # a dismissed confirm sends nothing: the page stays
    assert questions == ["确定放弃这份未完成的申请吗？"] and page.url.endswith("/intake/household/")

    page.once("dialog", lambda d: answer(d, True))
    go(page, page.get_by_role("button", name="放弃本次申请"))
    assert "已放弃未完成的申请" in page.inner_text("main") and len(questions) == 2


def test_choosing_a_county_filters_the_batches_at_once(page, live_server, dave):
    login(page, live_server, dave)
    page.goto(live_server.url + "/staff/pay/")
    with page.expect_navigation():
        page.select_option("form[method=get] select[data-autosubmit]", "371602")
    assert page.url.endswith("?county=371602")


def test_the_citizens_step_bar_is_drawn_without_a_style_attribute(phone_page, live_server, org, catalogue):
    from ejia.core.sms import MemoryBackend

    page = phone_page
    page.goto(live_server.url + "/apply/")
    page.wait_for_url("**/track/login/?next=*")
    page.fill("#phone", "13600003333")
    page.get_by_role("button", name="获取验证码").click()
    page.fill("#code", re.search(r"验证码是(\d{6})", MemoryBackend.sent[-1][1]).group(1))
    page.get_by_role("button", name="登录").click()
    page.goto(live_server.url + "/apply/")
    bar = page.locator(".progress-bar")
    assert bar.get_attribute("style") is None or "width" in bar.get_attribute("style")  # set by ejia.js
    share = page.evaluate(
        "() => document.querySelector('.progress-bar').getBoundingClientRect().width"
        " / document.querySelector('.progress').getBoundingClientRect().width"
    )
    assert share == pytest.approx(1 / 7, abs=0.02)  # step 1 of 7
    screenshot(page, "headers-citizen-step-bar-phone")


def test_a_signed_authorisation_opened_on_its_own_raises_no_complaint(page, live_server, bob, catalogue):
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application

    case = case_submit(actor=bob, channel="window", idempotency_key="e2e-headers", data=application())
    authorisation = case.authorisations.first()
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/staff/cases/{case.public_id}/")
    thumb = page.locator(f"img[src$='/authorisations/{authorisation.public_id}/']")
    assert thumb.evaluate("img => getComputedStyle(img).maxHeight") == "80px"  # the class, not style=""
    response = page.goto(f"{live_server.url}/staff/cases/{case.public_id}/authorisations/{authorisation.public_id}/")
    assert response.ok and response.headers["content-type"].startswith("image/")
    assert "no-store" in response.headers["cache-control"]


def test_a_polled_progress_bar_is_redrawn_after_each_swap(page, live_server, dave):
    from ejia.accounts.models import Division
    from ejia.verification.models import ReverificationBatch
    from ejia.verification.reviews import review_batch_start

    batch = review_batch_start(actor=dave, county=Division.objects.get(code="371602"), run=False)
    ReverificationBatch.objects.filter(pk=batch.pk).update(status=ReverificationBatch.Status.RUNNING, total=8, done=3)
    login(page, live_server, dave)
    page.goto(f"{live_server.url}/staff/exchange/reviews/{batch.public_id}/")
    share = (
        "() => document.querySelector('#progress .progress-bar').getBoundingClientRect().width"
        " / document.querySelector('#progress .progress').getBoundingClientRect().width"
    )
    assert page.evaluate(share) == pytest.approx(0.37, abs=0.01)
    screenshot(page, "headers-review-progress")
    ReverificationBatch.objects.filter(pk=batch.pk).update(status=ReverificationBatch.Status.FINISHED, done=8)
    page.wait_for_function(f"() => ({share})() > 0.99")  # htmx swapped the finished bar in
    assert page.inner_text("[data-testid=done]") == "8"


def test_back_after_an_htmx_search_reloads_the_page_and_keeps_nothing_in_local_storage(page, live_server, catalogue):
    """htmx would keep the last pages' HTML in localStorage for the back button; on a shared
    township PC that outlives the session (and Cache-Control), so it is off and back reloads."""
    page.goto(live_server.url + "/programmes/")
    page.fill("#id_q", "看病")
    page.wait_for_url("**/programmes/?q=*")  # pushed into the history by htmx
    page.wait_for_function("() => document.querySelector('.result-count').innerText.startsWith('找到')")
    assert page.evaluate("() => localStorage.getItem('htmx-history-cache')") is None
    page.evaluate("() => { window.__before_back = true; }")
    page.go_back()
    page.wait_for_function("() => !location.search && window.__before_back === undefined")  # a real reload
    assert page.locator("h1").inner_text() == "查政策"
    assert page.evaluate("() => localStorage.getItem('htmx-history-cache')") is None
