"""Elder mode (长辈版) on every citizen page, on a phone (390×844) and on a desktop (1366×768).

A citizen switches elder mode on once and walks through every page the public sees: the home
page, the catalogue and a programme, the whole self-check, the tracker, the SMS login, every
step of the online application, the list of their applications and the withdrawal page. On each
page `e2e/elder_measure.js` measures what the browser renders (computed styles and layout
boxes, never the stylesheet's text), and the test collects every shortfall before failing, so
one run names every page and element that falls short:

- the site header with a way home, the elder switch and the read-aloud button;
- all text ≥ 18 px, the main heading ≥ 32 px, programme titles on a list ≥ 22 px;
- text contrast ≥ 4.5:1, the elder switch included (also in the standard version);
- tap targets ≥ 60×60, checkboxes ≥ 32 px with their label beside the box, not below it;
- titles wrapped onto no more lines than their text needs (no two characters per line);
- nothing scrolls sideways.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from e2e.conftest import PHONE, _close, _new_page, go, screenshot
from e2e.test_intake import sign
from e2e.test_portal import answer_everything

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

MEASURE_JS = (Path(__file__).resolve().parent / "elder_measure.js").read_text(encoding="utf-8")
SIZES = {
    "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True, "device_scale_factor": 1},
    "desktop": {"viewport": {"width": 1366, "height": 768}},
}
TARGET_PX = 60


def measure(page) -> dict:
    page.wait_for_load_state()
    return page.evaluate(MEASURE_JS, TARGET_PX)


def shortfalls(m: dict) -> list[str]:
    """What falls short on one page in elder mode, in words; empty when the page passes."""
    found = []
    if not m["elder"]:
        found.append("elder mode is off")
    if not (m["hasToggle"] and m["hasHomeLink"] and m["hasReadAloud"]):
        found.append(f"header: toggle={m['hasToggle']} home={m['hasHomeLink']} read-aloud={m['hasReadAloud']}")
    if m["minFont"] < 18:
        found.append(f"smallest text {m['minFont']}px: {m['tinyText'][:6]}")
    if m["h1Font"] < 32:
        found.append(f"h1 {m['h1Font']}px")
    if m["catalogueTitleFont"] is not None and m["catalogueTitleFont"] < 22:
        found.append(f"programme titles {m['catalogueTitleFont']}px")
    if m["toggleContrast"] < 4.5:
        found.append(f"elder switch contrast {m['toggleContrast']:.2f}:1")
    for key, what in (
        ("lowContrast", "contrast under 4.5:1"),
        ("small", f"targets under {TARGET_PX}×{TARGET_PX}"),
        ("squeezedTitles", "titles squeezed"),
        ("labelsBelow", "labels below their box"),
        ("smallBoxes", "boxes under 32 px"),
    ):
        if m[key]:
            found.append(f"{what}: {m[key][:6]}")
    if m["overflowX"]:
        found.append(f"scrolls sideways by {m['overflowX']}px")
    return found


@pytest.fixture(params=sorted(SIZES))
def sized_page(browser, request):
    context, page, complaints = _new_page(browser, request, **SIZES[request.param])
    page.ejia_size = request.param
    # The read-aloud button speaks through the browser; record what it is asked to say.
    page.add_init_script(
        """
        window.__spoken = [];
        if (window.speechSynthesis) {
          window.speechSynthesis.speak = (u) => window.__spoken.push(u.text);
          window.speechSynthesis.cancel = () => {};
        }
        """
    )
    try:
        yield page
    finally:
        _close(context, complaints)


class Survey:
    """Measures each page as the walk reaches it and keeps every shortfall."""

    def __init__(self, page):
        self.page = page
        self.failures: dict[str, list[str]] = {}
        self.pages: list[str] = []

    def __call__(self, page, name: str) -> dict:
        m = measure(page)
        self.pages.append(name)
        found = shortfalls(m)
        if found:
            self.failures[f"{name} ({page.url})"] = found
        return m


def read_aloud_speaks(page, words: str, survey: Survey) -> None:
    if not page.locator("#read-aloud").is_visible():
        survey.failures[f"read-aloud ({page.url})"] = ["no read-aloud button"]
        return
    page.evaluate("() => { window.__spoken = []; }")
    page.click("#read-aloud")
    assert words in "".join(page.evaluate("() => window.__spoken")), page.url
    page.click("#read-aloud")


def test_elder_mode_on_every_citizen_page(sized_page, live_server, catalogue):
    from ejia.cases.models import Case
    from ejia.core.sms import MemoryBackend
    from ejia.registry.tests.factories import new_id, village

    page = sized_page
    size = page.ejia_size
    survey = Survey(page)
    base = live_server.url

    page.goto(base + "/")
    standard = measure(page)
    assert not standard["elder"]
    if standard["toggleContrast"] < 4.5:
        survey.failures["home, standard version"] = [f"elder switch contrast {standard['toggleContrast']:.2f}:1"]
    go(page, "#elder-switch")
    survey(page, "home")
    screenshot(page, f"elder-{size}-home")
    page.goto(base + "/programmes/")
    survey(page, "catalogue")
    screenshot(page, f"elder-{size}-catalogue", full_page=False)
    page.goto(base + "/programmes/dibao/")
    survey(page, "programme")

    page.goto(base + "/check/")
    survey(page, "selfcheck-start")
    go(page, "#start")
    answer_everything(page, check=survey)
    survey(page, "selfcheck-answers")
    go(page, "#see-results")
    survey(page, "selfcheck-results")
    go(page, "#apply-now")
    survey(page, "selfcheck-apply")

    page.goto(base + "/track/")
    survey(page, "track")
    read_aloud_speaks(page, "查询办理进度", survey)
    page.goto(base + "/apply/")
    page.wait_for_url("**/track/login/?next=*")
    survey(page, "login")
    page.fill("#phone", "13600003333")
    go(page, page.get_by_role("button", name="获取验证码"))
    survey(page, "login-code")
    code = re.search(r"验证码是(\d{6})", MemoryBackend.sent[-1][1]).group(1)
    page.fill("#code", code)
    go(page, page.get_by_role("button", name="登录"))
    page.wait_for_url("**/apply/")  # the login returns to the application
    page.goto(base + "/track/mine/")
    survey(page, "mine-empty")

    page.goto(base + "/apply/")
    survey(page, "apply-start")
    read_aloud_speaks(page, "申请人", survey)
    number = new_id()
    page.fill("#id_id_number", number)
    page.fill("#id_name", "孔祥和")
    go(page, page.get_by_role("button", name="下一步"))
    v = village("371602105")
    page.select_option("#township", v.parent.code)
    page.wait_for_selector("#village")
    page.select_option("#village", v.code)
    page.fill("#address", "东街5号")
    survey(page, "apply-place")
    go(page, page.get_by_role("button", name="下一步"))
    page.wait_for_url("**/apply/members/")
    survey(page, "apply-members")
    page.locator("input[name^=income_]").first.fill("500")
    go(page, page.get_by_role("button", name="下一步"))
    survey(page, "apply-needs")
    page.get_by_text("基本生活困难").click()
    go(page, page.get_by_role("button", name="下一步"))
    page.wait_for_url("**/apply/programmes/")
    survey(page, "apply-programmes")
    screenshot(page, f"elder-{size}-apply-programmes", full_page=False)
    page.check("#p_dibao")
    go(page, page.get_by_role("button", name="下一步"))
    page.wait_for_url("**/apply/sign/")
    survey(page, "apply-sign")
    sign(page, page.locator("canvas").first.get_attribute("data-testid"))
    go(page, page.get_by_role("button", name="下一步"))
    page.wait_for_url("**/apply/check/")
    survey(page, "apply-check")
    go(page, page.get_by_test_id("submit"))
    page.wait_for_url("**/track/mine/")
    survey(page, "mine")
    case = Case.objects.get()
    go(page, page.get_by_test_id("withdraw-link"))
    survey(page, "withdraw")

    page.goto(base + f"/track/?ref={case.reference}")
    page.fill("#id_last6", number[-6:])
    go(page, page.get_by_role("button", name="查询"))
    survey(page, "track-found")

    assert len(survey.pages) >= 30, survey.pages
    assert not survey.failures, "\n".join(f"{name}: {found}" for name, found in survey.failures.items())
