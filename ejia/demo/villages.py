"""Generated villages (村) and communities (社区) under Binzhou's real townships.

Deterministic from the township code: the same code always yields the same list. Codes
are the township's 9 digits + 3 digits (communities 001–099, villages from 201 as NBS does).
"""

from __future__ import annotations

import random

from ejia.accounts.services import DivisionRow, read_base_divisions

SURNAMES = "王李张刘陈杨赵黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
VILLAGE_SUFFIXES = [
    "家村",
    "家庄村",
    "庄村",
    "官屯村",
    "家集村",
    "家店村",
    "家洼村",
    "楼村",
    "家寨村",
    "家营村",
    "王村",
    "家桥村",
    "家坊村",
]
PREFIXES = ["东", "西", "南", "北", "前", "后", "大", "小", "新", "老", "中", "上", "下"]
COMMUNITY_WORDS = [
    "幸福",
    "和平",
    "黄河",
    "渤海",
    "滨河",
    "新立",
    "建设",
    "民安",
    "文化",
    "光明",
    "康宁",
    "锦绣",
    "朝阳",
    "安居",
    "祥和",
    "振兴",
    "友谊",
    "长江",
    "泰和",
    "富民",
    "永安",
    "书院",
    "凤凰",
    "丰收",
    "惠民",
    "胜利",
    "金海",
    "秀水",
]
# Villages per township at full scale: ~5,000 over 92 townships.
VILLAGES_PER_TOWN = (55, 85)
COMMUNITIES_PER_STREET = (8, 22)


def villages_for_township(code: str, kind: str) -> list[DivisionRow]:
    rng = random.Random(int(code))
    rows: list[DivisionRow] = []
    seen: set[str] = set()
    if kind == "street":
        n = rng.randint(*COMMUNITIES_PER_STREET)
        words = COMMUNITY_WORDS[:]
        rng.shuffle(words)
        for i in range(n):
            name = words[i % len(words)] + ("" if i < len(words) else PREFIXES[i // len(words)]) + "社区"
            rows.append(DivisionRow(f"{code}{i + 1:03d}", name, "village", code, "community"))
        # Streets on the edge of town keep some villages too.
        extra = rng.randint(0, 6)
    else:
        extra = rng.randint(*VILLAGES_PER_TOWN)
    seq = 201
    while len(rows) < (len(rows) + extra) and extra > 0:
        name = rng.choice(PREFIXES) * (rng.random() < 0.3) + rng.choice(SURNAMES) + rng.choice(VILLAGE_SUFFIXES)
        if name in seen:
            continue
        seen.add(name)
        rows.append(DivisionRow(f"{code}{seq:03d}", name, "village", code, "village"))
        seq += 1
        extra -= 1
    return rows


def all_divisions() -> list[DivisionRow]:
    """The real city/county/township tree plus the generated villages."""
    base = read_base_divisions()
    rows = list(base)
    for row in base:
        if row.level == "township":
            rows.extend(villages_for_township(row.code, row.kind))
    return rows
