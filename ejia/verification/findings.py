"""From department answers to verified facts (核对结果 → 核实事实), with provenance.

Pure functions over plain data, no Django: `derive` takes what each source answered for each
member and returns the rule-engine facts the answers prove, each with the sources and the
date they speak for, plus the differences from what the household declared.

A fact is verified only when every source it depends on has answered. A source that failed
leaves its facts as declared and says so — a failure is never read as "nothing found".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from ejia.rules.facts import FACTS

# Vehicles that count as property: not exempt low-speed farm vehicles, not gone.
VEHICLE_GONE = {"转出", "被盗抢", "注销", "报废"}
VEHICLE_EXEMPT_KINDS = {"低速车"}
BUSINESS_ACTIVE = {"存续", "在业", "停业"}
DISABILITY_KIND_CODES = {
    "1": "visual",
    "2": "hearing",
    "3": "speech",
    "4": "physical",
    "5": "intellectual",
    "6": "mental",
    "7": "multiple",
}
# What `derive` reads of each source kind's records: the kinds it uses and, of their records,
# these keys only (a record's other keys never change a verified fact). A bulk reader may leave
# other kinds unread and hand `derive` records holding only these keys.
READS: dict[str, tuple[str, ...]] = {
    "deposit": ("balance_fen",),
    "vehicle": ("status", "plate_kind"),
    "real_estate": (),
    "business": ("status",),
    "social_insurance": ("status", "pension_month_fen"),
    "unemployment": ("status", "benefit_month_fen"),
    "tax": ("period", "income_fen"),
    "medical": ("out_of_pocket_fen",),
    "disability": ("disability_grade", "disability_kind"),
    "population": ("status",),
    "civil": ("event", "event_date"),
}
INCOME_NOTE = "部门数据可证实的收入（工资薪金和经营所得、养老金、失业保险金），务农、零工等无记录收入仍以申报为准"


@dataclass
class Answer:
    """What one source said in one check."""

    code: str
    kind: str
    name: str
    status: str  # done | failed | pending | running
    as_of: str | None = None
    findings: dict[str, list[dict]] = field(default_factory=dict)  # person uuid → records

    @property
    def done(self) -> bool:
        return self.status == "done"

    def records(self, person: str) -> list[dict]:
        return self.findings.get(person) or []

    def all_records(self) -> list[dict]:
        return [r for records in self.findings.values() for r in records]


def _fact(value, answers: list[Answer], note: str = "") -> dict:
    if len(answers) == 1:  # most facts: one source (the same dict, built without sorting)
        only = answers[0]
        return {
            "value": value,
            "sources": [only.code],
            "source_names": [only.name],
            "as_of": only.as_of or None,
            "note": note,
        }
    dates = sorted(a.as_of for a in answers if a.as_of)
    return {
        "value": value,
        "sources": [a.code for a in answers],
        "source_names": [a.name for a in answers],
        "as_of": dates[0] if dates else None,
        "note": note,
    }


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _months_income(tax_records: list[dict]) -> int:
    """Monthly income from the latest tax period's income (annual, 所得期间 '2025年度')."""
    if not tax_records:
        return 0
    latest = max(str(r.get("period", "")) for r in tax_records)
    annual = sum(_int(r.get("income_fen")) for r in tax_records if str(r.get("period", "")) == latest)
    months = 12 if ("年" in latest or len(latest) == 4) else 1
    return round(annual / months)


