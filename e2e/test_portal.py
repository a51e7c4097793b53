"""Citizens on the public portal: find a programme by a Chinese keyword on a phone, and go
through the whole self-check in normal and in elder mode (长辈版), measuring what the
browser really renders."""

from __future__ import annotations

import pytest

from e2e.conftest import go, screenshot

pytestmark = pytest.mark.e2e


# Sizes, line heights, target boxes and contrast of what is on screen, from computed styles.
MEASURE_JS = """
() => {
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
      && !el.closest('.visually-hidden, .visually-hidden-focusable, [hidden]');
  };
  const px = (v) => parseFloat(v);
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const contrast = (el) => {
    const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(background(el));
    return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  };
  const describe = (el) => (el.id ? '#' + el.id : el.tagName.toLowerCase() + '.' + [...el.classList].join('.'))
    + ' "' + (el.innerText || el.value || '').trim().slice(0, 20) + '"';

  const body = getComputedStyle(document.body);
  const h1 = document.querySelector('main h1');
  // Tap targets: links, buttons, fields; a checkbox or radio is tapped through its label.
  const targets = [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary')]
    .map((el) => (el.matches('input[type=checkbox], input[type=radio]') ? el.closest('label') || el : el))
    .filter(visible);
  const small = [];
  for (const el of new Set(targets)) {
    const r = el.getBoundingClientRect();
    if (r.width < 60 - 0.5 || r.height < 60 - 0.5) small.push(describe(el) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
  }
  const texts = [...document.querySelectorAll('main p, main li, main label, main legend, main dt, main dd, main h1, main h2, main h3, main .btn, header .btn, header a')]
    .filter(visible).filter((el) => (el.innerText || '').trim());
  const tinyText = [], tightLines = [], lowContrast = [];
  for (const el of texts) {
    const s = getComputedStyle(el);
    if (px(s.fontSize) < 18) tinyText.push(describe(el) + ' ' + s.fontSize);
    const lh = s.lineHeight === 'normal' ? 1.2 * px(s.fontSize) : px(s.lineHeight);
    if (lh / px(s.fontSize) < 1.3 - 0.01 && !el.matches('.btn')) tightLines.push(describe(el) + ' ' + (lh / px(s.fontSize)).toFixed(2));
    const c = contrast(el);
    if (c < 4.5) lowContrast.push(describe(el) + ' ' + c.toFixed(2));
  }
  return {
    bodyFont: px(body.fontSize),
    bodyLineHeight: px(body.lineHeight) / px(body.fontSize),
    h1Font: h1 ? px(getComputedStyle(h1).fontSize) : 0,
    small, tinyText, tightLines, lowContrast,
    modals: document.querySelectorAll('.modal.show, dialog[open], [role=dialog]').length,
  };
}
"""


def assert_elder_page(page, name: str) -> None:
    page.wait_for_load_state()
    m = page.evaluate(MEASURE_JS)
    assert page.locator("body.elder").count() == 1, name
    assert m["bodyFont"] >= 18, (name, m["bodyFont"])
    assert m["h1Font"] >= 30, (name, m["h1Font"])
    assert m["bodyLineHeight"] >= 1.3, (name, m["bodyLineHeight"])
    assert m["small"] == [], (name, "tap targets under 60×60", m["small"])
    assert m["tinyText"] == [], (name, "text under 18px", m["tinyText"])
    assert m["tightLines"] == [], (name, "line height under 1.3", m["tightLines"])
    assert m["lowContrast"] == [], (name, "contrast under 4.5:1", m["lowContrast"])
    assert m["modals"] == 0, name


