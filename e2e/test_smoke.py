import pytest

from e2e.conftest import login, screenshot


@pytest.mark.e2e
def test_the_portal_home_renders_in_chinese(phone_page, live_server, db):
    phone_page.goto(live_server.url + "/")
    assert "e家大救助" in phone_page.inner_text(".navbar-brand")
    assert phone_page.inner_text("h1") == "遇到困难，可以找政府帮忙"
    screenshot(phone_page, "portal-home-phone")


@pytest.mark.e2e
def test_a_clerk_logs_in_through_the_form(page, live_server, bob):
    login(page, live_server, bob)
    assert "王丽" in page.inner_text("nav")