def derive(answers: list[Answer], members: list[str], *, on: dt.date) -> dict:
    """Verified facts: {"household": {fact: provenance}, "members": {person: {fact: provenance}},
    "unverified": [{"fact", "label", "why"}]}."""
    by_kind = {a.kind: a for a in answers}
    household: dict[str, dict] = {}
    per_member: dict[str, dict[str, dict]] = {p: {} for p in members}
    unverified: list[dict] = []

    def need(kind: str, *facts: str) -> Answer | None:
        answer = by_kind.get(kind)
        if answer is not None and answer.done:
            return answer
        why = f"{answer.name}{'查询失败' if answer and answer.status == 'failed' else '尚未返回'}" if answer else ""
        if answer is not None:
            for name in facts:
                unverified.append({"fact": name, "label": FACTS[name].label, "why": why})
        return None

    if deposit := need("deposit", "financial_assets_fen"):
        total = sum(_int(r.get("balance_fen")) for r in deposit.all_records())
        household["financial_assets_fen"] = _fact(total, [deposit])
    if vehicle := need("vehicle", "vehicles"):
        counted = [
            r
            for r in vehicle.all_records()
            if r.get("status") not in VEHICLE_GONE and r.get("plate_kind") not in VEHICLE_EXEMPT_KINDS
        ]
        household["vehicles"] = _fact(len(counted), [vehicle], "不含低速车等农用车辆")
    if estate := need("real_estate", "housing_units"):
        household["housing_units"] = _fact(len(estate.all_records()), [estate])
    if business := need("business", "has_business"):
        active = [r for r in business.all_records() if r.get("status") in BUSINESS_ACTIVE]
        household["has_business"] = _fact(bool(active), [business])

    insurance = need("social_insurance", "pension_month_fen")
    unemployment = need("unemployment", "employment")
    tax = by_kind.get("tax")
    medical = need("medical", "medical_oop_year_member_fen", "medical_oop_year_fen")
    disability = need("disability", "disability_grade", "disability_kind")
    population = by_kind.get("population")
    civil = by_kind.get("civil")
    income_sources = [
        a for a in (by_kind.get("tax"), by_kind.get("social_insurance"), by_kind.get("unemployment")) if a
    ]
    income_ready = bool(income_sources) and all(a.done for a in income_sources)
    if income_sources and not income_ready:
        failed = "、".join(a.name for a in income_sources if not a.done)
        unverified.append(
            {"fact": "income_month_fen", "label": FACTS["income_month_fen"].label, "why": f"{failed}未返回"}
        )
    medical_total = 0
    death_sources = [a for a in (population, civil) if a is not None]
    deaths_ready = bool(death_sources) and all(a.done for a in death_sources)
    if death_sources and not deaths_ready:
        unverified.append({"fact": "deceased", "label": FACTS["deceased"].label, "why": "人口库或婚姻死亡登记未返回"})

    for person in members:
        facts = per_member[person]
        pension = 0
        benefit = 0
        if insurance:
            pension = sum(
                _int(r.get("pension_month_fen")) for r in insurance.records(person) if r.get("status") == "待遇领取"
            )
            facts["pension_month_fen"] = _fact(pension, [insurance])
        if unemployment:
            active = [r for r in unemployment.records(person) if r.get("status") == "有效"]
            benefit = sum(_int(r.get("benefit_month_fen")) for r in active)
            if active:
                facts["employment"] = _fact("unemployed_registered", [unemployment], "有效失业登记")
        if income_ready:
            wage = _months_income(tax.records(person)) if tax else 0
            facts["income_month_fen"] = _fact(wage + pension + benefit, income_sources, INCOME_NOTE)
            facts["income_month_fen"]["documented"] = True
        if medical:
            oop = sum(_int(r.get("out_of_pocket_fen")) for r in medical.records(person))
            medical_total += oop
            facts["medical_oop_year_member_fen"] = _fact(oop, [medical], "医保结算个人自付合计")
        if disability:
            certificates = disability.records(person)
            if certificates:
                best = min(certificates, key=lambda r: _int(r.get("disability_grade")) or 9)
                facts["disability_grade"] = _fact(_int(best.get("disability_grade")), [disability])
                kind = DISABILITY_KIND_CODES.get(str(best.get("disability_kind", "")))
                if kind:
                    facts["disability_kind"] = _fact(kind, [disability])
            else:
                facts["disability_grade"] = _fact(0, [disability], "未持有残疾人证")
        if deaths_ready:
            dead = any(r.get("status") == "deceased" for r in population.records(person)) if population else False
            deaths = [r for r in civil.records(person) if r.get("event") == "death"] if civil else []
            facts["deceased"] = _fact(dead or bool(deaths), death_sources)
            recent = [r for r in deaths if _recent(r.get("event_date"), on)]
            if recent:
                household["death_in_household_year"] = _fact(True, [civil], "近一年内有家庭成员死亡登记")
    if medical:
        household["medical_oop_year_fen"] = _fact(medical_total, [medical], "家庭成员医保结算个人自付合计")
    return {"household": household, "members": per_member, "unverified": unverified}


def _recent(value, on: dt.date) -> bool:
    try:
        day = dt.date.fromisoformat(str(value))
    except ValueError:
        return False
    return on - dt.timedelta(days=365) <= day <= on


def _same(declared, verified) -> bool:
    if isinstance(verified, bool) or isinstance(declared, bool):
        return bool(declared) == bool(verified)
    if isinstance(verified, int) and not isinstance(verified, bool):
        try:
            return int(declared) == verified
        except (TypeError, ValueError):
            return False
    return str(declared) == str(verified)


def differences(declared: dict, verified: dict, names: dict[str, str]) -> list[dict]:
    """Declared against verified, fact by fact. `names` maps person uuid → display name.

    Income is special: departments prove only part of it, so it differs only when they prove
    more than was declared (under-reporting); a declared income above the documented one is
    the unrecorded part (farming, odd jobs) and is not a difference."""
    rows: list[dict] = []

    def compare(scope: str, person: str, who: str, declared_facts: dict, facts: dict) -> None:
        for name, prov in facts.items():
            if name not in declared_facts or declared_facts[name] is None:
                continue
            before, after = declared_facts[name], prov["value"]
            if name == "income_month_fen":
                if _int(before) >= _int(after):
                    continue
            elif _same(before, after):
                continue
            fact = FACTS.get(name)
            rows.append(
                {
                    "scope": scope,
                    "person": person,
                    "who": who,
                    "fact": name,
                    "label": fact.label if fact else name,
                    "declared": before,
                    "verified": after,
                    "sources": prov.get("source_names", []),
                    "as_of": prov.get("as_of"),
                }
            )

    compare("household", "", "家庭", declared.get("household") or {}, verified.get("household") or {})
    for person, facts in (verified.get("members") or {}).items():
        member_declared = (declared.get("members") or {}).get(person) or {}
        compare("member", person, names.get(person, ""), member_declared, facts)
    return rows


def merged(declared: dict, verified: dict) -> tuple[dict, dict[str, dict]]:
    """Declared facts with every verified fact put in their place (the engine's input).

    A member's verified income is the larger of declared and documented: the documented part
    is proven, the rest (farming, odd jobs) can only come from the declaration or a visit."""
    household = dict(declared.get("household") or {})
    for name, prov in (verified.get("household") or {}).items():
        household[name] = prov["value"]
    members: dict[str, dict] = {}
    declared_members = declared.get("members") or {}
    for person in set(declared_members) | set(verified.get("members") or {}):
        facts = dict(declared_members.get(person) or {})
        for name, prov in ((verified.get("members") or {}).get(person) or {}).items():
            if name == "income_month_fen" and facts.get(name) is not None:
                facts[name] = max(_int(facts[name]), _int(prov["value"]))
            else:
                facts[name] = prov["value"]
        members[person] = facts
    return household, members
