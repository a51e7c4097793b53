"""Department exports consistent with the city, each in its own layout (Chinese headers, ID
numbers as text). CSV at every scale (UTF-8 with BOM, plain UTF-8, or GBK for older systems) and
XLSX on request; `manifest.json` lists source, department, file, encoding, rows and columns."""

from __future__ import annotations

import datetime as dt
import io
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from ejia.demo import names as nm

from .people import REF_DATE, lab

XLSX_MAX_ROWS = 1_048_575  # one header row + data rows per sheet
REL_LABELS = {"02": "户主", "10": "配偶", "20": "子", "30": "女", "38": "儿媳", "40": "孙子女", "50": "父母", "70": "兄弟姐妹"}  # fmt: skip
KIND_LABELS = {"physical": ("肢体残疾", 4), "visual": ("视力残疾", 1), "hearing": ("听力残疾", 2), "speech": ("言语残疾", 3), "intellectual": ("智力残疾", 5), "mental": ("精神残疾", 6), "multiple": ("多重残疾", 7)}  # fmt: skip
GRADE_LABELS = ["", "一级", "二级", "三级", "四级"]
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_W = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_W = (3, 7, 9, 10, 5, 8, 4, 2)
PLATE_CHARS = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"

# source code → (department, file stem, encoding)
SOURCES = {
    "gongan_population": ("公安局（人口库）", "公安_人口基础信息", "utf-8-sig"),
    "gongan_vehicles": ("公安局交通管理支队", "公安交管_机动车登记", "gbk"),
    "bdc_realestate": ("自然资源和规划局（不动产登记中心）", "不动产登记_权属信息", "gbk"),
    "scjg_business": ("市场监督管理局", "市场监管_市场主体登记", "utf-8-sig"),
    "rs_insurance": ("人力资源和社会保障局", "人社_社会保险参保及待遇", "utf-8"),
    "rs_unemployment": ("人力资源和社会保障局", "人社_失业登记", "utf-8"),
    "gjj_fund": ("住房公积金管理中心", "公积金_缴存信息", "utf-8-sig"),
    "sw_tax": ("税务局", "税务_个人所得税", "utf-8"),
    "bank_deposit": ("银行业金融机构（人民银行汇总）", "银行_存款及理财", "utf-8"),
    "yb_medical": ("医疗保障局", "医保_就诊结算明细", "utf-8-sig"),
    "cl_disability": ("残疾人联合会", "残联_残疾人证", "gbk"),
    "mz_civil": ("民政局", "民政_婚姻及死亡登记", "utf-8"),
}


def _yuan(fen) -> pl.Expr:
    return (pl.lit(fen) if not isinstance(fen, pl.Expr) else fen).cast(pl.Float64) / 100


def _dates(rng, start: str, end: str, n: int) -> np.ndarray:
    a, b = np.datetime64(start), np.datetime64(end)
    return a + rng.integers(0, int((b - a).astype(int)) + 1, n).astype("timedelta64[D]")


def _digits_of(values: np.ndarray, width: int) -> list[np.ndarray]:
    out, rest = [], values.copy()
    for _ in range(width):
        out.append(rest % 10)
        rest //= 10
    return out[::-1]


def uscc(rng, region: np.ndarray, individual: np.ndarray) -> pl.Series:
    """Unified social credit codes (GB 32100) with valid organisation-code and final check chars."""
    n = len(region)
    org8 = rng.integers(10_000_000, 99_999_999, n)
    od = _digits_of(org8, 8)
    s = sum(d * w for d, w in zip(od, ORG_W, strict=True))
    c9 = 11 - s % 11
    c9v = np.where(c9 == 11, 0, np.where(c9 == 10, 30, c9))  # 'X' is index 30 in the USCC alphabet
    head = [np.full(n, 9), np.where(individual, 2, 1), *_digits_of(region, 6), *od, c9v]
    total = sum(v * w for v, w in zip(head, USCC_W, strict=True))
    c18 = (31 - total % 31) % 31
    alphabet = np.array(list(USCC_CHARS))
    chars = np.stack([alphabet[v] for v in [*head, c18]], axis=1)
    return pl.Series(np.ascontiguousarray(chars).view("<U18").ravel())


