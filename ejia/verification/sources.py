"""The department data sources and their declared schemas, as data.

Headers match the departments' exports column for column (the synthetic city writes the same
layouts: ejia/demo/city/departments.py). A column is
{header, field, type, required, key?, codes?, aliases?, mask?}:
- `key`: the person's ID number the records are keyed by (stored as blind index + ciphertext);
- `codes`: allowed values, either a list (value kept as is) or {label: code};
- `mask`: kept only masked (first 6 + last 4), e.g. account numbers and certificate numbers
  that embed the ID number.
"""

from __future__ import annotations

from django.db import transaction

from ejia.verification.models import DataSource, SourceKind


def col(header: str, field: str, type_: str = "text", *, required: bool = False, **extra) -> dict:
    return {"header": header, "field": field, "type": type_, "required": required, **extra}


def key(header: str, *aliases: str) -> dict:
    return col(header, "id_number", "id_number", required=True, key=True, aliases=list(aliases))


ID_ALIASES = ("身份证号码", "公民身份号码", "证件号码", "身份证号")

SEX = {"男": "M", "女": "F"}
RELATION = {
    "户主": "02",
    "配偶": "10",
    "子": "20",
    "女": "30",
    "儿媳": "38",
    "孙子女": "40",
    "父母": "50",
    "兄弟姐妹": "70",
    "其他亲属": "80",
    "非亲属": "99",
}
DISABILITY_KIND = {
    "视力残疾": "1",
    "听力残疾": "2",
    "言语残疾": "3",
    "肢体残疾": "4",
    "智力残疾": "5",
    "精神残疾": "6",
    "多重残疾": "7",
}
DISABILITY_GRADE = {"一级": "1", "二级": "2", "三级": "3", "四级": "4"}