def test_a_phone_user_finds_a_programme_by_a_chinese_keyword(phone_page, live_server, catalogue):
    page = phone_page
    page.goto(live_server.url + "/")
    with page.expect_navigation():
        page.get_by_role("link", name="查政策：全部救助项目").click()
    assert page.locator("h1").inner_text() == "查政策"
    page.fill("#id_q", "看病")
    # htmx swaps the results while typing; without JavaScript the search button submits.
    page.wait_for_function("() => document.querySelector('.result-count').innerText.startsWith('找到')")
    names = page.locator(".programme-name").all_inner_texts()
    assert any("医疗救助" in n for n in names), names
    assert not any(n == "最低生活保障（低保）" for n in names)
    screenshot(page, "catalogue-search-phone")
    with page.expect_navigation():
        page.locator(".programme-link", has_text="门诊和住院医疗救助").click()
    assert page.locator("h1").inner_text() == "门诊和住院医疗救助"
    for heading in ("谁可以申请", "能得到什么", "怎么申请", "负责部门和咨询"):
        assert page.get_by_role("heading", name=heading).is_visible()
    # The page fits the phone: nothing scrolls sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "programme-page-phone")


def test_the_search_works_without_javascript(browser, live_server, catalogue):
    context = browser.new_context(java_script_enabled=False, locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(live_server.url + "/programmes/")
        page.fill("#id_q", "低保")
        go(page, "#search-button")
        assert "q=" in page.url
        assert "最低生活保障（低保）" in page.locator("#catalogue-results").inner_text()
    finally:
        context.close()


SHOT_STEPS = {"situation", "health_detail"}


def answer_everything(page, *, shots: str = "", check=None) -> None:
    """Go through the self-check as a three-person family with a disabled adult, an elder and
    a child at junior school; savings unknown."""

    def step(expected_h1: str, fill) -> None:
        assert page.locator("h1").inner_text() == expected_h1
        fill()
        if check:
            check(page, expected_h1)
        slug = page.url.split("/check/q/")[-1].split("/")[0]
        if shots and slug in SHOT_STEPS:
            screenshot(page, f"{shots}-{slug}")
        go(page, "#continue")

    def place():
        page.select_option("#id_township", "371602105")

    step("您家住在哪个乡镇（街道）？", place)
    step("家里有几口人一起生活？", lambda: page.fill("#id_size", "3"))

    def ages():
        page.fill("#id_elderly60", "1")
        page.fill("#id_children", "1")
        page.fill("#id_jobless", "1")

    step("家里这些人中，有几位是……", ages)
    step("家里未满18岁的孩子在上什么学？", lambda: page.fill("#id_junior", "1"))
    step("下面哪些情况符合您家？", lambda: page.get_by_label("以上都没有").check())
    step("家里每月一共有多少收入？", lambda: page.fill("#id_amount", "800"))
    step("家里的存款、理财一共大约有多少？", lambda: page.get_by_label("不清楚").check())

    def housing():
        page.get_by_label("自有住房，安全").check()
        page.locator("input[name=other_houses][value=no]").check()
        page.locator("input[name=car][value=no]").check()
        page.locator("input[name=business][value=no]").check()

    step("家里的住房和车辆是什么情况？", housing)
    step("家里有没有人残疾、生病或不能自理？", lambda: page.get_by_label("有人有残疾证").check())
    step("这些情况各有几个人？", lambda: page.fill("#id_grade2", "1"))
    step(
        "家里的老人、孩子或残疾人，有没有能供养他们的亲人？",
        lambda: page.locator("input[name=supporter][value=no]").check(),
    )

    def costs():
        page.fill("#id_medical", "5000")
        page.fill("#id_education", "600")
        page.get_by_label("都没有").check()

    step("最近一年，看病、上学自己花了多少钱？", costs)


def read_results(page) -> dict[str, list[str]]:
    groups = {}
    for key in ("eligible", "possibly_eligible", "not_eligible"):
        groups[key] = [t.strip() for t in page.locator(f".result-{key} .result-card h3").all_text_contents()]
    return groups


def test_the_whole_self_check_on_a_phone(phone_page, live_server, catalogue):
    page = phone_page
    page.goto(live_server.url + "/check/")
    screenshot(page, "selfcheck-start-phone")
    go(page, "#start")
    # An answer that does not add up is explained in Chinese, on the same page.
    page.select_option("#id_township", "371602105")
    go(page, "#continue")
    page.fill("#id_size", "1")
    go(page, "#continue")
    page.fill("#id_elderly60", "2")
    go(page, "#continue")
    assert "比家里的 1 口人还多" in page.locator(".error-summary").inner_text()
    screenshot(page, "selfcheck-error-phone")
    # Back to the start through the back links: the answers are kept.
    go(page, ".back-link")
    assert page.input_value("#id_size") == "1"
    go(page, ".back-link")
    assert page.input_value("#id_township") == "371602105"
    answer_everything(page, shots="selfcheck-phone")

    assert page.locator("h1").inner_text() == "核对您的回答"
    assert page.locator(".answer-row").count() == 12
    screenshot(page, "selfcheck-answers-phone")
    # Change one answer from the check page and come straight back to it.
    with page.expect_navigation():
        page.locator(".answer-row", has_text="每月收入").get_by_role("link").click()
    page.fill("#id_amount", "600")
    go(page, "#continue")
    assert page.locator("h1").inner_text() == "核对您的回答"
    assert "600 元" in page.locator(".answer-row", has_text="每月收入").inner_text()

    go(page, "#see-results")
    assert page.locator("h1").inner_text() == "您家可能享受的救助"
    assert "这只是估算，不是审批决定" in page.locator(".estimate-note").inner_text()
    groups = read_results(page)
    assert "重度残疾人护理补贴" in groups["eligible"]
    # Savings are unknown, so 低保 needs verification and says so in words.
    assert "最低生活保障（低保）" in groups["possibly_eligible"]
    dibao = page.locator(".result-card[data-code=dibao]")
    assert "需要核实：家庭金融资产" in dibao.text_content()
    assert groups["not_eligible"], "some programmes do not fit, with reasons"
    screenshot(page, "selfcheck-results-phone")
    go(page, "#apply-now")
    assert page.locator("h1").inner_text() == "怎么申请"
    assert "三河湖镇" in page.locator("main").inner_text()
    screenshot(page, "selfcheck-apply-phone")


def test_the_whole_self_check_in_elder_mode(phone_page, live_server, catalogue):
    page = phone_page
    # The read-aloud button speaks through the browser; record what it is asked to say.
    page.add_init_script(
        """
        window.__spoken = [];
        if (window.speechSynthesis) {
          window.speechSynthesis.speak = (u) => window.__spoken.push({text: u.text, lang: u.lang});
          window.speechSynthesis.cancel = () => {};
        }
        """
    )
    page.goto(live_server.url + "/")
    normal = page.evaluate(MEASURE_JS)
    assert normal["bodyFont"] < 18  # the standard version keeps ordinary sizes
    go(page, "#elder-switch")
    assert page.locator("#elder-switch").inner_text() == "退出长辈版"
    assert_elder_page(page, "home")
    screenshot(page, "elder-home-phone")

    page.click("#read-aloud")
    spoken = page.evaluate("window.__spoken")
    assert spoken and all(s["lang"] == "zh-CN" for s in spoken)
    assert "遇到困难，可以找政府帮忙" in "".join(s["text"] for s in spoken)
    assert page.locator("#read-aloud").inner_text() == "停止朗读"
    page.click("#read-aloud")

    page.goto(live_server.url + "/check/")
    assert_elder_page(page, "start")  # remembered across pages
    go(page, "#start")
    answer_everything(page, shots="elder", check=assert_elder_page)
    assert_elder_page(page, "answers")
    screenshot(page, "elder-answers-phone")
    go(page, "#see-results")
    assert_elder_page(page, "results")
    screenshot(page, "elder-results-phone")
    assert "最低生活保障（低保）" in read_results(page)["possibly_eligible"]
    page.goto(live_server.url + "/programmes/?q=低保")
    assert_elder_page(page, "catalogue")
    page.goto(live_server.url + "/programmes/dibao/")
    assert_elder_page(page, "programme")
    screenshot(page, "elder-programme-phone")
