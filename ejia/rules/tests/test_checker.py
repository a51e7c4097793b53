"""Saving a rule: every mistake a clerk can make is told in Chinese, with where it is."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ejia.rules import RuleError, check_expression


def error_of(expr: str, *, target: str = "household", kind: str = "criterion", codes=None) -> RuleError:
    with pytest.raises(RuleError) as info:
        check_expression(expr, target=target, kind=kind, programme_codes=codes)
    return info.value


def test_a_misspelt_fact_is_named_with_a_suggestion_and_its_position():
    err = error_of("size > 1 and incme < 5")
    assert err.message == "第1行第14列：未知的事实“incme”，您是否想写“income_month_fen”？"
    assert (err.line, err.col) == (1, 14)


def test_columns_count_characters_not_bytes_after_chinese_text():
    err = error_of('relation == "户主" and incme > 0', target="member")
    assert (err.line, err.col) == (1, 22)


def test_positions_on_later_lines_of_a_multi_line_rule():
    err = error_of("vehicles == 0 and\n    housing_units <= 1 and\n    has_busines")
    assert (err.line, err.col) == (3, 5)
    assert "has_business" in err.message


def test_syntax_error_is_reported_not_raised_as_python_error():
    err = error_of("income_per_capita_month_fen < ")
    assert err.message.startswith("第1行")
    assert "语法错误" in err.message


def test_unbalanced_parentheses_across_lines_are_an_error():
    assert "括号" in error_of("vehicles == 0) or (\nhousing_units <= 1").message


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ("size + True > 1", "“+”的右边必须是数值"),
        ("has_business < 3", "不能比较真/假与整数"),
        ("size", "条件必须是真/假判断"),
        ("vehicles == 0 and 3", "并且（and）的两边必须是真/假判断"),
        ('standard("dibaoo") > 0', "未知的救助标准种类“dibaoo”，您是否想写“dibao”？"),
        ("standard(dibao) > 0", "参数必须是救助标准种类"),
        ('eligible("dibau")', "未知的项目代码“dibau”，您是否想写“dibao”？"),
        ("sizes(1) > 0", "未知的函数“sizes”"),
        ("standard() > 0", "需要1 个参数"),
        ("size.real > 0", "属性访问"),
        ("size // 2 > 0", "不支持的运算“//”"),
        ("size == None", "不支持 None"),
        ("size is 1", "不支持的比较“is”"),
        ("age >= 60", "成员事实“age”（年龄）在家庭项目中只能写在"),
        ("any_member(count_members(age > 1) > 1)", "不能嵌套"),
        ('any_member(school_stage == "highschool")', "没有取值“highschool”"),
        ('any_member(disability_kind in ("mental", "brain"))', "没有取值“brain”"),
        ('housing_condition != "tent"', "没有取值“tent”"),
        ("vehicles in ()", "不能为空"),
        ("vehicles in (1, x)", "未知的事实“x”"),
        ('vehicles in ("1",)', "应是整数"),
        ("(1 if has_business else True) == 1", "两个分支的类型不一致"),
        ("1 if size else 2", "if 后的条件必须是真/假判断"),
        ("sum_members(sex) > 0", "第一个参数必须是数值"),
        ("min(size) > 0", "至少 2 个参数"),
        ("known(size + 1)", "known() 的参数必须是一个事实名称"),
        ("1e400 > size", "数字无效或过大"),
        ("", "表达式为空"),
        ("vehicles = 0", "比较是否相等请用 =="),
        ("lambda: 1", "不支持的写法"),
        ('region_code > "37"', "只能用 == 或 != 比较"),
    ],
)
def test_each_kind_of_mistake_has_its_own_message(expr, fragment):
    err = error_of(expr, codes={"dibao", "tekun"})
    assert fragment in err.message, err.message
    if expr:
        assert err.message.startswith("第1行第")


def test_an_amount_must_be_numeric():
    assert "金额公式必须得到数值" in error_of("vehicles == 0", kind="amount").message


def test_member_programmes_see_member_and_household_facts_directly():
    check_expression(
        'age >= 60 and income_month_fen < standard("tekun_basic") and not has_business',
        target="member",
        kind="criterion",
    )


@pytest.mark.parametrize(
    "expr",
    [
        'income_per_capita_month_fen < standard("dibao")',
        'financial_assets_per_capita_fen <= 24 * standard("dibao")',
        "vehicles == 0 and housing_units <= 1 and not has_business",
        "0 < size <= 6",
        "any_member(age >= 60) or count_members(disability_grade in (1, 2)) >= 1",
        "sum_members(income_month_fen, age >= 18) < yuan(3000)",
        'known(financial_assets_fen) and not eligible("dibao")',
        'all_members(school_stage not in ("college",))',
        "-size < 0",
        'min(size, 3) * max(yuan(1), standard("dibao")) > 0',
    ],
)
def test_well_formed_rules_pass(expr):
    check_expression(expr, target="household", kind="criterion", programme_codes={"dibao"})


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_a_rule_error_or_nothing(text):
    for target in ("household", "member"):
        for kind in ("criterion", "amount"):
            try:
                check_expression(text, target=target, kind=kind)
            except RuleError as err:
                assert err.message


_ATOMS = st.sampled_from(
    [
        "size", "age", "income_month_fen", "vehicles", "has_business", "school_stage", '"none"', '"x"',
        "1", "2.5", "True", 'standard("dibao")', 'eligible("dibao")', "any_member(", "count_members(",
        "sum_members(", "min(", "round_yuan(", "yuan(", "known(", "(", ")", ",", " and ", " or ", "not ",
        " < ", " == ", " + ", " / ", " - ", " * ", " if ", " else ", " in ", "(1, 2)", "[", "]", "\n",
    ]
)  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(st.lists(_ATOMS, max_size=14).map("".join))
def test_near_misses_built_from_the_language_never_crash(text):
    for target in ("household", "member"):
        try:
            check_expression(text, target=target, kind="criterion", programme_codes={"dibao"})
        except RuleError as err:
            assert err.message
