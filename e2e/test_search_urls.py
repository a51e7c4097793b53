"""In a real browser, a search by ID number leaves the number neither in the address bar nor
in what htmx keeps of the page: the household search (a plain form), the case queue with htmx
and without JavaScript, back and forward included; the county centre's outbox by phone number."""

from __future__ import annotations

import pytest

from e2e.conftest import _close, _new_page, go, login, screenshot
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application

pytestmark = pytest.mark.e2e


@pytest.fixture
def cases(catalogue, bob):
    first = application()
    one = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="e2e-s1", data=first)
    two = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="e2e-s2", data=application())
    return one, two, first["members"][1]["id_number"]


def digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def assert_no_number(page, number: str) -> None:
    assert number[:14] not in digits(page.url), page.url
    cache = page.evaluate("() => localStorage.getItem('htmx-history-cache') || ''")
    assert number not in cache


def test_the_household_search_by_id_number_keeps_it_out_of_the_address_bar(page, live_server, bob, cases):
    one, _two, number = cases
    login(page, live_server, bob)
    go(page, "nav >> text=救助对象库")
    page.fill("#q", number)
    go(page, page.get_by_role("button", name="查找"))
    assert "?s=" in page.url
    assert_no_number(page, number)
    assert page.input_value("#q") == number  # still there to correct or read
    assert page.get_by_test_id("results").get_by_role("link").count() == 1
    screenshot(page, "search-household-by-id")
    # Reload and back/forward find the same family from the handle.
    page.reload()
    assert page.get_by_test_id("results").get_by_role("link").count() == 1
    go(page, page.get_by_test_id("results").get_by_role("link"))
    page.go_back()
    page.wait_for_selector("[data-testid=results]")
    assert_no_number(page, number)
    # A reference number may stay in the URL.
    page.fill("#q", one.reference)
    go(page, page.get_by_role("button", name="查找"))
    assert page.url.endswith(f"?q={one.reference}")


def test_the_case_queue_searches_by_id_number_with_htmx_and_pushes_no_number(page, live_server, bob, cases):
    one, two, number = cases
    login(page, live_server, bob)
    go(page, "nav >> text=受理队列")
    assert page.locator("[data-testid=queue] tbody tr").count() == 2
    page.fill("#q", number)
    with page.expect_response(lambda r: r.request.method == "POST" and "/staff/cases/" in r.url):
        page.get_by_role("button", name="查找").click()
    page.wait_for_url("**/staff/cases/?s=*")
    page.wait_for_function("() => document.querySelectorAll('[data-testid=queue] tbody tr').length === 1")
    assert one.reference in page.inner_text("[data-testid=queue]")
    assert_no_number(page, number)
    screenshot(page, "search-queue-by-id-htmx")
    # Away and back: the page comes back from the server through the handle, not from a copy.
    go(page, page.get_by_role("link", name=one.reference))
    page.go_back()
    page.wait_for_url("**/staff/cases/?s=*")
    page.wait_for_selector("[data-testid=queue]")
    assert page.locator("[data-testid=queue] tbody tr").count() == 1
    assert two.reference not in page.inner_text("main")
    assert_no_number(page, number)


def test_the_case_queue_search_works_without_javascript(browser, request, live_server, bob, cases):
    one, _two, number = cases
    context, page, complaints = _new_page(
        browser, request, viewport={"width": 1280, "height": 900}, java_script_enabled=False
    )
    try:
        login(page, live_server, bob)
        page.goto(live_server.url + "/staff/cases/")
        page.fill("#q", number)
        page.select_option("#status", "submitted")
        go(page, page.get_by_role("button", name="查找"))
        assert "?s=" in page.url and "status=submitted" in page.url
        assert_no_number(page, number)
        assert page.locator("[data-testid=queue] tbody tr").count() == 1
        assert one.reference in page.inner_text("[data-testid=queue]")
        screenshot(page, "search-queue-by-id-no-js")
    finally:
        _close(context, complaints)


def test_the_outbox_searched_by_phone_keeps_it_out_of_the_tabs_and_the_address_bar(page, live_server, dave, cases):
    login(page, live_server, dave)
    page.goto(live_server.url + "/staff/cases/outbox/")
    page.fill("#q", "138 1234 5678")
    go(page, page.get_by_role("button", name="查找"))
    assert "?s=" in page.url and "5678" not in page.url
    assert page.locator("[data-testid=outbox] tbody tr").count() == 2
    go(page, "[data-testid=tab-sent]")
    assert "show=sent" in page.url and "5678" not in page.url
    assert page.locator("[data-testid=outbox] tbody tr").count() == 2
    assert page.input_value("#q") == "138 1234 5678"
    screenshot(page, "search-outbox-by-phone")
