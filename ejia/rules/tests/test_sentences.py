"""Plain sentences for conditions not met: what the applicant reads (the formal line stays for staff)."""

import datetime as dt

from ejia.rules import CriterionSpec as C
from ejia.rules import Engine, HouseholdInput, ProgrammeSpec

ON = dt.date(2026, 11, 28)
ELDER = ProgrammeSpec(
    code="old",
    name="高龄津贴",
    target="member",
    criteria=(
        C("年满80周岁", "age >= 80"),
        C("本人月收入低于低保标准", 'income_month_fen < standard("dibao")'),
        C("无具备履行能力的法定义务人", "not has_capable_supporter"),
        C("残疾等级为一级或二级", "disability_grade in (1, 2)"),
        C("家庭人均金融资产不超过24个月的低保标准", 'financial_assets_per_capita_fen <= 24 * standard("dibao")'),
    ),
)


def _criteria(member: dict, assets=0):
    engine = Engine([ELDER])
    result = engine.evaluate(
        HouseholdInput(facts={"financial_assets_fen": assets}, members=[member], standards={"dibao": 100100}), on=ON
    )["old"]
    return {c.label: c for c in result.members[0].criteria}


def test_failed_comparisons_read_as_sentences():
    c = _criteria(
        {"birth_date": "1948-05-01", "income_month_fen": 110000, "has_capable_supporter": True, "disability_grade": 3},
        assets=3_000_000,
    )
    assert c["年满80周岁"].sentence == "年龄 78 岁，不满 80 岁"
    assert c["年满80周岁"].explanation == "年龄 78 岁 ≥ 80 ✘"  # the formal line, for staff
    assert c["本人月收入低于低保标准"].sentence == "个人月收入 ¥1,100.00，不低于低保标准 ¥1,001.00"
    assert c["无具备履行能力的法定义务人"].sentence == "有具备履行能力的法定赡养、抚养、扶养义务人"
    assert c["残疾等级为一级或二级"].sentence == "残疾等级 3 级，不属于1、2"
    assert (
        c["家庭人均金融资产不超过24个月的低保标准"].sentence
        == "家庭人均金融资产 ¥30,000.00，超过 24 × 低保标准（¥24,024.00）"
    )


def test_a_condition_met_has_no_sentence_and_an_unknown_one_names_what_is_missing():
    c = _criteria({"birth_date": "1940-05-01", "has_capable_supporter": False})
    assert c["年满80周岁"].sentence == ""
    assert c["本人月收入低于低保标准"].sentence == "还不知道个人月收入，需要核实"
