"""Department editors in the browser: changing a criterion shows the engine's verdict and the
household count as they type; an editor of another department is refused."""

from __future__ import annotations

import pytest

from e2e.conftest import go, login, screenshot
from ejia.accounts.models import Role

pytestmark = pytest.mark.e2e


@pytest.fixture
def mei(org):
    """Catalogue editor of the city's 民政局."""
    from conftest import _unit, make_staff

    return make_staff("mei", _unit("371600", "department", "mz"), Role.CATALOGUE_EDITOR, display_name="孙梅")


@pytest.fixture
def jun(org):
    """Catalogue editor of the city's 教育局."""
    from conftest import _unit, make_staff

    return make_staff("jun", _unit("371600", "department", "jy"), Role.CATALOGUE_EDITOR, display_name="李军")


def number(page, selector: str) -> int:
    return int(page.locator(selector).inner_text().replace(",", ""))


def test_an_editor_changes_a_criterion_and_sees_the_count_change(page, live_server, catalogue, mei):
    login(page, live_server, mei)
    go(page, page.get_by_role("link", name="项目维护"))
    go(page, page.get_by_role("link", name="最低生活保障（低保）"))
    assert page.locator("h1").inner_text() == "最低生活保障（低保）"
    published = number(page, "#count-published")
    assert number(page, "#count-draft") == published
    assert "合成演示城市" in page.locator("#count-population").inner_text()

    expr = page.locator("#id_criteria-0-expr")
    # A typo: the engine's Chinese message with its position appears while typing.
    expr.fill("")
    expr.press_sequentially('income_per_capita < 2 * standard("dibao")', delay=5)
    page.wait_for_function("() => document.querySelector('#check-status').innerText.includes('规则有错误')")
    error = page.locator(".rule-error").first.inner_text()
    assert "第1行第1列" in error, error
    screenshot(page, "editor-rule-error")

    expr.fill('income_per_capita_month_fen < 2 * standard("dibao")')
    expr.press("End")
    page.wait_for_function("() => document.querySelector('#check-status').innerText.includes('校验通过')")
    page.wait_for_function(
        "() => (document.querySelector('#count-change') || {innerText: ''}).innerText.includes('多')"
    )
    draft = number(page, "#count-draft")
    assert draft > published
    assert number(page, "#count-published") == published
    screenshot(page, "editor-count-change")

    page.fill("#id_change_note", "试点：收入线提高到低保标准的2倍")
    go(page, "#publish")
    assert "版本历史" in page.locator("h1").inner_text()
    newest = page.locator("article.version").first
    assert "第2版" in newest.inner_text() and "已发布" in newest.inner_text()
    assert "发布人：孙梅" in newest.inner_text()
    assert "修改条件：家庭人均月收入低于低保标准" in newest.inner_text()
    screenshot(page, "editor-history")


def test_an_editor_of_another_department_is_refused(page, live_server, catalogue, jun):
    login(page, live_server, jun)
    go(page, page.get_by_role("link", name="项目维护"))
    assert page.get_by_role("link", name="最低生活保障（低保）").count() == 0
    response = page.goto(live_server.url + "/staff/catalogue/dibao/")
    assert response.status == 403
    assert "您只能维护本部门（教育局）的项目" in page.get_by_test_id("refusal-reason").inner_text()
    screenshot(page, "editor-refused")


def test_an_editor_sets_a_combination_rule_and_a_contradiction_is_refused_as_typed(page, live_server, catalogue, mei):
    from ejia.catalogue.models import CombinationRule

    login(page, live_server, mei)
    page.goto(live_server.url + "/staff/catalogue/dibao/")
    page.get_by_role("tab", name="组合规则").click()
    rows = page.get_by_test_id("combination-row")
    # 低保 "takes precedence over" 特困 contradicts the seeded 特困-over-低保 rule: said at once.
    rows.nth(0).locator("select[name$='-kind']").select_option("precedes")
    rows.nth(0).locator("select[name$='-other']").select_option("tekun")
    page.wait_for_function("() => document.querySelector('#combination-check').innerText.includes('规则自相矛盾')")
    screenshot(page, "editor-combination-refused")
    rows.nth(0).locator("select[name$='-kind']").select_option("excludes")
    rows.nth(0).locator("select[name$='-other']").select_option("expense_hardship")
    rows.nth(0).locator("select[name$='-scope']").select_option("household")
    page.wait_for_function("() => document.querySelector('#combination-check').innerText.includes('没有循环或矛盾')")
    go(page, "#save-combinations")
    assert CombinationRule.objects.filter(programme__code="dibao", other__code="expense_hardship").exists()
    page.get_by_role("tab", name="组合规则").click()
    assert "“低保边缘家庭认定”不可同时享受“最低生活保障（低保）”" in page.inner_text("#tab-combinations")
    screenshot(page, "editor-combinations")
