"""Browser journeys of 全市通办 and of duplicates: another township's window takes the
application and the case goes home; an open programme is shown first and refused again."""

from __future__ import annotations

import pytest

from e2e.conftest import login, screenshot
from e2e.test_intake import catalogue, population, sign  # noqa: F401 - fixtures
from ejia.cases.models import Case

pytestmark = pytest.mark.e2e


def test_another_townships_window_accepts_and_the_case_goes_home(page, live_server, bob, carol, population, catalogue):  # noqa: F811
    holder = population[0]
    login(page, live_server, carol)
    page.goto(live_server.url + "/staff/cases/intake/")
    page.fill("#id_id_number", holder["id_number"])
    page.fill("#id_name", holder["name"])
    page.get_by_role("button", name="查询并下一步").click()
    page.wait_for_url("**/intake/household/")
    main = page.inner_text("main")
    assert "全市通办" in main and "市中街道" in main and "李秀兰" not in main  # nothing of the registry
    page.get_by_test_id("member").first.locator("input[name$='income_month_fen']").fill("600")
    screenshot(page, "city-wide-1-household")
    page.get_by_role("button", name="下一步：困难情况").click()
    page.wait_for_url("**/intake/needs/")
    page.get_by_text("基本生活困难").click()
    page.get_by_role("button", name="下一步：查看救助方案").click()
    page.wait_for_url("**/intake/plan/")
    page.check("#p_dibao")
    page.get_by_role("button", name="下一步：授权签字").click()
    page.wait_for_url("**/intake/authorise/")
    sign(page, page.locator("canvas").first.get_attribute("data-testid"))
    page.get_by_role("button", name="保存签字，下一步").click()
    page.wait_for_url("**/intake/materials/")
    page.get_by_test_id("submit").click()
    page.wait_for_url("**/intake/done/*/")
    case = Case.objects.get()
    assert page.inner_text("[data-testid=reference]") == case.reference
    assert "市中街道" in page.inner_text("[data-testid=handover]")
    screenshot(page, "city-wide-2-done")
    pdf = page.request.get(live_server.url + f"/staff/cases/intake/done/{case.public_id}/receipt.pdf")
    assert pdf.ok and pdf.body().startswith(b"%PDF")
    assert page.goto(live_server.url + f"/staff/cases/{case.public_id}/").status == 403

    page.context.clear_cookies()
    login(page, live_server, bob)
    page.goto(live_server.url + "/staff/cases/")
    assert case.reference in page.inner_text("[data-testid=queue]")
    page.goto(live_server.url + f"/staff/cases/{case.public_id}/")
    page.wait_for_selector("[data-testid=handover]")
    assert carol.unit.name in page.inner_text("[data-testid=handover]")


def test_an_open_programme_is_shown_first_and_refused_again(page, live_server, bob, catalogue):  # noqa: F811
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application, member

    head = member("张大山", income_month_fen=30000)
    first = case_submit(actor=bob, channel="window", idempotency_key="e2e-dup", data=application(head))
    login(page, live_server, bob)
    page.goto(live_server.url + "/staff/cases/intake/")
    page.fill("#id_id_number", head["id_number"])
    page.get_by_role("button", name="查询并下一步").click()
    page.wait_for_url("**/intake/household/")
    assert first.reference in page.inner_text("[data-testid=open-cases]")
    screenshot(page, "duplicate-1-open-case")
    page.get_by_role("button", name="下一步：困难情况").click()
    page.wait_for_url("**/intake/needs/")
    page.get_by_role("button", name="下一步：查看救助方案").click()
    page.wait_for_url("**/intake/plan/")
    page.check("#p_dibao")
    page.get_by_role("button", name="下一步：授权签字").click()
    page.wait_for_url("**/intake/plan/")
    assert first.reference in page.inner_text("main") and "不能重复申请" in page.inner_text("main")
    assert Case.objects.count() == 1


def test_a_village_station_takes_an_application_through_the_same_steps(page, live_server, alice, catalogue):  # noqa: F811
    """The fourth channel: the village clerk's station uses the window's steps (no proxy consent)."""
    from ejia.registry.tests.factories import new_id

    login(page, live_server, alice)
    page.goto(live_server.url + "/staff/cases/intake/")
    assert page.get_by_test_id("read-card").count() == 1  # a station has a card reader
    page.fill("#id_id_number", new_id())
    page.fill("#id_name", "赵春华")
    page.get_by_role("button", name="查询并下一步").click()
    page.wait_for_url("**/intake/household/")
    page.get_by_test_id("member").first.locator("input[name$='income_month_fen']").fill("400")
    page.get_by_role("button", name="下一步：困难情况").click()
    page.wait_for_url("**/intake/needs/")
    page.get_by_text("基本生活困难").click()
    page.get_by_role("button", name="下一步：查看救助方案").click()
    page.wait_for_url("**/intake/plan/")
    page.check("#p_dibao")
    page.get_by_role("button", name="下一步：授权签字").click()
    page.wait_for_url("**/intake/authorise/")
    assert page.locator("#proxy_consent").count() == 0
    sign(page, page.locator("canvas").first.get_attribute("data-testid"))
    page.get_by_role("button", name="保存签字，下一步").click()
    page.wait_for_url("**/intake/materials/")
    page.get_by_test_id("submit").click()
    page.wait_for_url("**/staff/cases/*-*-*-*-*/")
    case = Case.objects.get()
    assert case.channel == "station" and case.accepted_unit == alice.unit and not case.handed_over
    assert page.inner_text("[data-testid=reference]") == case.reference
