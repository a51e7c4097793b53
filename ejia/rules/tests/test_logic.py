"""Three-valued logic and the boundaries the demo city publishes."""

from __future__ import annotations

import datetime as dt

import pytest

from ejia.rules import CriterionSpec, Engine, HouseholdInput, Outcome, ProgrammeSpec, RuleError
from ejia.rules.samples import CORE_PROGRAMMES, DIBAO, TEKUN, binzhou_standards

from .helpers import ON, household_programme, member_programme, rural, urban, value_of

T, F, U = "has_business", "not has_business", "financial_assets_fen > 0"
# With has_business=True and unknown assets: T is true, F is false, U is unknown.
WITH = rural({"has_business": True})

KLEENE_AND = [(T, T, True), (T, F, False), (T, U, None), (F, U, False), (U, F, False), (U, U, None), (F, F, False)]
KLEENE_OR = [(T, U, True), (U, T, True), (F, U, None), (U, U, None), (F, F, False), (T, F, True)]


@pytest.mark.parametrize(("a", "b", "expected"), KLEENE_AND)
def test_and_is_kleene(a, b, expected):
    assert value_of(f"({a}) and ({b})", WITH) is expected


@pytest.mark.parametrize(("a", "b", "expected"), KLEENE_OR)
def test_or_is_kleene(a, b, expected):
    assert value_of(f"({a}) or ({b})", WITH) is expected


def test_unknown_propagates_through_not_comparison_arithmetic_and_conditionals():
    h = rural({"has_business": True}, [{"income_month_fen": None}])
    assert value_of(f"not ({U})", h) is None
    assert value_of("financial_assets_fen + 1 > 0", h) is None
    assert value_of("(1 if financial_assets_fen > 0 else 2) == 1", h) is None
    assert value_of("(1 if has_business else financial_assets_fen) == 1", h) is True
    assert value_of("min(size, financial_assets_fen) >= 0", h) is None
    assert value_of("financial_assets_fen in (1, 2)", h) is None
    assert value_of("known(financial_assets_fen)", h) is False


def test_member_aggregates_are_kleene():
    members = [{"income_month_fen": 100}, {"income_month_fen": None}]
    h = rural({}, members)
    assert value_of("any_member(income_month_fen > 50)", h) is True
    assert value_of("any_member(income_month_fen > 500)", h) is None
    assert value_of("all_members(income_month_fen > 500)", h) is False
    assert value_of("all_members(income_month_fen > 50)", h) is None
    assert value_of("count_members(income_month_fen > 50) >= 1", h) is None
    assert value_of("sum_members(income_month_fen) > 0", h) is None
    # A member whose condition is false does not contribute, even with an unknown value.
    assert value_of("sum_members(income_month_fen, known(income_month_fen)) == 100", h) is True
    assert value_of("count_members(known(income_month_fen)) == 1", h) is True


def test_division_by_zero_is_unknown_not_a_crash():
    assert value_of("vehicles / 0 > 1", rural({"vehicles": 1})) is None


def test_per_capita_income_equal_to_the_standard_is_not_below_it():
    two_at_789 = rural({}, [{"income_month_fen": 78900}, {"income_month_fen": 78900}])
    assert value_of('income_per_capita_month_fen < standard("dibao")', two_at_789) is False
    one_fen_less = rural({}, [{"income_month_fen": 78900}, {"income_month_fen": 78899}])
    assert value_of('income_per_capita_month_fen < standard("dibao")', one_fen_less) is True


def test_assets_equal_to_24_times_the_standard_pass():
    h = urban({"financial_assets_fen": 24 * 100100 * 2}, [{}, {}])
    assert value_of('financial_assets_per_capita_fen <= 24 * standard("dibao")', h) is True
    h = urban({"financial_assets_fen": 24 * 100100 * 2 + 1}, [{}, {}])
    assert value_of('financial_assets_per_capita_fen <= 24 * standard("dibao")', h) is False


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        ("1966-11-28", dt.date(2026, 11, 28), 60),  # 60th birthday on the day counts
        ("1966-11-29", dt.date(2026, 11, 28), 59),
        ("1964-02-29", dt.date(2025, 2, 28), 60),  # leap-day born, common year: not yet
        ("1964-02-29", dt.date(2025, 3, 1), 61),
        ("1964-02-29", dt.date(2024, 2, 29), 60),
    ],
)
def test_age_is_exact_on_the_evaluation_date(birth, on, age):
    h = rural({}, [{"birth_date": birth}])
    assert value_of(f"any_member(age == {age})", h, on=on) is True


def test_birth_date_can_come_from_the_id_number():
    h = rural({}, [{"id_number": "37160219661128002X"}])
    assert value_of("any_member(age >= 60)", h) is True


def test_ternary_and_round_yuan_half_up():
    engine = Engine([household_programme("True", amount="round_yuan(vehicles)")])
    for fen, yuan in ((149, 100), (150, 200), (-50, 0), (-51, -100)):
        assert engine.evaluate(rural({"vehicles": fen}), on=ON)["p"].amount_fen == yuan


def poor_rural_couple(**overrides) -> HouseholdInput:
    facts = {"financial_assets_fen": 200000, "vehicles": 0, "housing_units": 1, "has_business": False}
    facts.update(overrides)
    members = [
        {
            "birth_date": "1950-03-01",
            "income_month_fen": 30000,
            "has_capable_supporter": True,
            "self_care": "full",
            "disability_grade": 0,
        },
        {
            "birth_date": "1952-07-15",
            "income_month_fen": 20050,
            "has_capable_supporter": True,
            "self_care": "partial",
            "disability_grade": 0,
        },
    ]
    return HouseholdInput(facts=facts, members=members, standards=binzhou_standards(urban=False))


