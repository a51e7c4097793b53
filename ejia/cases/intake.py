"""The window/station intake form: pre-fill from the registry or the population base, and the
declared-fact fields (typed by the fact registry) that the household step shows and parses."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from ejia.accounts.models import Division, Role
from ejia.accounts.scope import can_see_division, divisions_in_scope, in_city_of
from ejia.cases.drafts import new_member_key
from ejia.cases.models import Channel
from ejia.cases.services import CaseError
from ejia.core import crypto, idnumber
from ejia.core.money import InvalidAmount, format_fen_plain, yuan_to_fen
from ejia.registry.models import ID_PURPOSE, Relation
from ejia.registry.population import population_lookup
from ejia.registry.selectors import current_membership, person_by_id_number
from ejia.rules.facts import FACTS, Fact

MEMBER_FIELDS = (
    "income_month_fen",
    "employment",
    "disability_grade",
    "disability_kind",
    "serious_illness",
    "chronic_illness",
    "self_care",
    "school_stage",
    "has_capable_supporter",
)
HOUSEHOLD_FIELDS = (
    "financial_assets_fen",
    "vehicles",
    "housing_units",
    "has_business",
    "housing_condition",
    "medical_oop_year_fen",
    "education_oop_year_fen",
    "sudden_hardship",
    "disaster_loss_fen",
    "house_damaged_by_disaster",
)
DISABILITY_GRADES = (("0", "无残疾证"), ("1", "一级"), ("2", "二级"), ("3", "三级"), ("4", "四级"))
TRI = (("true", "是"), ("false", "否"))


def channel_for(user) -> str:
    if user.has_role(Role.WINDOW_CLERK):
        return Channel.WINDOW
    if user.has_role(Role.GRID_WORKER):
        return Channel.GRID_PROXY
    if user.has_role(Role.VILLAGE_CLERK):
        return Channel.STATION
    return Channel.WINDOW


def villages_for(user, township_code: str = "") -> list[Division]:
    """The villages the household step offers: the own area's, then — 全市通办 — those of one
    other township of the city the clerk asked for (the whole city would be thousands)."""
    own = list(divisions_in_scope(user).filter(level=Division.Level.VILLAGE).select_related("parent").order_by("code"))
    unit = getattr(user, "unit", None)
    if not township_code or unit is None or not township_code.startswith(unit.division.code[:4]):
        return own
    seen = {v.pk for v in own}
    other = Division.objects.filter(level=Division.Level.VILLAGE, parent__code=township_code).select_related("parent")
    return own + [v for v in other.order_by("code") if v.pk not in seen]


def townships_of_city(user):
    unit = getattr(user, "unit", None)
    if unit is None:
        return Division.objects.none()
    return Division.objects.filter(level=Division.Level.TOWNSHIP, code__startswith=unit.division.code[:4]).order_by(
        "code"
    )


def village_in_city(user, code: str) -> Division | None:
    village = Division.objects.filter(code=code, level=Division.Level.VILLAGE).first()
    return village if village is not None and in_city_of(user, village) else None


def _home_township(division: Division) -> str:
    return division.parent.name if division.level == Division.Level.VILLAGE and division.parent else division.name


def _member(number: str, name: str, relation: str, source: str, **extra) -> dict:
    return {
        "key": new_member_key(),
        "id_number": number,
        "name": name,
        "relation": Relation.normalise(relation) if relation else Relation.OTHER_RELATIVE,
        "phone": "",
        "source": source,
        "facts": {},
        **extra,
    }


def intake_prefill(
    *,
    user,
    id_number: str,
    name: str = "",
    address: str = "",
    card_read: bool = False,
    authorised_here: bool = False,
) -> dict:
    """The draft for a new application by this ID number, pre-filled from what we know.

    Registry first (the household as registered, with its members), then the population
    base (the person and those registered under the same 户号), else the number alone.

    全市通办: a resident of another township of the city is accepted too, and the case goes to
    the home township. The clerk there sees only what the applicant brings and declares —
    unless the ID card was read here or the applicant signed the authorisation here, nothing
    is pre-filled from the registry or the population base ("blind").
    """
    parsed = idnumber.parse(id_number)
    data: dict = {
        "channel": channel_for(user),
        "household_id": None,
        "division_code": "",
        "address": address.strip(),
        "hukou_number": "",
        "phone": "",
        "bank_name": "",
        "account_number": "",
        "household_facts": {},
        "needs": [],
        "needs_note": "",
        "programmes": [],
        "auth": {},
        "source": "manual",
    }
    person = person_by_id_number(parsed.number)
    membership = current_membership(person) if person else None
    may_prefill = card_read or authorised_here
    if membership is not None:
        household = membership.household
        if not in_city_of(user, household.division):
            # Say that the family is registered elsewhere, never where.
            raise CaseError("该申请人的家庭不在本市登记。请引导申请人到户籍所在地的窗口办理。")
        if not can_see_division(user, household.division):
            data["home_township"] = _home_township(household.division)
            if not may_prefill:
                return _blind(data, parsed.number, name, household=household, relation=membership.relation)
        data.update(
            household_id=str(household.public_id),
            division_code=household.division.code,
            address=household.address,
            hukou_number=household.hukou_number,
            bank_name=household.bank_name,
            household_facts=dict(household.facts or {}),
            source="registry",
        )
        members = []
        for m in household.current_memberships().order_by("relation", "person__birth_date"):
            number = crypto.decrypt(m.person.id_number_ciphertext, purpose=ID_PURPOSE)
            members.append(
                _member(number, m.person.name, m.relation, "registry", facts=dict(m.facts or {}), phone=m.person.phone)
            )
        data["members"] = members
        applicant = next(m for m in members if m["id_number"] == parsed.number)
        data["applicant"] = applicant["key"]
        data["phone"] = applicant["phone"]
        return data
    found, others = population_lookup(parsed.number)
    if found is not None:
        village = Division.objects.filter(code=found.division_code, level=Division.Level.VILLAGE).first()
        elsewhere = village is not None and in_city_of(user, village) and not can_see_division(user, village)
        if elsewhere:
            data["home_township"] = _home_township(village)
            if not may_prefill:
                return _blind(data, parsed.number, name, village=village)
        data.update(
            address=data["address"] or found.address,
            hukou_number=found.hukou_number,
            division_code=village.code if village and in_city_of(user, village) else "",
            source="population",
        )
        applicant = _member(parsed.number, name.strip() or found.name, found.relation or "02", "population")
        data["members"] = [applicant] + [_member(o.id_number, o.name, o.relation, "population") for o in others]
        data["applicant"] = applicant["key"]
    else:
        applicant = _member(parsed.number, name.strip(), Relation.HEAD, "manual")
        data["members"] = [applicant]
        data["applicant"] = applicant["key"]
    if person is not None:
        data["members"][0]["name"] = data["members"][0]["name"] or person.name
        data["members"][0]["phone"] = data["phone"] = person.phone
    if not data["division_code"]:
        own = divisions_in_scope(user).filter(level=Division.Level.VILLAGE)
        if own.count() == 1:
            data["division_code"] = own.first().code
    return data


def _blind(data: dict, number: str, name: str, *, household=None, village=None, relation: str = "") -> dict:
    """Only what the applicant brings: the number, the name they give; the home village is
    kept (the case is routed there) but no member, address or fact of the registry."""
    applicant = _member(number, name.strip(), relation or Relation.HEAD, "manual")
    data.update(
        household_id=str(household.public_id) if household else None,
        division_code=(household.division if household else village).code,
        members=[applicant],
        applicant=applicant["key"],
        blind=True,
    )
    return data


def add_member(data: dict, *, id_number: str, name: str, relation: str) -> dict:
    """Add a member to the draft; refuse a number already listed or living in another household."""
    parsed = idnumber.parse(id_number)
    if any(m["id_number"] == parsed.number for m in data.get("members", [])):
        raise CaseError(f"身份证号码 {parsed.masked} 已在家庭成员中。")
    person = person_by_id_number(parsed.number)
    membership = current_membership(person) if person else None
    if membership is not None and str(membership.household.public_id) != (data.get("household_id") or ""):
        raise CaseError(
            f"{person.name}（{person.masked_id}）已是{membership.household.division.full_name}另一户家庭的成员，"
            "一人同一时间只能属于一个家庭。请先在原家庭办理迁出，或核实身份证号码。"
        )
    if not name.strip():
        found, _ = population_lookup(parsed.number)
        name = (person.name if person else "") or (found.name if found else "")
    if not name.strip():
        raise CaseError("请填写新成员的姓名。")
    member = _member(parsed.number, name.strip(), relation or Relation.OTHER_RELATIVE, "manual")
    data.setdefault("members", []).append(member)
    return member


# ---- declared facts: rendering and parsing by fact type


@dataclass
class FieldView:
    name: str  # input name
    fact: Fact
    value: str  # as shown in the input
    error: str = ""

    @property
    def label(self) -> str:
        return self.fact.label

    @property
    def unit(self) -> str:
        return self.fact.unit

    @property
    def widget(self) -> str:
        if self.fact.name == "disability_grade":
            return "select"
        return {"money": "money", "int": "number", "bool": "select", "enum": "select"}.get(self.fact.type, "text")

    @property
    def choices(self) -> tuple[tuple[str, str], ...]:
        if self.fact.name == "disability_grade":
            return DISABILITY_GRADES
        if self.fact.type == "bool":
            return TRI
        return self.fact.choices


def show_value(fact: Fact, value) -> str:
    if value is None:
        return ""
    if fact.type == "money":
        return format_fen_plain(value)
    if fact.type == "bool":
        return "true" if value else "false"
    return str(value)


def parse_value(fact: Fact, raw: str):
    """The typed value of one input; '' means unknown (None), which the engine reports as such."""
    raw = (raw or "").strip()
    if raw == "":
        return None
    if fact.type == "money":
        try:
            fen = yuan_to_fen(raw)
        except InvalidAmount as exc:
            raise ValueError(str(exc)) from None
        if fen < 0:
            raise ValueError("金额不能为负数。")
        return fen
    if fact.type == "int":
        if not raw.isdigit():
            raise ValueError("请填写0或正整数。")
        return int(raw)
    if fact.type == "bool":
        if raw not in ("true", "false"):
            raise ValueError("请选择是或否。")
        return raw == "true"
    if fact.type == "enum":
        if raw not in {code for code, _ in fact.choices}:
            raise ValueError("请从列表中选择。")
        return raw
    return raw


def field_views(prefix: str, names: tuple[str, ...], values: dict, posted=None, errors=None) -> list[FieldView]:
    views = []
    for name in names:
        input_name = f"{prefix}{name}"
        shown = posted.get(input_name, "") if posted is not None else show_value(FACTS[name], values.get(name))
        views.append(FieldView(input_name, FACTS[name], shown, (errors or {}).get(input_name, "")))
    return views


def parse_facts(prefix: str, names: tuple[str, ...], posted, errors: dict) -> dict:
    facts = {}
    for name in names:
        try:
            value = parse_value(FACTS[name], posted.get(f"{prefix}{name}", ""))
        except ValueError as exc:
            errors[f"{prefix}{name}"] = str(exc)
            continue
        if value is not None:
            facts[name] = value
    return facts


def adults(data: dict) -> list[dict]:
    today = timezone.localdate()
    out = []
    for member in data.get("members", []):
        parsed = idnumber.parse(member["id_number"])
        if parsed.age_on(today) >= 18:
            out.append(member)
    return out


def member_summary(member: dict) -> dict:
    parsed = idnumber.parse(member["id_number"])
    today = timezone.localdate()
    return {
        "masked_id": parsed.masked,
        "sex": "男" if parsed.sex == "M" else "女",
        "age": parsed.age_on(today),
        "birth_date": parsed.birth_date,
    }