# (code, name, department, kind, online, timeout seconds, columns)
SOURCE_SPECS: list[tuple[str, str, str, str, bool, float, list[dict]]] = [
    (
        "gongan_population",
        "人口基础信息",
        "公安局（人口库）",
        SourceKind.POPULATION,
        True,
        3.0,
        [
            key("公民身份号码", *ID_ALIASES),
            col("姓名", "name", required=True),
            col("性别", "sex", "code", required=True, codes=SEX),
            col("民族", "ethnicity"),
            col("出生日期", "birth_date", "date", required=True),
            col("户号", "household_no"),
            col("与户主关系", "relation", "code", codes=RELATION),
            col("户籍地址", "address"),
            col(
                "人员状态",
                "status",
                "code",
                required=True,
                codes={"正常": "normal", "死亡注销": "deceased", "迁出注销": "moved_out"},
            ),
        ],
    ),
    (
        "gongan_vehicles",
        "机动车登记",
        "公安局交通管理支队",
        SourceKind.VEHICLE,
        True,
        3.0,
        [
            key("所有人证件号码", *ID_ALIASES),
            col("所有人", "name"),
            col("号牌号码", "plate", required=True),
            col(
                "号牌种类",
                "plate_kind",
                "code",
                codes=[
                    "小型汽车",
                    "大型汽车",
                    "普通摩托车",
                    "轻便摩托车",
                    "低速车",
                    "挂车",
                    "新能源小型车",
                    "新能源大型车",
                ],
            ),
            col("车辆类型", "vehicle_type"),
            col("初次登记日期", "registered_on", "date"),
            col("车辆价值(元)", "value_fen", "money_yuan"),
            col(
                "机动车状态",
                "status",
                "code",
                required=True,
                codes=["正常", "转出", "被盗抢", "注销", "违法未处理", "查封", "抵押", "报废"],
            ),
        ],
    ),
    (
        "bdc_realestate",
        "不动产权属信息",
        "自然资源和规划局（不动产登记中心）",
        SourceKind.REAL_ESTATE,
        True,
        3.0,
        [
            key("权利人证件号码", *ID_ALIASES),
            col("权利人", "name"),
            col("不动产权证号", "certificate_no", required=True),
            col("坐落", "location"),
            col("建筑面积(平方米)", "area_m2", "decimal", required=True),
            col("规划用途", "use", "code", codes=["住宅", "商业服务", "办公", "工业", "车库", "仓储", "其他"]),
            col("权利性质", "nature"),
            col("登记日期", "registered_on", "date"),
        ],
    ),
    (
        "scjg_business",
        "市场主体登记",
        "市场监督管理局",
        SourceKind.BUSINESS,
        True,
        3.0,
        [
            col("统一社会信用代码", "uscc", required=True),
            col("市场主体名称", "business_name", required=True),
            col("主体类型", "business_type"),
            col("法定代表人(负责人)", "name"),
            key("法定代表人证件号码", *ID_ALIASES),
            col("成立日期", "founded_on", "date"),
            col("登记状态", "status", "code", required=True, codes=["存续", "在业", "注销", "吊销", "迁出", "停业"]),
            col("注册资本(万元)", "capital_wan", "decimal"),
            col("住所", "address"),
        ],
    ),
    (
        "rs_insurance",
        "社会保险参保及待遇",
        "人力资源和社会保障局",
        SourceKind.SOCIAL_INSURANCE,
        True,
        3.0,
        [
            key("证件号码", *ID_ALIASES),
            col("姓名", "name"),
            col(
                "险种类型",
                "insurance_type",
                "code",
                required=True,
                codes=["企业职工基本养老保险", "机关事业单位养老保险", "城乡居民基本养老保险", "失业保险", "工伤保险"],
            ),
            col("参保状态", "status", "code", required=True, codes=["参保缴费", "待遇领取", "暂停缴费", "终止参保"]),
            col("单位名称", "employer"),
            col("缴费基数(元)", "contribution_base_fen", "money_yuan"),
            col("月养老金(元)", "pension_month_fen", "money_yuan"),
            col("数据日期", "as_of", "date"),
        ],
    ),
    (
        "rs_unemployment",
        "失业登记",
        "人力资源和社会保障局",
        SourceKind.UNEMPLOYMENT,
        True,
        3.0,
        [
            key("证件号码", *ID_ALIASES),
            col("姓名", "name"),
            col("失业登记日期", "registered_on", "date", required=True),
            col("登记状态", "status", "code", required=True, codes=["有效", "已注销"]),
            col("失业保险金(元/月)", "benefit_month_fen", "money_yuan"),
            col("就业困难人员", "hard_to_employ", "code", codes={"是": "yes", "否": "no"}),
        ],
    ),
    (
        "gjj_fund",
        "住房公积金缴存",
        "住房公积金管理中心",
        SourceKind.PROVIDENT_FUND,
        True,
        3.0,
        [
            key("证件号码", *ID_ALIASES),
            col("姓名", "name"),
            col("个人公积金账号", "account", mask=True),
            col("单位名称", "employer"),
            col("月缴存额(元)", "monthly_fen", "money_yuan", required=True),
            col("账户余额(元)", "balance_fen", "money_yuan", required=True),
            col("账户状态", "status", "code", required=True, codes=["正常", "封存", "销户", "冻结"]),
        ],
    ),
    (
        "sw_tax",
        "个人所得税",
        "税务局",
        SourceKind.TAX,
        True,
        3.0,
        [
            key("纳税人识别号", *ID_ALIASES),
            col("纳税人姓名", "name"),
            col("所得期间", "period", required=True),
            col("收入额(元)", "income_fen", "money_yuan", required=True),
            col("已缴税额(元)", "tax_paid_fen", "money_yuan"),
            col("主管税务机关", "tax_office"),
        ],
    ),
    (
        "bank_deposit",
        "存款及理财",
        "银行业金融机构（人民银行汇总）",
        SourceKind.DEPOSIT,
        True,
        8.0,
        [
            key("证件号码", *ID_ALIASES),
            col("姓名", "name"),
            col("银行名称", "bank", required=True),
            col("账号", "account", mask=True),
            col(
                "账户类型",
                "account_type",
                "code",
                required=True,
                codes=["活期储蓄", "定期储蓄", "理财产品", "基金", "证券", "保险"],
            ),
            col("余额(元)", "balance_fen", "money_yuan", required=True),
            col("余额日期", "as_of", "date"),
        ],
    ),
    (
        "yb_medical",
        "就诊结算明细",
        "医疗保障局",
        SourceKind.MEDICAL,
        True,
        3.0,
        [
            key("身份证号码", "公民身份号码", "证件号码", "身份证号"),
            col("姓名", "name"),
            col("就诊日期", "visit_date", "date", required=True),
            col("医疗机构名称", "institution"),
            col("就诊类型", "visit_type", "code", codes=["住院", "门诊慢特病", "普通门诊", "急诊", "药店购药"]),
            col("医疗总费用(元)", "total_fen", "money_yuan", required=True),
            col("医保统筹支付(元)", "fund_paid_fen", "money_yuan"),
            col("个人自付(元)", "out_of_pocket_fen", "money_yuan", required=True),
        ],
    ),
    (
        "cl_disability",
        "残疾人证",
        "残疾人联合会",
        SourceKind.DISABILITY,
        True,
        3.0,
        [
            col("姓名", "name"),
            key("身份证号", "身份证号码", "公民身份号码", "证件号码"),
            col("残疾证号", "certificate_no", mask=True),
            col("残疾类别", "disability_kind", "code", required=True, codes=DISABILITY_KIND),
            col("残疾等级", "disability_grade", "code", required=True, codes=DISABILITY_GRADE),
            col("发证日期", "issued_on", "date"),
        ],
    ),
    (
        "mz_civil",
        "婚姻及死亡登记",
        "民政局",
        SourceKind.CIVIL,
        True,
        3.0,
        [
            key("证件号码", *ID_ALIASES),
            col("姓名", "name"),
            col(
                "事件类型",
                "event",
                "code",
                required=True,
                codes={
                    "死亡": "death",
                    "结婚登记": "marriage",
                    "离婚登记": "divorce",
                    "补发结婚证": "marriage_reissue",
                },
            ),
            col("事件日期", "event_date", "date", required=True),
            col("登记机关", "office"),
        ],
    ),
]


def source_columns(code: str) -> list[dict]:
    """The declared schema straight from code (the simulator reads city files without a database)."""
    for spec in SOURCE_SPECS:
        if spec[0] == code:
            return spec[6]
    raise KeyError(code)


@transaction.atomic
def sources_seed() -> tuple[int, int]:
    """Create or update the sources from SOURCE_SPECS; keeps operator-set adapter settings
    (base URL, limits) of existing sources. Returns (created, updated)."""
    created = updated = 0
    for order, (code, name, department, kind, online, timeout, columns) in enumerate(SOURCE_SPECS):
        source = DataSource.objects.select_for_update().filter(code=code).first()
        if source is None:
            DataSource.objects.create(
                code=code,
                name=name,
                department=department,
                kind=kind,
                columns=columns,
                sort_order=order,
                online_enabled=online,
                timeout_seconds=timeout,
            )
            created += 1
            continue
        changed = {"name": name, "department": department, "kind": kind, "columns": columns, "sort_order": order}
        dirty = [f for f, v in changed.items() if getattr(source, f) != v]
        if dirty:
            for f in dirty:
                setattr(source, f, changed[f])
            source.save(update_fields=[*dirty, "updated_at"])
            updated += 1
    return created, updated
