"""The six core rules of the demo city written in the rule language.

Tests and the benchmark use them as a representative set; the catalogue seeds the real,
versioned programmes (`ejia.catalogue.seed`).
"""

from __future__ import annotations

from .spec import CriterionSpec as C
from .spec import ProgrammeSpec

ASSETS_24 = C("家庭人均金融资产不超过当地月低保标准的24倍", 'financial_assets_per_capita_fen <= 24 * standard("dibao")')
ASSETS_36 = C("家庭人均金融资产不超过当地月低保标准的36倍", 'financial_assets_per_capita_fen <= 36 * standard("dibao")')
NO_VEHICLE = C("无非生活必需机动车辆", "vehicles == 0")
ONE_HOME = C("家庭住房不超过1套", "housing_units <= 1")

DIBAO = ProgrammeSpec(
    code="dibao",
    name="最低生活保障",
    target="household",
    department="民政局",
    criteria=(
        C("家庭人均月收入低于当地低保标准", 'income_per_capita_month_fen < standard("dibao")'),
        ASSETS_24,
        NO_VEHICLE,
        ONE_HOME,
        C("无工商登记的经营主体", "not has_business"),
    ),
    amount='round_yuan(standard("dibao") * size - income_total_month_fen)',
)

TEKUN = ProgrammeSpec(
    code="tekun",
    name="特困人员救助供养",
    target="member",
    department="民政局",
    criteria=(
        C(
            "无劳动能力（60周岁以上、未满16周岁、未满18周岁在校，或一二级残疾、三级智力精神残疾）",
            'age >= 60 or age < 16 or (age < 18 and school_stage != "none") or disability_grade in (1, 2)'
            ' or (disability_grade == 3 and disability_kind in ("intellectual", "mental"))',
        ),
        C("无具备履行能力的法定赡养、抚养、扶养义务人", "not has_capable_supporter"),
        C("无生活来源（本人月收入低于当地低保标准）", 'income_month_fen < standard("dibao")'),
        ASSETS_24,
    ),
    amount='standard("tekun_basic") + (standard("tekun_care_none") if self_care == "none"'
    ' else standard("tekun_care_partial") if self_care == "partial" else standard("tekun_care_full"))',
)

DIBAO_EDGE = ProgrammeSpec(
    code="dibao_edge",
    name="低保边缘家庭",
    target="household",
    department="民政局",
    criteria=(
        C("不符合低保条件", 'not eligible("dibao")'),
        C("家庭人均月收入低于当地低保标准的1.5倍", 'income_per_capita_month_fen < 1.5 * standard("dibao")'),
        ASSETS_36,
        NO_VEHICLE,
        ONE_HOME,
    ),
)

EXPENSE_HARDSHIP = ProgrammeSpec(
    code="expense_hardship",
    name="支出型困难家庭",
    target="household",
    department="民政局",
    criteria=(
        C("不符合低保条件", 'not eligible("dibao")'),
        C(
            "扣除刚性支出后家庭人均月收入低于当地低保标准",
            '(income_total_month_fen - (medical_oop_year_fen + education_oop_year_fen) / 12) / size < standard("dibao")',
        ),
        ASSETS_36,
    ),
)

EDUCATION_AID = ProgrammeSpec(
    code="education_aid",
    name="困难家庭学生教育救助",
    target="member",
    department="教育局",
    criteria=(
        C("在读学生", 'school_stage != "none"'),
        C(
            "低保、特困或低保边缘家庭",
            'eligible("dibao") or eligible("dibao_edge") or any_member(eligible("tekun"))',
        ),
    ),
    # 元/学年
    amount='yuan(1000) if school_stage in ("preschool", "primary") else yuan(1250) if school_stage == "junior"'
    ' else yuan(2000) if school_stage in ("senior", "vocational") else yuan(5000)',
)

DISABILITY_LIVING_SUBSIDY = ProgrammeSpec(
    code="disability_living_subsidy",
    name="困难残疾人生活补贴",
    target="member",
    department="残联",
    criteria=(
        C("持有残疾人证", "disability_grade in (1, 2, 3, 4)"),
        C("低保家庭", 'eligible("dibao")'),
    ),
    amount="yuan(90)",
)

SEVERE_DISABILITY_CARE_SUBSIDY = ProgrammeSpec(
    code="severe_disability_care_subsidy",
    name="重度残疾人护理补贴",
    target="member",
    department="残联",
    criteria=(C("一级或二级残疾", "disability_grade in (1, 2)"),),
    amount="yuan(90)",
)

CORE_PROGRAMMES: tuple[ProgrammeSpec, ...] = (
    DIBAO,
    TEKUN,
    DIBAO_EDGE,
    EXPENSE_HARDSHIP,
    EDUCATION_AID,
    DISABILITY_LIVING_SUBSIDY,
)

# The 2023 Binzhou standards (fen per person per month): (urban, rural).
BINZHOU_2023: dict[str, tuple[int, int]] = {
    "dibao": (100100, 78900),
    "tekun_basic": (132000, 103500),
    "tekun_care_none": (62600, 62600),
    "tekun_care_partial": (31300, 31300),
    "tekun_care_full": (18900, 18900),
    "orphan_institution": (250300, 250300),
    "orphan_scattered": (200200, 200200),
}


def binzhou_standards(*, urban: bool) -> dict[str, int]:
    return {kind: pair[0 if urban else 1] for kind, pair in BINZHOU_2023.items()}


def core_programme_specs() -> list[ProgrammeSpec]:
    return list(CORE_PROGRAMMES)
