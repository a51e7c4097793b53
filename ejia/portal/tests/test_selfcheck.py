"""The self-check asks only what matters, keeps answers when going back, and stores nothing."""

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from ejia.portal import questions

ON = dt.date(2026, 6, 1)


def q(slug: str, *, change: bool = False) -> str:
    url = reverse("portal:selfcheck_question", args=[slug])
    return url + ("?change=1" if change else "")


def answer(client, slug: str, data: dict, *, change: bool = False):
    response = client.post(q(slug, change=change), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return response["Location"]


SINGLE_WORKER = {
    "place": {"township": "371602001"},
    "size": {"size": "1"},
    "ages": {"elderly80": "0", "elderly60": "0", "children": "0", "college": "0", "jobless": "0"},
    "situation": {"items": ["none"]},
    "income": {"amount": "3000"},
    "assets": {"amount": "5000"},
    "housing": {"housing_condition": "owned_ok", "other_houses": "no", "car": "no", "business": "no"},
    "health": {"items": ["none"]},
    "costs": {"medical": "0", "events": ["none"]},
}


def walk(client, answers: dict) -> list[str]:
    """Answer from the first question, following the redirects; returns the slugs asked."""
    asked = []
    location = q("place")
    while "/check/q/" in location:
        slug = location.split("/check/q/")[1].split("/")[0]
        asked.append(slug)
        location = answer(client, slug, answers[slug])
    assert location == reverse("portal:selfcheck_answers")
    return asked


def test_a_single_working_adult_is_asked_nine_questions(client, org):
    asked = walk(client, SINGLE_WORKER)
    assert asked == ["place", "size", "ages", "situation", "income", "assets", "housing", "health", "costs"]


def test_children_bring_the_school_question_and_the_supporter_question(client, org):
    answers = dict(SINGLE_WORKER)
    answers["size"] = {"size": "3"}
    answers["ages"] = {"elderly80": "0", "elderly60": "0", "children": "1", "college": "0", "jobless": "0"}
    answers["school"] = {"primary": "1"}
    answers["supporter"] = {"supporter": "unknown"}
    answers["costs"] = {"medical": "0", "education": "800", "events": ["none"]}
    asked = walk(client, answers)
    assert "school" in asked and "supporter" in asked
    assert "health_detail" not in asked


def test_illness_details_are_asked_only_when_someone_is_ill(client, org):
    answers = dict(SINGLE_WORKER)
    answers["health"] = {"items": ["disabled", "serious"]}
    answers["health_detail"] = {"grade2": "1", "serious": "1"}
    answers["supporter"] = {"supporter": "no"}
    asked = walk(client, answers)
    assert asked.index("health_detail") == asked.index("health") + 1
    page = client.get(q("health_detail"))
    html = page.content.decode()
    assert "残疾二级" in html and "得大病、重病的人数" in html
    assert "慢性病" not in html and "完全不能自理" not in html


def test_going_back_shows_the_answer_given(client, org):
    answer(client, "place", {"township": "371602001"})
    answer(client, "size", {"size": "4"})
    page = client.get(q("size"))
    html = page.content.decode()
    assert 'value="4"' in html
    assert f'href="{q("place")}"' in html  # the back link


def test_a_later_question_cannot_be_reached_before_the_earlier_ones(client, org):
    response = client.get(q("income"))
    assert response["Location"] == q("place")


def test_a_question_that_no_longer_applies_is_skipped(client, org):
    walk(client, SINGLE_WORKER)
    response = client.get(q("school"))
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:selfcheck_answers")


def test_a_change_that_needs_a_new_question_asks_it_then_returns_to_the_check_page(client, org):
    walk(client, SINGLE_WORKER)
    location = answer(
        client,
        "ages",
        {"elderly80": "0", "elderly60": "0", "children": "1", "college": "0", "jobless": "0"},
        change=True,
    )
    # One person cannot be both the working adult and a child: the size must change first.
    assert location.startswith(q("school"))
    location = answer(client, "school", {"primary": "1"}, change=True)
    assert location.startswith(q("supporter"))
    location = answer(client, "supporter", {"supporter": "yes"}, change=True)
    assert location == reverse("portal:selfcheck_answers")


def test_answers_that_do_not_add_up_get_a_chinese_error(client, org):
    answer(client, "place", {"township": "371602001"})
    answer(client, "size", {"size": "2"})
    response = client.post(
        q("ages"), {"elderly80": "1", "elderly60": "1", "children": "1", "college": "0", "jobless": "0"}
    )
    assert response.status_code == 200
    assert "比家里的 2 口人还多" in response.content.decode()


def test_none_and_another_option_cannot_both_be_ticked(client, org):
    for slug in ("place", "size", "ages"):
        answer(client, slug, SINGLE_WORKER[slug])
    response = client.post(q("situation"), {"items": ["none", "on_dibao"]})
    assert "不能和其他选项同时选" in response.content.decode()


def test_the_check_page_lists_every_answer_with_a_change_link(client, org):
    walk(client, SINGLE_WORKER)
    html = client.get(reverse("portal:selfcheck_answers")).content.decode()
    assert "滨城区 市中街道" in html
    assert "3,000 元" in html and "¥" not in html.split("answers-list")[1]
    assert html.count("?change=1") == 9


def test_nothing_is_stored_in_the_database(client, org):
    walk(client, SINGLE_WORKER)
    assert Session.objects.count() == 0


def test_the_answers_cookie_cannot_be_forged(client, org):
    client.cookies["ejia_selfcheck"] = "not-a-signed-value"
    response = client.get(reverse("portal:selfcheck_answers"))
    assert response["Location"] == q("place")


@pytest.mark.parametrize("unknown", [True, False])
def test_unknown_income_stays_unknown_for_the_engine(org, unknown):
    answers = {
        "place": {"township": "371602105"},
        "size": {"size": 3},
        "ages": {"elderly80": 1, "elderly60": 0, "children": 1, "college": 0, "jobless": 1},
        "school": {"junior": 1},
        "income": {"amount_fen": None, "unknown": True} if unknown else {"amount_fen": 150000, "unknown": False},
    }
    estimate = questions.build_estimate(answers, ON)
    assert estimate.division_code == "371602105"
    assert estimate.household["region_code"] == "371602"
    assert estimate.household["urban"] is False  # 三河湖镇 is a town
    assert len(estimate.members) == 3
    incomes = [m.get("income_month_fen") for m in estimate.members]
    assert incomes == ([None, None, None] if unknown else [150000, 0, 0])
    ages = sorted(
        ON.year - m["birth_date"].year - ((ON.month, ON.day) < (m["birth_date"].month, m["birth_date"].day))
        for m in estimate.members
    )
    assert ages == [13, 40, 82]
    adult = estimate.members[0]
    assert adult["employment"] == "unemployed"
    assert "financial_assets_fen" not in estimate.household  # not asked yet: unknown


def test_disability_and_supporter_answers_reach_the_members(org):
    answers = {
        "place": {"township": "371602001"},
        "size": {"size": 2},
        "ages": {"elderly80": 0, "elderly60": 1, "children": 0, "college": 0, "jobless": 0},
        "health": {"items": ["disabled", "care"]},
        "health_detail": {"grade1": 1, "care_none": 1},
        "supporter": {"supporter": "no"},
    }
    estimate = questions.build_estimate(answers, ON)
    adult, elder = estimate.members
    assert adult["disability_grade"] == 1 and elder["disability_grade"] == 0
    assert elder["self_care"] == "none" and adult["self_care"] == "full"
    assert adult["has_capable_supporter"] is False and elder["has_capable_supporter"] is False
    assert estimate.household["urban"] is True


def results_html(client) -> str:
    response = client.get(reverse("portal:selfcheck_results"))
    assert response.status_code == 200
    return response.content.decode()


def group_of(html: str, key: str) -> str:
    return html.split(f'class="result-group mb-4 result-{key}"')[1].split("</section>")[0]


def card(group_html: str, code: str) -> str:
    """The result card of one programme inside a group ('' when it is not there)."""
    marker = f'data-code="{code}"'
    if marker not in group_html:
        return ""
    return group_html.split(marker)[1].split("</article>")[0]


POOR_FAMILY = {
    **SINGLE_WORKER,
    "size": {"size": "3"},
    "ages": {"elderly80": "0", "elderly60": "1", "children": "1", "college": "0", "jobless": "1"},
    "school": {"junior": "1"},
    "supporter": {"supporter": "no"},
    "income": {"amount": "900"},
    "assets": {"amount": "2000"},
    "costs": {"medical": "3000", "education": "500", "events": ["none"]},
}


def test_a_poor_family_likely_qualifies_for_dibao_with_an_estimated_amount(client, catalogue):
    walk(client, POOR_FAMILY)
    html = results_html(client)
    dibao = card(group_of(html, "eligible"), "dibao")
    assert "最低生活保障（低保）" in dibao
    assert "家庭人均月收入低于低保标准" in dibao
    assert "每月约 2,103 元" in dibao  # 3 × 1001 − 900
    assert "民政局" in dibao
    assert "这只是估算，不是审批决定。" in html


def test_unknown_savings_make_dibao_need_verification_and_say_what(client, catalogue):
    walk(client, {**POOR_FAMILY, "assets": {"unknown": "on"}})
    html = results_html(client)
    assert card(group_of(html, "eligible"), "dibao") == ""
    assert "需要核实：家庭金融资产" in card(group_of(html, "possibly_eligible"), "dibao")


def test_a_well_off_worker_is_told_why_not(client, catalogue):
    walk(client, SINGLE_WORKER)
    dibao = card(group_of(results_html(client), "not_eligible"), "dibao")
    assert "家庭人均月收入低于低保标准" in dibao  # the failed condition, in words


def test_the_apply_page_names_the_nearest_window(client, catalogue):
    walk(client, SINGLE_WORKER)
    html = client.get(reverse("portal:selfcheck_apply")).content.decode()
    assert "市中街道" in html
    assert "网格员" in html and "网上申请" in html


def test_the_question_count_never_grows_as_answers_bring_in_questions(client, org):
    answers = dict(SINGLE_WORKER)
    answers["size"] = {"size": "3"}
    answers["ages"] = {"elderly80": "0", "elderly60": "0", "children": "1", "college": "0", "jobless": "0"}
    answers["school"] = {"primary": "1"}
    answers["supporter"] = {"supporter": "unknown"}
    answers["costs"] = {"medical": "0", "education": "800", "events": ["none"]}
    shown = set()
    location = q("place")
    while "/check/q/" in location:
        slug = location.split("/check/q/")[1].split("/")[0]
        page = client.get(location)
        shown.add(page.context["total"])
        assert "共" not in page.content.decode().split('step-count">')[1].split("</p>")[0]
        location = answer(client, slug, answers[slug])
    assert shown == {len(questions.STEPS)}
    start = client.get(reverse("portal:selfcheck_start")).content.decode()
    assert f"不超过 {len(questions.STEPS)} 个" in start
