"""A grid worker's phone: 代办申请 one tap from the home page; a case file shows the summary
first (受理信息, 办理进度, 核对) and folds the long parts (家庭成员与授权, 子件, 综合救助方案,
材料); on a wide screen every fold is open."""

from __future__ import annotations

import pytest

from e2e.conftest import go, login, screenshot
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, gina, member  # noqa: F401 (gina: a fixture)

pytestmark = pytest.mark.e2e

# The case page of this household was 3,464 px tall at 390 px before the folds (see
# docs/phones.md); folded it must stay well under that.
FOLDED_MAX_PX = 2600


@pytest.fixture
def case(catalogue, bob):
    import datetime as dt

    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.cases.workflow.services import procedures_start_for_case
    from ejia.core.outbox import templates_seed

    procedures_seed()
    templates_seed()
    family = [
        member("张大山", income_month_fen=30000),
        member("李小花", female=True, relation="10", income_month_fen=0),
        member("张老汉", birth=dt.date(1944, 3, 9), relation="50", income_month_fen=12000),
        member("张小明", birth=dt.date(2012, 9, 1), relation="20"),
    ]
    found = case_submit(
        actor=bob,
        channel=Channel.WINDOW,
        idempotency_key="e2e-case-page-phone",
        data=application(*family, programmes=("dibao", "medical_aid", "linshi")),
    )
    procedures_start_for_case(found)
    return found


def folds(page) -> list[dict]:
    return page.evaluate(
        "() => [...document.querySelectorAll('details[data-fold]')].map((d) => ({id: d.id, open: d.open}))"
    )


def test_the_case_page_on_a_phone_shows_the_summary_and_folds_the_rest(phone_page, live_server, bob, case):
    page = phone_page
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/staff/cases/{case.public_id}/")
    height = page.evaluate("() => document.documentElement.scrollHeight")
    print(f"case page at 390 px: {height} px tall, folded")
    main = page.inner_text("main")
    # The summary: who, how, when, and where each programme stands.
    for words in ("张大山", "窗口受理", "办理进度", "最低生活保障"):
        assert words in main, words
    shown = folds(page)
    assert {f["id"] for f in shown} >= {"fold-members", "fold-requests", "fold-plan"}
    assert not any(f["open"] for f in shown), shown
    assert height <= FOLDED_MAX_PX, height
    screenshot(page, "case-page-phone-folded")
    # A fold opens with a tap on its title.
    page.locator("#fold-plan > summary").click()
    assert page.get_by_test_id("plan").is_visible()
    opened = page.evaluate("() => document.documentElement.scrollHeight")
    assert opened > height


def test_the_case_page_on_a_wide_screen_opens_every_fold(page, live_server, bob, case):
    login(page, live_server, bob)
    page.goto(f"{live_server.url}/staff/cases/{case.public_id}/")
    assert len(folds(page)) >= 3
    page.wait_for_function("() => [...document.querySelectorAll('details[data-fold]')].every((d) => d.open)")
    assert page.get_by_test_id("plan").is_visible()
    assert page.get_by_test_id("requests").is_visible()


def test_a_grid_worker_starts_an_application_from_the_home_page_on_a_phone(phone_page, live_server, gina):  # noqa: F811
    page = phone_page
    login(page, live_server, gina)
    page.goto(live_server.url + "/staff/")
    start = page.get_by_test_id("action-intake")
    assert start.inner_text() == "代办申请"
    box = start.bounding_box()
    assert box["y"] + box["height"] <= 844, "on the first screen"
    assert page.get_by_test_id("action-my_cases").inner_text() == "我代办的申请"
    assert page.get_by_test_id("action-report").inner_text() == "上报困难"
    screenshot(page, "grid-home-phone", full_page=False)
    go(page, start)
    assert page.url.endswith("/staff/cases/intake/")
    assert page.locator("#id_id_number").is_visible()
