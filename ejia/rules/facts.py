"""The one registry of typed facts that rules may name.

Pure Python (no Django). Household facts and member facts share one namespace: a name is
unique across both. Derived facts are computed by the engine from others (e.g. `size`,
`age`), never supplied by callers; supplying them is allowed only for the derived facts
marked `overridable`.

Types:
- "int": integer count or grade; "money": integer fen; "bool"; "str" (free code);
- "enum": one of `choices`; "date": datetime.date; "float": derived ratios (per-capita values).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Scope = Literal["household", "member"]
FactType = Literal["int", "money", "bool", "str", "enum", "date", "float"]


@dataclass(frozen=True, slots=True)
class Fact:
    name: str
    scope: Scope
    type: FactType
    label: str  # Chinese label shown in explanations and editors
    unit: str = ""  # 元/月, 元/年, 人, 套, 岁 …; money is stored in fen, shown in yuan
    choices: tuple[tuple[str, str], ...] = ()  # enum: (code, Chinese label)
    derived: bool = False
    overridable: bool = False
    help: str = ""
    tags: tuple[str, ...] = field(default=())

    def choice_label(self, code: str) -> str:
        return dict(self.choices).get(code, code)


DISABILITY_KINDS = (
    ("physical", "肢体残疾"),
    ("visual", "视力残疾"),
    ("hearing", "听力残疾"),
    ("speech", "言语残疾"),
    ("intellectual", "智力残疾"),
    ("mental", "精神残疾"),
    ("multiple", "多重残疾"),
)
SCHOOL_STAGES = (
    ("none", "不在学"),
    ("preschool", "学前教育"),
    ("primary", "小学"),
    ("junior", "初中"),
    ("senior", "普通高中"),
    ("vocational", "中等职业教育"),
    ("college", "高等教育（大专、本科）"),
)
SELF_CARE = (("full", "能自理"), ("partial", "半自理"), ("none", "不能自理"))
EMPLOYMENT = (
    ("employed", "就业（含灵活就业）"),
    ("farming", "务农"),
    ("unemployed_registered", "失业（已登记）"),
    ("unemployed", "无业（未登记）"),
    ("retired", "退休"),
    ("student", "在校学生"),
    ("unable", "无劳动能力"),
)
SEX = (("M", "男"), ("F", "女"))
ORPHAN_CARE = (("none", "否"), ("institution", "机构集中养育"), ("scattered", "社会散居"))
ONLY_CHILD_LOSS = (("none", "否"), ("disabled", "独生子女伤残"), ("deceased", "独生子女死亡"))
HOUSING_CONDITION = (
    ("owned_ok", "自有住房，安全"),
    ("dilapidated", "自有住房，鉴定为危房"),
    ("renting", "租房居住"),
    ("public_rental", "已住公租房"),
    ("none", "无房"),
)

F = Fact
_FACTS: list[Fact] = [
    # ---- household: place and composition
    F("region_code", "household", "str", "所在县（市、区）代码", help="6位行政区划代码，用于确定适用的救助标准"),
    F("urban", "household", "bool", "城市家庭", help="村（社区）位于街道的为城市家庭，位于镇、乡的为农村家庭"),
    F("size", "household", "int", "家庭人口", "人", derived=True, help="共同生活家庭成员人数"),
    # ---- household: income (derived from members) and property
    F("income_total_month_fen", "household", "money", "家庭月收入合计", "元/月", derived=True),
    F("income_per_capita_month_fen", "household", "float", "家庭人均月收入", "元/月", derived=True),
    F(
        "financial_assets_fen",
        "household",
        "money",
        "家庭金融资产",
        "元",
        help="存款、理财、证券、基金、商业保险现金价值等",
    ),
    F("financial_assets_per_capita_fen", "household", "float", "家庭人均金融资产", "元", derived=True),
    F("vehicles", "household", "int", "非生活必需机动车辆", "辆", help="不含残疾人功能性补偿代步车、低值农用车"),
    F("housing_units", "household", "int", "家庭住房", "套"),
    F("has_business", "household", "bool", "有工商登记的经营主体"),
    F("housing_condition", "household", "enum", "住房状况", choices=HOUSING_CONDITION),
    F("housing_area_per_capita_m2", "household", "int", "人均住房建筑面积", "平方米"),
    # ---- household: rigid spending and shocks
    F(
        "medical_oop_year_fen",
        "household",
        "money",
        "年度医疗自付费用",
        "元/年",
        help="医保报销后个人负担的合规医疗费用",
    ),
    F("education_oop_year_fen", "household", "money", "年度教育支出", "元/年", help="学费、住宿费等必需教育支出"),
    F("disaster_loss_fen", "household", "money", "自然灾害损失", "元"),
    F("house_damaged_by_disaster", "household", "bool", "住房因灾倒塌或严重损坏"),
    F("sudden_hardship", "household", "bool", "遭遇突发事件陷入困境", help="火灾、交通事故、突发重大疾病等"),
    F("death_in_household_year", "household", "bool", "近一年内有家庭成员死亡"),
    F("death_in_disaster", "household", "bool", "有家庭成员在灾害或事故中遇难"),
    # ---- household: current statuses (救助对象库)
    F("on_dibao", "household", "bool", "现为低保家庭"),
    F("on_tekun", "household", "bool", "家中有特困人员"),
    F("on_dibao_edge", "household", "bool", "现为低保边缘家庭"),
    F("on_expense_hardship", "household", "bool", "现为支出型困难家庭"),
    F("lifted_from_poverty", "household", "bool", "脱贫户（含脱贫不稳定户）"),
    F("relapse_monitoring", "household", "bool", "防止返贫监测对象"),
    F("family_planning_special", "household", "enum", "计划生育特殊家庭", choices=ONLY_CHILD_LOSS),
    F("rural_family_planning_reward", "household", "bool", "农村独生子女或双女家庭（父母年满60岁）"),
    # ---- member: identity
    F("birth_date", "member", "date", "出生日期", help="可由身份证号码推出"),
    F("age", "member", "int", "年龄", "岁", derived=True, help="评估日的周岁，生日当天即满"),
    F("sex", "member", "enum", "性别", choices=SEX),
    F(
        "relation",
        "member",
        "str",
        "与户主关系",
        help="GB/T 4761 家庭关系代码，如 02 户主、10 配偶、20 子、30 女、50 父母",
    ),
    # ---- member: income and work
    F(
        "income_month_fen",
        "member",
        "money",
        "个人月收入",
        "元/月",
        help="工资、经营、财产、转移性收入，不含按规定不计入的收入",
    ),
    F("employment", "member", "enum", "就业状况", choices=EMPLOYMENT),
    F("pension_month_fen", "member", "money", "养老金月额", "元/月"),
    F("has_capable_supporter", "member", "bool", "有具备履行能力的法定赡养、抚养、扶养义务人"),
    # ---- member: health and care
    F("disability_grade", "member", "int", "残疾等级", "级", help="0 表示无残疾证，1–4 级"),
    F("disability_kind", "member", "enum", "残疾类别", choices=DISABILITY_KINDS),
    F("serious_illness", "member", "bool", "患重特大疾病"),
    F("chronic_illness", "member", "bool", "患慢性病需长期治疗"),
    F(
        "self_care",
        "member",
        "enum",
        "生活自理能力",
        choices=SELF_CARE,
        help="按吃饭、穿衣、上下床、如厕、室内行走、洗澡六项评定",
    ),
    F("cancer_two", "member", "bool", "患宫颈癌或乳腺癌（“两癌”）"),
    F("medical_oop_year_member_fen", "member", "money", "个人年度医疗自付费用", "元/年"),
    # ---- member: children and schooling
    F("school_stage", "member", "enum", "在读学段", choices=SCHOOL_STAGES),
    F("boarding", "member", "bool", "寄宿生"),
    F("college_new_entrant", "member", "bool", "当年被大学录取的新生"),
    F("orphan_care", "member", "enum", "孤儿或事实无人抚养儿童", choices=ORPHAN_CARE),
    F("left_behind_child", "member", "bool", "留守或困境儿童"),
    # ---- member: other identities that programmes name
    F("veteran", "member", "bool", "退役军人或其他优抚对象"),
    F("party_member", "member", "bool", "中共党员"),
    F("union_member", "member", "bool", "工会会员（在职职工）"),
    F("single_parent_mother", "member", "bool", "单亲母亲"),
    F("wandering", "member", "bool", "流浪乞讨、生活无着"),
    F("deceased", "member", "bool", "已死亡（本年度）"),
]

FACTS: dict[str, Fact] = {fact.name: fact for fact in _FACTS}
assert len(FACTS) == len(_FACTS), "fact names must be unique across household and member"

HOUSEHOLD_FACTS: dict[str, Fact] = {n: f for n, f in FACTS.items() if f.scope == "household"}
MEMBER_FACTS: dict[str, Fact] = {n: f for n, f in FACTS.items() if f.scope == "member"}

# Kinds of regional standard that `standard("<kind>")` may name (amounts in fen, per person
# per month unless the label says otherwise). The catalogue stores their amounts per
# division, urban/rural and effective dates.
STANDARD_KINDS: dict[str, str] = {
    "dibao": "低保标准（元/人·月）",
    "tekun_basic": "特困人员基本生活标准（元/人·月）",
    "tekun_care_full": "特困人员照料护理标准·能自理（元/人·月）",
    "tekun_care_partial": "特困人员照料护理标准·半自理（元/人·月）",
    "tekun_care_none": "特困人员照料护理标准·不能自理（元/人·月）",
    "orphan_institution": "孤儿基本生活费·机构养育（元/人·月）",
    "orphan_scattered": "孤儿基本生活费·社会散居（元/人·月）",
    # Added with the catalogue seed (amounts marked indicative there).
    "disability_living": "困难残疾人生活补贴（元/人·月）",
    "disability_care_1": "重度残疾人护理补贴·一级（元/人·月）",
    "disability_care_2": "重度残疾人护理补贴·二级（元/人·月）",
    "elderly_allowance_80": "高龄津贴·80至89周岁（元/人·月）",
    "elderly_allowance_90": "高龄津贴·90至99周岁（元/人·月）",
    "centenarian_allowance": "百岁老人长寿补贴（元/人·月）",
    "edu_preschool_year": "学前教育资助（元/生·年）",
    "edu_compulsory_year": "义务教育家庭经济困难学生生活补助·走读生（元/生·年）",
    "edu_boarding_primary_year": "义务教育寄宿生生活补助·小学（元/生·年）",
    "edu_boarding_junior_year": "义务教育寄宿生生活补助·初中（元/生·年）",
    "edu_senior_grant_year": "普通高中国家助学金（元/生·年）",
    "edu_vocational_grant_year": "中职国家助学金（元/生·年）",
    "medical_premium_year": "城乡居民医保个人缴费标准（元/人·年）",
    "medical_aid_cap_year": "医疗救助年度限额（元/人·年）",
    "rent_subsidy": "公租房租赁补贴（元/人·月）",
    "unemployment_benefit": "失业保险金（元/人·月）",
}


# Where a derived fact comes from, so that an unknown one can say what is missing
# (“家庭人均月收入 未知（缺少：个人月收入）”).
DERIVED_FROM: dict[str, tuple[str, ...]] = {
    "size": (),
    "income_total_month_fen": ("income_month_fen",),
    "income_per_capita_month_fen": ("income_month_fen",),
    "financial_assets_per_capita_fen": ("financial_assets_fen",),
    "age": ("birth_date",),
}


def standard_label(kind: str) -> str:
    """The short Chinese name of a standard, without its unit: “低保标准”."""
    return STANDARD_KINDS.get(kind, kind).split("（", 1)[0]


def is_money(fact: Fact) -> bool:
    """Money facts and the per-capita ratios of money, all in fen."""
    return fact.type == "money" or fact.name.endswith("_fen")