def _plates(rng, n: int, seed: int) -> pl.Series:
    base = len(PLATE_CHARS)
    idx = (np.arange(n, dtype=np.int64) * 7_368_787 + seed * 31 + 12_345) % (24 * base**4)
    first = idx // base**4
    rest = idx % base**4
    cols = [np.array(list(PLATE_CHARS[:24]))[first]]
    for p in range(3, -1, -1):
        cols.append(np.array(list(PLATE_CHARS))[(rest // base**p) % base])
    arr = np.stack(cols, axis=1)
    return pl.Series("鲁M" + pl.Series(arr.view("<U5").ravel()))


def _tax(annual_fen: np.ndarray) -> np.ndarray:
    y = annual_fen / 100.0
    taxable = np.maximum(y - 60_000 - 0.105 * y, 0)
    brackets = [(36_000, 0.03, 0), (144_000, 0.10, 2_520), (300_000, 0.20, 16_920), (420_000, 0.25, 31_920), (660_000, 0.30, 52_920), (960_000, 0.35, 85_920), (np.inf, 0.45, 181_920)]  # fmt: skip
    tax = np.zeros_like(taxable)
    done = np.zeros(len(y), bool)
    for upper, rate, quick in brackets:
        m = ~done & (taxable <= upper)
        tax[m] = taxable[m] * rate - quick
        done |= m
    return np.round(np.maximum(tax, 0) * 100).astype(np.int64)


def build(city: dict, rng: np.random.Generator, seed: int):
    """Yields (source, frame) one department at a time so that each can be written and freed."""
    P, M, HH, D = city["persons"], city["members"], city["households"], city["detail"]
    villages = city["villages"]
    n, H = P.height, HH.height
    hid = M["household_id"].to_numpy() - 1
    rel = M["relation"].to_numpy()
    base = pl.DataFrame(
        {
            "id": P["id_number"],
            "name": P["name"],
            "sex": P["sex"].replace_strict({"M": "男", "F": "女"}),
            "birth": P["birth_date"],
            "hid": hid,
        }
    )
    head_row = np.zeros(H, np.int64)
    head_row[hid[rel == "02"]] = np.flatnonzero(rel == "02")
    spouse_row = np.full(H, -1, np.int64)
    spouse_row[hid[rel == "10"]] = np.flatnonzero(rel == "10")
    county_name = dict(zip(villages["region_code"], villages["county_name"], strict=False))
    deceased = M["deceased"].to_numpy()
    death_date = _dates(rng, "2025-01-01", "2025-12-31", n)

    # 1 公安 population base
    yield (
        "gongan_population",
        pl.DataFrame(
            {
                "公民身份号码": P["id_number"],
                "姓名": P["name"],
                "性别": base["sex"],
                "民族": P["ethnicity"],
                "出生日期": P["birth_date"].dt.strftime("%Y%m%d"),
                "户号": HH["household_no"].gather(hid),
                "与户主关系": M["relation"].replace_strict(REL_LABELS),
                "户籍地址": HH["address"].gather(hid),
                "人员状态": lab(["正常", "死亡注销"], deceased),
            }
        ),
    )

    # 2 公安交管 vehicles: counted vehicles plus exempt low-value farm vehicles
    veh = HH["vehicles"].to_numpy().astype(np.int64)
    urban = HH["urban"].to_numpy()
    farm_v = (~urban & (rng.random(H) < 0.2)).astype(np.int64)
    vh = np.concatenate([np.repeat(np.arange(H), veh), np.repeat(np.arange(H), farm_v)])
    is_farm = np.concatenate([np.zeros(veh.sum(), bool), np.ones(farm_v.sum(), bool)])
    owner = np.where((spouse_row[vh] >= 0) & (rng.random(len(vh)) < 0.3), spouse_row[vh], head_row[vh])
    kinds = np.array(["小型普通客车", "小型越野客车", "轻型普通货车", "普通二轮摩托车"])
    vki = np.where(is_farm, 4, rng.choice(4, len(vh), p=[0.8, 0.08, 0.07, 0.05]))
    vk = lab([*kinds, "三轮汽车"], vki)
    value = np.where(is_farm, rng.integers(300_000, 1_500_000, len(vh)), np.round(rng.lognormal(np.log(9_000_000), 0.6, len(vh))))  # fmt: skip
    value = np.where(vki == 3, rng.integers(200_000, 800_000, len(vh)), value).astype(np.int64)
    yield (
        "gongan_vehicles",
        pl.DataFrame(
            {
                "所有人证件号码": base["id"].gather(owner),
                "所有人": base["name"].gather(owner),
                "号牌号码": _plates(rng, len(vh), seed),
                "号牌种类": lab(["小型汽车", "普通摩托车", "低速车"], np.where(is_farm, 2, np.where(vki == 3, 1, 0))),
                "车辆类型": vk,
                "初次登记日期": pl.Series(_dates(rng, "2008-01-01", "2025-12-20", len(vh))).dt.strftime("%Y-%m-%d"),
                "车辆价值(元)": pl.Series(value).cast(pl.Float64) / 100,
                "机动车状态": "正常",
            }
        ),
    )

    # 3 不动产 real estate
    hu = HH["housing_units"].to_numpy().astype(np.int64)
    rh = np.repeat(np.arange(H), hu)
    k = np.arange(len(rh)) - np.repeat(np.cumsum(hu) - hu, hu)
    size = np.bincount(hid, minlength=H)
    area_pc = HH["housing_area_per_capita_m2"].to_numpy()
    area = np.where(k == 0, np.maximum(area_pc[rh] * size[rh], 30), rng.integers(55, 145, len(rh))).astype(float)
    area = area + np.round(rng.random(len(rh)), 2)
    r_urban = urban[rh]
    county = HH["region_code"].gather(rh)
    cname = county.replace_strict(county_name)
    auth = cname.replace({"滨城区": "滨州市", "沾化区": "滨州市沾化区"})
    year = rng.integers(2016, 2026, len(rh))
    cert = pl.concat_str([pl.lit("鲁("), pl.Series(year).cast(pl.String), pl.lit(")"), auth, pl.lit("不动产权第"), pl.Series(rng.integers(1, 9_999_999, len(rh))).cast(pl.String).str.zfill(7), pl.lit("号")], separator="", ignore_nulls=False)  # fmt: skip
    cert = pl.select(cert).to_series()
    second_addr = pl.select(pl.concat_str([pl.lit("山东省滨州市"), cname, pl.Series(nm.ROADS).gather(rng.integers(0, len(nm.ROADS), len(rh))), pl.Series(rng.integers(1, 300, len(rh))).cast(pl.String), pl.lit("号"), pl.Series(rng.integers(1, 25, len(rh))).cast(pl.String), pl.lit("号楼")])).to_series()  # fmt: skip
    use = lab(["住宅", "商业服务"], (k > 0) & (rng.random(len(rh)) >= 0.8))
    nature = lab(["市场化商品房", "宅基地使用权/房屋所有权"], (k == 0) & ~r_urban)
    yield (
        "bdc_realestate",
        pl.DataFrame(
            {
                "权利人证件号码": base["id"].gather(head_row[rh]),
                "权利人": base["name"].gather(head_row[rh]),
                "不动产权证号": cert,
                "坐落": pl.select(
                    pl.when(pl.Series(k == 0)).then(HH["address"].gather(rh)).otherwise(second_addr)
                ).to_series(),
                "建筑面积(平方米)": area,
                "规划用途": use,
                "权利性质": nature,
                "登记日期": pl.Series(_dates(rng, "2016-01-01", "2025-12-20", len(rh))).dt.strftime("%Y/%m/%d"),
            }
        ),
    )

    # 4 市场监管 business registration: active for households with a business, some closed ones
    hb = HH["has_business"].to_numpy()
    closed = ~hb & (rng.random(H) < 0.015)
    bh = np.concatenate([np.flatnonzero(hb), np.flatnonzero(closed)])
    active = np.concatenate([np.ones(hb.sum(), bool), np.zeros(closed.sum(), bool)])
    indiv = rng.random(len(bh)) < 0.8
    brow = head_row[bh]
    trades = [t for t, _ in nm.BUSINESS_TRADES]
    tp = np.array([w for _, w in nm.BUSINESS_TRADES], float)
    county_b = HH["region_code"].gather(bh)
    cname_b = county_b.replace_strict(county_name)
    surname1 = base["name"].gather(brow).str.slice(0, 1)
    word = pl.Series(nm.COMPANY_WORDS).gather(rng.integers(0, len(nm.COMPANY_WORDS), len(bh))) + pl.Series(nm.COMPANY_WORDS).gather(rng.integers(0, len(nm.COMPANY_WORDS), len(bh)))  # fmt: skip
    indiv_name = cname_b + surname1 + pl.Series(["记", "氏", "家"]).gather(rng.integers(0, 3, len(bh))) + pl.Series(trades).gather(rng.choice(len(trades), len(bh), p=tp / tp.sum()))  # fmt: skip
    comp_name = pl.lit("滨州") + word + pl.Series(nm.COMPANY_TRADES).gather(rng.integers(0, len(nm.COMPANY_TRADES), len(bh)))  # fmt: skip
    bname = pl.select(pl.when(pl.Series(indiv)).then(indiv_name).otherwise(comp_name)).to_series()
    yield (
        "scjg_business",
        pl.DataFrame(
            {
                "统一社会信用代码": uscc(rng, county_b.cast(pl.Int64).to_numpy(), indiv),
                "市场主体名称": bname,
                "主体类型": lab(["有限责任公司(自然人投资或控股)", "个体工商户"], indiv),
                "法定代表人(负责人)": base["name"].gather(brow),
                "法定代表人证件号码": base["id"].gather(brow),
                "成立日期": pl.Series(_dates(rng, "2005-01-01", "2025-10-31", len(bh))).dt.strftime("%Y-%m-%d"),
                "登记状态": lab(
                    ["存续", "注销", "吊销"], np.where(active, 0, np.where(rng.random(len(bh)) < 0.8, 1, 2))
                ),
                "注册资本(万元)": np.where(
                    indiv, np.round(rng.uniform(1, 30, len(bh)), 1), np.round(rng.uniform(10, 500, len(bh)), 0)
                ),
                "住所": HH["address"].gather(bh),
            }
        ),
    )

    # 5 人社 social insurance and pensions
    emp_s = M["employment"]
    pension = M["pension_month_fen"].to_numpy()
    wage = D["wage_fen"].to_numpy()
    emp_pen = D["employee_pension"].to_numpy()
    age = REF_DATE.year - 1 - P["birth_date"].dt.year().to_numpy()
    alive = ~deceased
    r_emp_pen = np.flatnonzero(emp_pen & alive)
    r_res_pen = np.flatnonzero(~emp_pen & (pension > 0) & alive)
    m_urban = urban[hid]
    r_contrib = np.flatnonzero((wage > 0) & (rng.random(n) < np.where(m_urban, 0.85, 0.35)))
    r_resid = np.flatnonzero(
        (age >= 16)
        & (age < 60)
        & alive
        & (emp_s != "student").to_numpy()
        & ~np.isin(np.arange(n), r_contrib)
        & (rng.random(n) < 0.8)
    )
    rows = np.concatenate([r_emp_pen, r_res_pen, r_contrib, r_resid])
    typ = lab(["企业职工基本养老保险", "城乡居民基本养老保险"], np.concatenate([np.zeros(len(r_emp_pen), int), np.ones(len(r_res_pen), int), np.zeros(len(r_contrib), int), np.ones(len(r_resid), int)]))  # fmt: skip
    status = lab(["待遇领取", "参保缴费"], np.arange(len(rows)) >= len(r_emp_pen) + len(r_res_pen))
    pen_y = np.concatenate([pension[r_emp_pen], pension[r_res_pen], np.zeros(len(r_contrib) + len(r_resid), np.int64)])
    base_y = np.concatenate([np.zeros(len(r_emp_pen) + len(r_res_pen), np.int64), np.clip(wage[r_contrib], 419_700, 2_098_500), np.zeros(len(r_resid), np.int64)])  # fmt: skip
    employer = pl.Series(nm.EMPLOYER_NAMES).gather(rng.integers(0, len(nm.EMPLOYER_NAMES), len(rows)))
    is_contrib_emp = np.concatenate([np.zeros(len(r_emp_pen) + len(r_res_pen), bool), np.ones(len(r_contrib), bool), np.zeros(len(r_resid), bool)])  # fmt: skip
    yield (
        "rs_insurance",
        pl.DataFrame(
            {
                "证件号码": base["id"].gather(rows),
                "姓名": base["name"].gather(rows),
                "险种类型": typ,
                "参保状态": status,
                "单位名称": pl.select(pl.when(pl.Series(is_contrib_emp)).then(employer)).to_series(),
                "缴费基数(元)": pl.select(pl.when(pl.Series(base_y > 0)).then(pl.Series(base_y) / 100)).to_series(),
                "月养老金(元)": pl.select(pl.when(pl.Series(pen_y > 0)).then(pl.Series(pen_y) / 100)).to_series(),
                "数据日期": "2025-12-31",
            }
        ),
    )

    # 6 人社 unemployment registration
    uben = D["unemployment_benefit_fen"].to_numpy()
    r_u = np.flatnonzero((emp_s == "unemployed_registered").to_numpy())
    r_past = np.flatnonzero((emp_s == "employed").to_numpy() & (rng.random(n) < 0.02))
    ur = np.concatenate([r_u, r_past])
    cur = np.concatenate([np.ones(len(r_u), bool), np.zeros(len(r_past), bool)])
    yield (
        "rs_unemployment",
        pl.DataFrame(
            {
                "证件号码": base["id"].gather(ur),
                "姓名": base["name"].gather(ur),
                "失业登记日期": pl.Series(
                    np.where(
                        cur,
                        _dates(rng, "2025-01-01", "2025-12-20", len(ur)),
                        _dates(rng, "2019-01-01", "2024-12-31", len(ur)),
                    )
                ).dt.strftime("%Y-%m-%d"),
                "登记状态": lab(["已注销", "有效"], cur),
                "失业保险金(元/月)": np.concatenate([uben[r_u], np.zeros(len(r_past), np.int64)]) / 100,
                "就业困难人员": lab(["否", "是"], cur & (rng.random(len(ur)) < 0.3)),
            }
        ),
    )

    # 7 公积金 provident fund
    r_f = np.flatnonzero((wage > 0) & (rng.random(n) < np.where(m_urban, 0.55, 0.12)))
    r_sealed = np.flatnonzero(emp_pen & (rng.random(n) < 0.1))
    fr = np.concatenate([r_f, r_sealed])
    monthly = np.concatenate([np.round(np.clip(wage[r_f], 190_000, 3_000_000) * 0.24).astype(np.int64), np.zeros(len(r_sealed), np.int64)])  # fmt: skip
    balance = np.where(monthly > 0, np.round(monthly * rng.uniform(3, 120, len(fr))), np.round(rng.lognormal(np.log(2_000_000), 0.8, len(fr)))).astype(np.int64)  # fmt: skip
    yield (
        "gjj_fund",
        pl.DataFrame(
            {
                "证件号码": base["id"].gather(fr),
                "姓名": base["name"].gather(fr),
                "个人公积金账号": pl.Series(3716_0000_0000 + np.arange(len(fr), dtype=np.int64) * 37 + seed).cast(
                    pl.String
                ),
                "单位名称": pl.Series(nm.EMPLOYER_NAMES).gather(rng.integers(0, len(nm.EMPLOYER_NAMES), len(fr))),
                "月缴存额(元)": monthly / 100,
                "账户余额(元)": balance / 100,
                "账户状态": lab(["封存", "正常"], monthly > 0),
            }
        ),
    )

    # 8 税务 annual individual income tax
    biz = D["business_fen"].to_numpy()
    r_t = np.flatnonzero((wage > 0) | (biz > 0))
    annual = (wage[r_t] + biz[r_t]) * 12
    yield (
        "sw_tax",
        pl.DataFrame(
            {
                "纳税人识别号": base["id"].gather(r_t),
                "纳税人姓名": base["name"].gather(r_t),
                "所得期间": "2025年度",
                "收入额(元)": annual / 100,
                "已缴税额(元)": _tax(annual) / 100,
                "主管税务机关": pl.Series(HH["region_code"].gather(hid[r_t])).replace_strict(county_name) + "税务局",
            }
        ),
    )

    # 9 银行 deposits: the household's financial assets split over 1–3 accounts (sums match)
    dep = HH["financial_assets_fen"].to_numpy()
    na = 1 + (dep > 5_000_000).astype(np.int64) + (dep > 20_000_000).astype(np.int64)
    ah = np.repeat(np.arange(H), na)
    j = np.arange(len(ah)) - np.repeat(np.cumsum(na) - na, na)
    w = rng.random(len(ah)) + 0.2
    wsum = np.bincount(ah, weights=w, minlength=H)
    share = np.floor(dep[ah] * w / wsum[ah]).astype(np.int64)
    rem = dep - np.bincount(ah, weights=share, minlength=H).astype(np.int64)
    share = share + np.where(j == 0, rem[ah], 0)
    holder = np.where((j == 2) & (spouse_row[ah] >= 0), spouse_row[ah], head_row[ah])
    bank_i = rng.integers(0, len(nm.BANKS), len(ah))
    bank = pl.select(pl.when(pl.Series(j == 0)).then(HH["bank_name"].gather(ah)).otherwise(pl.Series([b[0] for b in nm.BANKS]).gather(bank_i))).to_series()  # fmt: skip
    acct_other = pl.Series(6_200_000_000_000_000_000 + np.arange(len(ah), dtype=np.int64) * 104_729 + seed).cast(pl.String)  # fmt: skip
    acct = pl.select(pl.when(pl.Series(j == 0)).then(HH["bank_account"].gather(ah)).otherwise(acct_other)).to_series()
    yield (
        "bank_deposit",
        pl.DataFrame(
            {
                "证件号码": base["id"].gather(holder),
                "姓名": base["name"].gather(holder),
                "银行名称": bank,
                "账号": acct,
                "账户类型": lab(["活期储蓄", "定期储蓄", "理财产品"], j),
                "余额(元)": share / 100,
                "余额日期": "2025-12-31",
            }
        ),
    )

    # 10 医保 medical settlements: per-visit rows; 个人自付 sums to the member's yearly figure
    med = M["medical_oop_year_member_fen"].to_numpy()
    chronic = M["chronic_illness"].to_numpy()
    serious = M["serious_illness"].to_numpy()
    nv = np.where(med > 0, 1 + rng.integers(0, 2, n) + 3 * chronic + 3 * serious, 0).astype(np.int64)
    vr = np.repeat(np.arange(n), nv)
    vi = np.arange(len(vr)) - np.repeat(np.cumsum(nv) - nv, nv)
    inpatient = serious[vr] & (vi < 3)
    w = rng.random(len(vr)) + 0.1 + inpatient * 5
    wsum = np.bincount(vr, weights=w, minlength=n)
    oop = np.floor(med[vr] * w / wsum[vr]).astype(np.int64)
    rem = med - np.bincount(vr, weights=oop, minlength=n).astype(np.int64)
    oop = oop + np.where(vi == 0, rem[vr], 0)
    total = np.round(oop / rng.uniform(0.3, 0.65, len(vr))).astype(np.int64)
    total = np.maximum(total, oop)
    vtype = lab(["普通门诊", "门诊慢特病", "住院"], np.where(inpatient, 2, chronic[vr].astype(np.int64)))
    hospitals = ["滨州医学院附属医院", "滨州市人民医院", "滨州市中心医院", "滨州市中医医院"]
    cn = pl.Series(HH["region_code"].gather(hid[vr])).replace_strict(county_name)
    local = cn + pl.Series(["人民医院", "中医医院", "妇幼保健院"]).gather(rng.integers(0, 3, len(vr)))
    inst = pl.select(pl.when(pl.Series(inpatient & (rng.random(len(vr)) < 0.5))).then(pl.Series(hospitals).gather(rng.integers(0, 4, len(vr)))).otherwise(local)).to_series()  # fmt: skip
    yield (
        "yb_medical",
        pl.DataFrame(
            {
                "身份证号码": base["id"].gather(vr),
                "姓名": base["name"].gather(vr),
                "就诊日期": pl.Series(_dates(rng, "2025-01-01", "2025-12-31", len(vr))).dt.strftime("%Y-%m-%d"),
                "医疗机构名称": inst,
                "就诊类型": vtype,
                "医疗总费用(元)": total / 100,
                "医保统筹支付(元)": (total - oop) / 100,
                "个人自付(元)": oop / 100,
            }
        ),
    )

    # 11 残联 disability certificates (20-char: ID + kind digit + grade digit)
    grade = M["disability_grade"].to_numpy()
    r_d = np.flatnonzero(grade > 0)
    kinds_d = M["disability_kind"].gather(r_d)
    kind_label = kinds_d.replace_strict({k: v[0] for k, v in KIND_LABELS.items()})
    kind_digit = kinds_d.replace_strict({k: str(v[1]) for k, v in KIND_LABELS.items()})
    yield (
        "cl_disability",
        pl.DataFrame(
            {
                "姓名": base["name"].gather(r_d),
                "身份证号": base["id"].gather(r_d),
                "残疾证号": base["id"].gather(r_d) + kind_digit + pl.Series(grade[r_d]).cast(pl.String),
                "残疾类别": kind_label,
                "残疾等级": pl.Series(GRADE_LABELS).gather(grade[r_d]),
                "发证日期": pl.Series(_dates(rng, "2012-01-01", "2025-12-20", len(r_d))).dt.strftime("%Y%m%d"),
            }
        ),
    )

    # 12 民政 deaths, marriages, divorces
    r_dead = np.flatnonzero(deceased)
    young_couple = (spouse_row >= 0) & (age[head_row] <= 34)
    mh = np.flatnonzero(young_couple)
    mdate = _dates(rng, "2016-01-01", "2025-12-20", len(mh))
    mar = np.concatenate([head_row[mh], spouse_row[mh]])
    single_mother = M["single_parent_mother"].to_numpy()
    r_div = np.flatnonzero(single_mother & (rng.random(n) < 0.45))
    ev_rows = np.concatenate([r_dead, mar, r_div])
    ev_code = np.concatenate([np.zeros(len(r_dead), int), np.ones(len(mar), int), np.full(len(r_div), 2)])
    ev_type = lab(["死亡", "结婚登记", "离婚登记"], ev_code)
    div_dates = _dates(rng, "2010-01-01", "2025-12-20", len(r_div))
    ev_date = np.concatenate([death_date[r_dead], mdate, mdate, div_dates])
    cn_ev = pl.Series(HH["region_code"].gather(hid[ev_rows])).replace_strict(county_name)
    office = pl.select(
        pl.when(pl.Series(ev_code == 0)).then(cn_ev + "公安局户籍管理大队").otherwise(cn_ev + "民政局婚姻登记处")
    ).to_series()
    yield (
        "mz_civil",
        pl.DataFrame(
            {
                "证件号码": base["id"].gather(ev_rows),
                "姓名": base["name"].gather(ev_rows),
                "事件类型": ev_type,
                "事件日期": pl.Series(ev_date).dt.strftime("%Y-%m-%d"),
                "登记机关": office,
            }
        ),
    )


def _write_csv(df: pl.DataFrame, path: Path, encoding: str) -> None:
    if encoding == "gbk":
        buf = io.BytesIO()
        df.write_csv(buf)
        path.write_bytes(buf.getvalue().decode("utf-8").encode("gbk"))
    else:
        df.write_csv(path, include_bom=encoding == "utf-8-sig")


_XLSX_PARTS = {
    "[Content_Types].xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>"
    ),
    "_rels/.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/_rels/workbook.xml.rels": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        'Target="worksheets/sheet1.xml"/>'
        '<Relationship Id="rId2" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/>'
        "</Relationships>"
    ),
    "xl/styles.xml": (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<fonts count="1"><font><sz val="11"/><name val="宋体"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/></cellXfs>'
        '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
        "</styleSheet>"
    ),
}


def _xml_text(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )


def _write_xlsx(df: pl.DataFrame, path: Path, sheet: str) -> None:
    """A one-sheet XLSX (inline strings, text stays text), built column-wise.

    openpyxl's write-only mode runs at ~1,200 rows/s without lxml, too slow even at demo scale;
    the files are read back with openpyxl in the tests."""
    import zipfile

    cells = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if dtype.is_numeric():
            cell = pl.lit("<c><v>") + col.cast(pl.String) + pl.lit("</v></c>")
        else:
            cell = pl.lit('<c t="inlineStr"><is><t>') + _xml_text(col.cast(pl.String)) + pl.lit("</t></is></c>")
        cells.append(cell.fill_null(pl.lit("<c/>")))
    body = df.select(pl.concat_str([pl.lit("<row>"), *cells, pl.lit("</row>")]).alias("r")).to_series()
    header = "<row>" + "".join(f'<c t="inlineStr"><is><t>{h}</t></is></c>' for h in df.columns) + "</row>"
    sheet_xml = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        + header
        + body.str.join("").item()
        + "</sheetData></worksheet>"
    )
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f'<sheets><sheet name="{sheet[:31]}" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    fixed = dt.datetime(2026, 1, 1).timetuple()[:6]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for part, text in [
            *_XLSX_PARTS.items(),
            ("xl/workbook.xml", workbook),
            ("xl/worksheets/sheet1.xml", sheet_xml),
        ]:
            info = zipfile.ZipInfo(part, date_time=fixed)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, text.encode("utf-8"))


