"""A representative set of programmes for the parity test: every construct of the language."""

from __future__ import annotations

from ejia.rules import CriterionSpec as C
from ejia.rules import ProgrammeSpec
from ejia.rules.samples import CORE_PROGRAMMES, SEVERE_DISABILITY_CARE_SUBSIDY

EXTRA = (
    ProgrammeSpec(
        "elderly_care",
        "老年人照护（成员聚合）",
        "household",
        (
            C("有老人", "count_members(age >= 60) >= 1 or sum_members(income_month_fen, age >= 18) < yuan(2000)"),
            C("住房", 'housing_condition not in ("owned_ok", "public_rental") or region_code == "371621"'),
        ),
        amount="sum_members(income_month_fen, known(income_month_fen)) + count_members(disability_grade in (1, 2)) * yuan(50)",
    ),
    ProgrammeSpec(
        "no_supporter",
        "无赡养人家庭",
        "household",
        (
            C("全部无赡养人", "all_members(not has_capable_supporter)"),
            C("无特困人员", 'not any_member(eligible("tekun"))'),
            C("车辆住房比", "vehicles / housing_units < 0.5 or urban"),
        ),
        amount="min(size * yuan(100), max(financial_assets_fen / 12, yuan(10)))",
    ),
    ProgrammeSpec(
        "adult_low_income",
        "成年低收入成员",
        "member",
        (
            C("成年", 'age >= 18 and sex != "F" or relation == "02"'),
            C("收入", '(income_month_fen if known(income_month_fen) else 0) < standard("dibao")'),
            C("家庭", 'eligible("no_supporter") or eligible("elderly_care")'),
        ),
        amount='round_yuan(standard("dibao") * 0.6 - income_month_fen / 3)',
    ),
    ProgrammeSpec(
        "chain",
        "链式资格",
        "household",
        (
            C(
                "边缘、支出型或多名受助学生",
                'eligible("dibao_edge") or eligible("expense_hardship") or count_members(eligible("education_aid")) >= 2'
                ' or eligible("adult_low_income")',
            ),
        ),
        amount='-size * yuan(1) + round_yuan(medical_oop_year_fen / 12) + (yuan(5) if eligible("tekun") else 0)',
    ),
    ProgrammeSpec(
        "lonely_elder",
        "独居高龄老人（成员项目中的聚合）",
        "member",
        (
            C("高龄独居", "age >= 70 and count_members(age >= 18) == 1 and not has_capable_supporter"),
            C("资产", 'financial_assets_per_capita_fen >= 0.1 * standard("dibao") or not known(financial_assets_fen)'),
        ),
        amount='yuan(100) if self_care in ("none", "partial") else yuan(50)',
    ),
    ProgrammeSpec(
        "dibao_member_bonus",
        "低保家庭重病成员",
        "member",
        (C("重病且低保", 'serious_illness and eligible("dibao") and eligible("lonely_elder") != True'),),
        amount="max(yuan(200) - income_month_fen, 0) + -(-disability_grade) * 100",
    ),
    # Two member programmes with 重度残疾人护理补贴's member-level criterion (the bulk statement
    # shares their roll-up and counts), one with a household condition, each its own amount.
    ProgrammeSpec(
        "rural_severe_disability",
        "农村重度残疾成员",
        "member",
        (C("重度残疾", "disability_grade in (1, 2)"), C("农村", "not urban")),
        amount='standard("dibao") / 10',
    ),
    ProgrammeSpec(
        "severe_disability_allowance",
        "重度残疾成员津贴",
        "member",
        (C("重度残疾", "disability_grade in (1, 2)"),),
        amount="yuan(30)",
    ),
)

PARITY_PROGRAMMES = (*CORE_PROGRAMMES, SEVERE_DISABILITY_CARE_SUBSIDY, *EXTRA)