def test_dibao_amount_is_the_gap_rounded_to_whole_yuan():
    result = Engine([DIBAO]).evaluate(poor_rural_couple(), on=ON)["dibao"]
    assert result.outcome == Outcome.ELIGIBLE
    # 789 × 2 − 500.50 = 1,077.50 → ¥1,078
    assert result.amount_fen == 107800
    first = result.criteria[0]
    assert first.result == "pass"
    assert first.explanation == "家庭人均月收入 ¥250.25 < 低保标准 ¥789.00 ✔"
    assert first.values == {"income_per_capita_month_fen": 25025.0, "standard:dibao": 78900}


def test_unknown_income_makes_dibao_possibly_eligible_never_silently_not():
    h = poor_rural_couple()
    h.members[1]["income_month_fen"] = None
    result = Engine([DIBAO]).evaluate(h, on=ON)["dibao"]
    assert result.outcome == Outcome.POSSIBLY
    assert result.criteria[0].explanation == "家庭人均月收入 未知（缺少：个人月收入） < 低保标准 ¥789.00 ？"
    assert result.unknown_facts == ["income_month_fen"]
    assert result.amount_fen is None


def test_a_failed_criterion_beats_an_unknown_one():
    h = poor_rural_couple(vehicles=1)
    h.members[1]["income_month_fen"] = None
    assert Engine([DIBAO]).evaluate(h, on=ON)["dibao"].outcome == Outcome.NOT


def test_a_single_elderly_person_with_a_capable_child_is_not_tekun():
    h = HouseholdInput(
        facts={"financial_assets_fen": 0},
        members=[{"birth_date": "1940-01-01", "income_month_fen": 0, "has_capable_supporter": True}],
        standards=binzhou_standards(urban=False),
    )
    result = Engine([TEKUN]).evaluate(h, on=ON)["tekun"]
    assert result.outcome == Outcome.NOT
    assert result.members[0].criteria[1].result == "fail"


def test_tekun_is_per_member_and_adds_care_by_self_care_level():
    h = HouseholdInput(
        facts={"financial_assets_fen": 0},
        members=[
            {"birth_date": "1940-01-01", "income_month_fen": 0, "has_capable_supporter": False, "self_care": "none"},
            {"birth_date": "1945-01-01", "income_month_fen": 0, "has_capable_supporter": False, "self_care": "full"},
            {"birth_date": "1990-01-01", "income_month_fen": 0, "has_capable_supporter": False, "disability_grade": 0},
        ],
        standards=binzhou_standards(urban=True),
    )
    result = Engine([TEKUN]).evaluate(h, on=ON)["tekun"]
    assert [m.outcome for m in result.members] == [Outcome.ELIGIBLE, Outcome.ELIGIBLE, Outcome.NOT]
    assert result.outcome == Outcome.ELIGIBLE
    assert result.amount_fen == (132000 + 62600) + (132000 + 18900)
    data = result.to_json()
    assert data["result"] == "eligible"
    assert [m["result"] for m in data["members"]] == ["eligible", "eligible", "not_eligible"]


def test_member_programme_is_possibly_eligible_when_no_member_is_but_one_might_be():
    h = rural({"financial_assets_fen": 0}, [{"birth_date": "1940-01-01", "has_capable_supporter": False}])
    result = Engine([TEKUN]).evaluate(h, on=ON)["tekun"]
    assert result.outcome == Outcome.POSSIBLY


def test_eligible_of_a_member_programme_is_the_same_members_result_inside_member_programmes():
    engine = Engine(
        [
            member_programme("age >= 60", code="old"),
            member_programme('eligible("old") and income_month_fen < 100', code="poor_old"),
            household_programme('eligible("old")', code="has_old"),
        ]
    )
    h = rural(
        {}, [{"birth_date": "1950-01-01", "income_month_fen": 500}, {"birth_date": "2000-01-01", "income_month_fen": 0}]
    )
    res = engine.evaluate(h, on=ON)
    assert [m.outcome for m in res["poor_old"].members] == [Outcome.NOT, Outcome.NOT]
    assert res["has_old"].outcome == Outcome.ELIGIBLE


def test_all_core_programmes_run_and_keep_their_order():
    res = Engine(CORE_PROGRAMMES).evaluate(poor_rural_couple(), on=ON)
    assert list(res) == [p.code for p in CORE_PROGRAMMES]
    assert res["dibao_edge"].outcome == Outcome.NOT  # dibao households are not edge households
    assert res["disability_living_subsidy"].outcome == Outcome.NOT


def test_cycles_are_rejected_with_the_cycle_spelt_out():
    specs = [
        ProgrammeSpec("dibao", "低保", "household", (CriterionSpec("a", 'not eligible("dibao_edge")'),)),
        ProgrammeSpec("dibao_edge", "边缘", "household", (CriterionSpec("b", 'not eligible("dibao")'),)),
    ]
    with pytest.raises(RuleError) as info:
        Engine(specs)
    assert "项目之间存在循环引用：dibao → dibao_edge → dibao" in info.value.message


def test_unknown_programme_codes_and_bad_rules_name_the_programme_and_criterion():
    with pytest.raises(RuleError) as info:
        Engine([household_programme('eligible("nope")')])
    assert info.value.programme == "p"
    assert info.value.criterion == "条件"
    assert "未知的项目代码“nope”" in info.value.message


def test_invalid_fact_values_are_rule_errors():
    with pytest.raises(RuleError):
        Engine([DIBAO]).evaluate(rural({"vehicles": "many"}), on=ON)
