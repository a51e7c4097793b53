"""Browser journeys of the window intake: ID card reader → plan → signatures → receipt."""

from __future__ import annotations

import pytest
from django.conf import settings

from e2e.conftest import login, screenshot
from ejia.cases.models import Case
from ejia.core import idnumber
from ejia.registry.population import population_import_rows

pytestmark = pytest.mark.e2e


@pytest.fixture
def catalogue(org):
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()


@pytest.fixture
def population(org):
    """The mock card's holder, wife and son in the 公安人口库 snapshot (synthetic people)."""
    import datetime as dt

    from ejia.registry.tests.factories import village

    card = settings.EJIA_ID_READER_MOCK_CARD
    code = village("371602001").code
    rows = [
        dict(id_number=card["id_number"], name=card["name"], relation="02"),
        dict(id_number=idnumber.make("371602", dt.date(1965, 9, 1), 244), name="李秀兰", relation="10"),
        dict(id_number=idnumber.make("371602", dt.date(2009, 2, 14), 311), name="王小明", relation="20"),
    ]
    for row in rows:
        row.update(address=card["address"], hukou_number="H371602-0001", division_code=code)
    population_import_rows(rows)
    return rows


def sign(page, testid: str) -> None:
    canvas = page.get_by_test_id(testid)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x, y = box["x"], box["y"] + box["height"] / 2
    page.mouse.move(x + 30, y)
    page.mouse.down()
    for i in range(1, 12):
        page.mouse.move(x + 30 + i * 18, y + (12 if i % 2 else -12), steps=3)
    page.mouse.up()


def test_a_window_clerk_reads_the_card_and_prints_the_receipt(page, live_server, bob, population, catalogue):
    login(page, live_server, bob)
    page.goto(live_server.url + "/staff/cases/intake/")
    page.get_by_test_id("read-card").click()
    page.wait_for_function("() => document.getElementById('id_id_number').value.length === 18")
    assert page.input_value("#id_name") == "王建国"
    assert "号码有效" in page.inner_text("[data-id-feedback]")
    screenshot(page, "intake-1-id-card")
    page.get_by_role("button", name="查询并下一步").click()

    page.wait_for_url("**/intake/household/")
    cards = page.get_by_test_id("member")
    assert cards.count() == 3 and "王小明" in page.inner_text("main")
    for i in range(3):
        cards.nth(i).locator("input[name$='income_month_fen']").fill("0" if i else "800")
    page.locator("details summary").first.click()
    page.fill("#h_financial_assets_fen", "2000")
    page.fill("#h_vehicles", "0")
    page.fill("#h_housing_units", "1")
    page.select_option("#h_has_business", "false")
    screenshot(page, "intake-2-household")
    page.get_by_role("button", name="下一步：困难情况").click()

    page.wait_for_url("**/intake/needs/")
    page.get_by_text("生病、看病花钱多").click()
    page.get_by_text("基本生活困难").click()
    page.fill("#needs_note", "老伴常年吃药，孩子上初中，家里只有我打零工。")
    page.get_by_role("button", name="下一步：查看救助方案").click()

    page.wait_for_url("**/intake/plan/")
    assert page.is_checked("#p_dibao")
    screenshot(page, "intake-3-plan")
    page.get_by_role("button", name="下一步：授权签字").click()

    page.wait_for_url("**/intake/authorise/")
    page.get_by_role("button", name="保存签字，下一步").click()  # nobody signed yet: refused, nothing lost
    assert "尚未签署" in page.inner_text("[data-testid=errors]")
    canvases = page.locator("canvas")
    assert canvases.count() == 2  # two adults; the 16-year-old signs nothing
    for i in range(2):
        sign(page, canvases.nth(i).get_attribute("data-testid"))
    screenshot(page, "intake-4-authorise")
    page.get_by_role("button", name="保存签字，下一步").click()

    page.wait_for_url("**/intake/materials/")
    page.get_by_label("申请人身份证或户口簿", exact=False).first.check()
    screenshot(page, "intake-5-materials")
    page.get_by_test_id("submit").dblclick()

    page.wait_for_url("**/staff/cases/*-*-*-*-*/")
    case = Case.objects.get()
    assert page.inner_text("[data-testid=reference]") == case.reference
    assert "市中街道" in page.inner_text("[data-testid=window]")
    assert page.locator("[data-testid=authorisations] img").count() == 2
    screenshot(page, "intake-6-case")
    pdf = page.request.get(live_server.url + f"/staff/cases/{case.public_id}/receipt.pdf")
    assert pdf.ok and pdf.body().startswith(b"%PDF")

    page.goto(live_server.url + "/staff/cases/")
    assert case.reference in page.inner_text("[data-testid=queue]")
    screenshot(page, "intake-7-queue")
    page.goto(live_server.url + f"/staff/registry/households/{case.household.public_id}/")
    assert "王小明" in page.inner_text("[data-testid=members]")
    screenshot(page, "registry-household")


def test_a_township_clerk_is_refused_another_townships_household(page, live_server, bob, carol, population, catalogue):
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application

    case = case_submit(actor=bob, channel="window", idempotency_key="e2e", data=application())
    login(page, live_server, carol)
    response = page.goto(live_server.url + f"/staff/registry/households/{case.household.public_id}/")
    assert response.status == 403
    response = page.goto(live_server.url + f"/staff/cases/{case.public_id}/")
    assert response.status == 403
    page.goto(live_server.url + "/staff/cases/")
    assert case.reference not in page.inner_text("main")


@pytest.fixture
def gina(org):
    """A grid worker in 市中街道's first community."""
    from conftest import make_staff
    from ejia.accounts.models import OrgUnit, Role
    from ejia.registry.tests.factories import village

    unit = OrgUnit.objects.get(division=village("371602001"), kind="station")
    return make_staff("gina", unit, Role.GRID_WORKER, display_name="孙网格")


def test_a_grid_worker_applies_on_a_phone_with_the_applicants_consent(
    phone_page, live_server, gina, population, catalogue
):
    page = phone_page
    wife = population[1]
    login(page, live_server, gina)
    page.goto(live_server.url + "/staff/cases/intake/")
    page.fill("#id_id_number", wife["id_number"][:17] + ("0" if wife["id_number"][17] != "0" else "1"))
    assert "校验位不正确" in page.inner_text("[data-id-feedback]")  # live check, before any request
    page.fill("#id_id_number", wife["id_number"])
    page.get_by_role("button", name="查询并下一步").click()
    page.wait_for_url("**/intake/household/")
    assert page.get_by_test_id("member").count() == 3
    screenshot(page, "grid-1-household-phone")
    page.get_by_role("button", name="下一步：困难情况").click()
    page.get_by_text("基本生活困难").click()
    page.get_by_role("button", name="下一步：查看救助方案").click()
    page.wait_for_url("**/intake/plan/")
    page.check("#p_linshi")
    screenshot(page, "grid-2-plan-phone", full_page=False)
    page.get_by_role("button", name="下一步：授权签字").click()
    page.wait_for_url("**/intake/authorise/")
    for i in range(2):
        sign(page, page.locator("canvas").nth(i).get_attribute("data-testid"))
    page.get_by_role("button", name="保存签字，下一步").click()
    assert "网格员代办须取得申请人同意" in page.inner_text("[data-testid=errors]")
    page.check("#proxy_consent")
    sign(page, "canvas-sig_proxy")
    screenshot(page, "grid-3-consent-phone")
    page.get_by_role("button", name="保存签字，下一步").click()
    page.wait_for_url("**/intake/materials/")
    page.get_by_test_id("submit").click()
    page.wait_for_url("**/staff/cases/*-*-*-*-*/")
    case = Case.objects.get()
    assert case.channel == "grid_proxy" and case.proxy_consent and case.applicant.name == "李秀兰"
    assert "网格员代办" in page.inner_text("main")
    screenshot(page, "grid-4-case-phone")


def test_a_citizen_applies_on_a_phone_with_an_sms_code_and_tracks_the_case(phone_page, live_server, org, catalogue):
    import re as _re

    from ejia.core.sms import MemoryBackend
    from ejia.registry.tests.factories import new_id, village

    page = phone_page
    page.goto(live_server.url + "/apply/")
    page.wait_for_url("**/track/login/?next=*")
    page.fill("#phone", "13600002222")
    page.get_by_role("button", name="获取验证码").click()
    code = _re.search(r"验证码是(\d{6})", MemoryBackend.sent[-1][1]).group(1)
    page.fill("#code", code)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/apply/")  # the login returns to the application it interrupted
    assert page.locator("header .navbar-brand").count() == 1
    number = new_id()
    page.fill("#id_id_number", number)
    page.fill("#id_name", "孔祥和")
    page.get_by_role("button", name="下一步").click()
    v = village("371602105")
    page.select_option("#township", v.parent.code)
    page.wait_for_selector("#village")
    page.select_option("#village", v.code)
    page.fill("#address", "东街5号")
    page.get_by_role("button", name="下一步").click()
    page.wait_for_url("**/apply/members/")
    page.locator("input[name^=income_]").first.fill("500")
    screenshot(page, "citizen-1-members-phone")
    page.get_by_role("button", name="下一步").click()
    page.get_by_text("基本生活困难").click()
    page.get_by_role("button", name="下一步").click()
    page.wait_for_url("**/apply/programmes/")
    page.check("#p_dibao")
    screenshot(page, "citizen-2-programmes-phone", full_page=False)
    page.get_by_role("button", name="下一步").click()
    page.wait_for_url("**/apply/sign/")
    sign(page, page.locator("canvas").first.get_attribute("data-testid"))
    page.get_by_role("button", name="下一步").click()
    page.wait_for_url("**/apply/check/")
    screenshot(page, "citizen-3-check-phone")
    page.get_by_test_id("submit").click()
    page.wait_for_url("**/track/mine/")
    case = Case.objects.get()
    assert case.channel == "self_service" and case.window.division.code == "371602105"
    assert case.reference in page.inner_text("main")
    screenshot(page, "citizen-4-mine-phone")
    # Tracking by reference + the last 6 characters of the ID number, as printed on the receipt.
    page.goto(live_server.url + f"/track/?ref={case.reference}")
    page.fill("#id_last6", number[-6:])
    page.get_by_role("button", name="查询").click()
    assert "调查核实" in page.inner_text("[data-testid=tracked]")
    screenshot(page, "citizen-5-track-phone")