def write(tables, out: Path, *, csv: bool, xlsx: bool, timings: dict) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    files = []
    t_csv = t_xlsx = 0.0
    t_build = 0.0
    it = iter(tables.items() if isinstance(tables, dict) else tables)
    while True:
        t = time.perf_counter()
        item = next(it, None)
        t_build += time.perf_counter() - t
        if item is None:
            break
        source, df = item
        dept, stem, enc = SOURCES[source]
        entry = {
            "source": source,
            "department": dept,
            "file": f"{stem}.csv" if csv else None,
            "encoding": enc,
            "rows": df.height,
            "columns": df.columns,
            "xlsx": None,
        }
        t = time.perf_counter()
        if csv:
            _write_csv(df, out / f"{stem}.csv", enc)
        t_csv += time.perf_counter() - t
        t = time.perf_counter()
        if xlsx and df.height <= XLSX_MAX_ROWS:
            _write_xlsx(df, out / f"{stem}.xlsx", stem)
            entry["xlsx"] = f"{stem}.xlsx"
        elif xlsx:
            entry["xlsx_skipped"] = f"{df.height} rows exceed one sheet ({XLSX_MAX_ROWS})"
        t_xlsx += time.perf_counter() - t
        files.append(entry)
        del df, item
    timings["departments_build"] = t_build
    timings["departments_csv"] = t_csv
    timings["departments_xlsx"] = t_xlsx
    manifest = {"as_of": REF_DATE.isoformat(), "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest
