"""Vocabulary for the synthetic city: surnames (frequency-weighted, northern-China skew), given-name
characters by sex and generation, place and business words. All characters are in GBK."""

from __future__ import annotations

import numpy as np
import polars as pl

# (surname, relative weight) — approximate national/Shandong frequencies, per mille.
SURNAME_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("王", 80), ("李", 76), ("张", 72), ("刘", 58), ("孙", 30), ("陈", 30), ("杨", 30), ("赵", 26),
    ("高", 18), ("于", 16), ("徐", 16), ("马", 15), ("周", 14), ("吴", 12), ("郭", 12), ("宋", 12),
    ("韩", 12), ("朱", 11), ("胡", 10), ("魏", 10), ("董", 10), ("曹", 9), ("田", 9), ("杜", 9),
    ("崔", 9), ("石", 8), ("范", 8), ("贾", 8), ("孟", 8), ("薛", 7), ("冯", 7), ("袁", 7),
    ("许", 7), ("程", 7), ("付", 6), ("闫", 6), ("姜", 6), ("丁", 6), ("侯", 6), ("邢", 5),
    ("何", 5), ("郑", 5), ("吕", 5), ("任", 5), ("林", 5), ("梁", 5), ("宁", 4), ("谢", 4),
    ("唐", 4), ("苏", 4), ("潘", 4), ("蒋", 4), ("黄", 4), ("邵", 4), ("尹", 4), ("彭", 4),
    ("卢", 4), ("秦", 4), ("史", 4), ("牛", 4), ("房", 3), ("毕", 3), ("庞", 3), ("商", 3),
    ("訾", 1), ("燕", 2), ("路", 3), ("单", 3), ("杲", 1), ("盖", 2), ("陶", 2), ("葛", 2),
    ("毛", 2), ("仇", 2), ("焦", 2), ("聂", 2), ("岳", 2), ("耿", 2), ("齐", 2), ("展", 1),
)  # fmt: skip
SURNAMES = [s for s, _ in SURNAME_WEIGHTS]
SURNAME_P = np.array([w for _, w in SURNAME_WEIGHTS], dtype=float)
SURNAME_P /= SURNAME_P.sum()

# Given-name characters: older generation (born before 1975) and younger.
MALE_OLD = list("国建军明华平志文庆德立忠福贵成海东兴学春林玉宝永长荣金富山刚俊强勇生卫红胜云祥义")
MALE_YOUNG = list("浩宇轩博睿泽子涛鹏磊杰超凯鑫帅辉晨旭阳航然豪奕铭哲瑞锦昊天翔健彬斌新龙飞")
FEMALE_OLD = list("秀英兰芳桂珍凤玉梅霞淑华荣花琴云美丽翠萍爱敏素红秋香春菊莲娥芝兰月")
FEMALE_YOUNG = list("静娜丽婷雪倩颖欣怡涵萱悦佳琪梦雨晨诗思瑶蕊妍琳楠茜晓燕慧敏洁菲彤")

ETHNICITIES = ("汉族", "回族", "满族", "蒙古族", "壮族", "朝鲜族", "土家族")
ETHNICITY_P = np.array([0.9915, 0.0055, 0.0012, 0.0006, 0.0004, 0.0004, 0.0004])
ETHNICITY_P /= ETHNICITY_P.sum()

ROAD_WORDS = list("黄河渤海长江中海新立彩虹滨河永莘东海西海南海北海渤海建设胜利")
ROADS = [
    "黄河二路", "黄河五路", "黄河八路", "渤海七路", "渤海十路", "渤海十八路", "长江一路", "长江三路",
    "中海路", "新立河路", "彩虹湖路", "永莘路", "滨河路", "东海路", "南海路", "北海路", "建设路",
    "胜利路", "民生路", "文化路", "工业路", "府前街", "人民路", "迎宾路", "幸福路", "团结路",
]  # fmt: skip
BUSINESS_TRADES = [
    ("商店", 6), ("超市", 4), ("家常菜馆", 3), ("理发店", 2), ("五金店", 2), ("农资店", 3),
    ("粮油店", 2), ("水果店", 2), ("汽修部", 1), ("服装店", 2), ("早餐店", 2), ("养殖场", 2),
    ("种植专业合作社", 1), ("建材经营部", 1), ("快递服务部", 1), ("烧烤店", 1), ("装饰部", 1),
]  # fmt: skip
COMPANY_WORDS = list("鑫盛恒达华泰宏远金源兴隆瑞丰永信博创汇通天成嘉和")
COMPANY_TRADES = ["商贸有限公司", "纺织有限公司", "化工有限公司", "建材有限公司", "农业科技有限公司", "物流有限公司", "机械有限公司", "食品有限公司"]  # fmt: skip
EMPLOYER_NAMES = [
    "滨州市人民医院", "滨州医学院附属医院", "山东魏桥创业集团有限公司", "滨州市教育局直属学校",
    "滨州市公共交通有限公司", "国网滨州供电公司", "山东京博控股集团有限公司", "西王集团有限公司",
    "山东渤海实业集团有限公司", "滨州市城市管理局", "中国邮政集团有限公司滨州市分公司", "滨化集团股份有限公司",
    "山东鲁北企业集团总公司", "亚光家纺有限公司", "三星集团有限公司", "滨州经济技术开发区管委会",
]  # fmt: skip
BANKS = [
    ("中国农业银行", "622848", 0.26), ("中国工商银行", "622202", 0.16), ("中国建设银行", "621700", 0.14),
    ("中国银行", "621661", 0.08), ("中国邮政储蓄银行", "621799", 0.12), ("滨州农村商业银行", "623160", 0.16),
    ("山东省农村信用社联合社", "622319", 0.05), ("交通银行", "622262", 0.03),
]  # fmt: skip


def pick(rng: np.random.Generator, words: list[str], n: int, p: np.ndarray | None = None) -> pl.Series:
    idx = rng.choice(len(words), size=n, p=p)
    return pl.Series(words, dtype=pl.String).gather(idx)


def given_names(rng: np.random.Generator, male: np.ndarray, old: np.ndarray) -> pl.Series:
    """1–2 given characters from the pool for sex × generation (vectorised)."""
    n = len(male)
    pools = [FEMALE_YOUNG, FEMALE_OLD, MALE_YOUNG, MALE_OLD]
    flat = [c for pool in pools for c in pool]
    offsets = np.cumsum([0] + [len(p) for p in pools])[:-1]
    sizes = np.array([len(p) for p in pools])
    group = male.astype(np.int64) * 2 + old.astype(np.int64)
    u1 = rng.random(n)
    u2 = rng.random(n)
    i1 = offsets[group] + (u1 * sizes[group]).astype(np.int64)
    i2 = offsets[group] + (u2 * sizes[group]).astype(np.int64)
    two = rng.random(n) < np.where(old, 0.8, 0.65)
    series = pl.Series(flat, dtype=pl.String)
    first = series.gather(i1)
    second = series.gather(i2)
    return (
        pl.DataFrame({"a": first, "b": second, "two": two})
        .select(pl.when(pl.col("two")).then(pl.col("a") + pl.col("b")).otherwise(pl.col("a")))
        .to_series()
    )
