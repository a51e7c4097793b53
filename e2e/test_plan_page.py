"""The 综合救助方案 in a browser: what the family already receives, what cannot be combined,
whom a member programme is for, the totals — at the window and on the printed receipt."""

from __future__ import annotations

import datetime as dt
import subprocess

import pytest
from django.utils import timezone

from e2e.conftest import SCREENSHOT_DIR, login, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _household_with_held_tekun(dave):
    """An elder on 特困 since June (a live entitlement) and her disabled son on a low income."""
    from ejia.catalogue.models import Programme
    from ejia.disbursement.services import entitlement_create
    from ejia.registry.models import MemberStatus, StatusKind
    from ejia.registry.services import household_create, membership_add, person_ensure
    from ejia.registry.tests.factories import new_id, village

    today = timezone.localdate()
    june = dt.date(today.year if today.month > 6 else today.year - 1, 6, 1)
    household = household_create(
        actor=None,
        division=village(),
        address="幸福路12号",
        facts={"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False},
        source="test",
    )
    number = new_id(dt.date(today.year - 78, 3, 1), female=True)
    mother = person_ensure(actor=None, id_number=number, name="刘秀兰", reason="test")
    membership_add(
        actor=None,
        household=household,
        person=mother,
        relation="02",
        facts={"income_month_fen": 50000, "has_capable_supporter": False, "self_care": "full"},
    )
    son = person_ensure(actor=None, id_number=new_id(dt.date(today.year - 48, 5, 1)), name="王建军", reason="test")
    membership_add(
        actor=None,
        household=household,
        person=son,
        relation="20",
        facts={"income_month_fen": 40000, "disability_grade": 2, "disability_kind": "physical"},
    )
    MemberStatus.objects.create(household=household, person=mother, kind=StatusKind.TEKUN, start=june)
    entitlement_create(
        actor=dave,
        household=household,
        programme=Programme.objects.get(code="tekun"),
        person=mother,
        amount_fen=150900,
        start_month=june,
    )
    return number


def test_the_window_sees_held_excluded_and_per_member_entries_and_the_receipt_adds_up(
    page, live_server, catalogue, bob, dave
):
    number = _household_with_held_tekun(dave)
    login(page, live_server, bob)
    page.goto(live_server.url + "/staff/cases/intake/")
    page.fill("#id_id_number", number)
    page.get_by_role("button", name="查询并下一步").click()
    page.wait_for_url("**/intake/household/")
    page.get_by_role("button", name="下一步：困难情况").click()
    page.wait_for_url("**/intake/needs/")
    page.get_by_text("家里有残疾人").click()
    page.get_by_role("button", name="下一步：查看救助方案").click()
    page.wait_for_url("**/intake/plan/")
    held = page.get_by_test_id("plan-already_received")
    assert "特困人员救助供养" in held.inner_text() and "已享受" in held.inner_text()
    assert "¥1,509.00" in held.inner_text()
    subsidy = page.locator("[data-testid^='entry-severe_disability_care_subsidy:']", has_text="为 王建军")
    assert "为 王建军" in subsidy.inner_text()
    assert subsidy.locator("input[type=checkbox]").is_checked()
    screenshot(page, "plan-window")
    page.get_by_role("button", name="下一步：授权签字").click()
    page.wait_for_url("**/intake/authorise/")
    canvases = page.locator("canvas")
    for i in range(canvases.count()):
        canvas = canvases.nth(i)
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        x, y = box["x"], box["y"] + box["height"] / 2
        page.mouse.move(x + 30, y)
        page.mouse.down()
        for k in range(1, 12):
            page.mouse.move(x + 30 + k * 18, y + (12 if k % 2 else -12), steps=3)
        page.mouse.up()
    page.get_by_role("button", name="保存签字，下一步").click()
    page.wait_for_url("**/intake/materials/")
    screenshot(page, "plan-materials")
    page.get_by_test_id("submit").click()
    page.wait_for_url("**/staff/cases/*-*-*-*-*/")
    page.wait_for_selector("[data-testid=plan-totals]")
    screenshot(page, "plan-case-page")

    from ejia.cases.models import Case
    from ejia.cases.receipt import receipt_pdf

    case = Case.objects.get()
    request = case.requests.get(programme__code="severe_disability_care_subsidy")
    assert request.person.name == "王建军"
    assert not case.requests.filter(programme__code="tekun").exists()  # already received: not sent again
    pdf = SCREENSHOT_DIR / "plan-receipt.pdf"
    pdf.write_bytes(receipt_pdf(case).getvalue())
    subprocess.run(
        ["pdftoppm", "-png", "-r", "70", "-f", "1", "-l", "2", str(pdf), str(pdf.with_suffix(""))], check=True
    )
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "已享受的救助" in text and "救助合计" in text and "王建军" in text
