"""The self-check (自助评估): its questions, which of them matter, and how the answers
become the household facts and members the rule engine evaluates.

At most 12 questions, asked one per page. A question that no longer matters (school
without children, details of illness when nobody is ill) is skipped and its old answer, if
any, is ignored. "不清楚" keeps a fact unknown: the engine then says "需要进一步核实"
instead of guessing.

The estimate assigns answers given as counts ("two people with a disability") to members
in a fixed order. It is an estimate; the application replaces it with verified data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy as _

from ejia.core.money import format_fen
from ejia.portal import forms as f
from ejia.portal import selectors
from ejia.rules.facts import HOUSING_CONDITION

Answers = dict[str, dict[str, Any]]


def _always(answers: Answers) -> bool:
    return True


def _people(answers: Answers) -> dict[str, int]:
    return {k: int(v or 0) for k, v in answers.get("ages", {}).items()}


def _has_children(answers: Answers) -> bool:
    return _people(answers).get("children", 0) > 0


def _health_items(answers: Answers) -> list[str]:
    items = answers.get("health", {}).get("items") or []
    return [i for i in items if i != "none"]


def _has_health_issues(answers: Answers) -> bool:
    return bool(_health_items(answers))


def _has_dependants(answers: Answers) -> bool:
    """特困 support turns on 'no capable supporter' for the old, the young and the disabled."""
    people = _people(answers)
    if people.get("elderly80", 0) or people.get("elderly60", 0) or people.get("children", 0):
        return True
    return bool({"disabled", "care"} & set(_health_items(answers)))


@dataclass(frozen=True)
class Step:
    slug: str
    question: Any  # the page's h1
    short: Any  # the row label on the check-your-answers page
    form_class: type[f.StepForm]
    applies: Callable[[Answers], bool] = _always
    lead: Any = ""
    summary: Callable[[dict[str, Any], Answers], str] = field(default=lambda a, _all: "")


def _yuan(stored: dict[str, Any], key: str = "amount_fen") -> str:
    fen = stored.get(key)
    if fen is None:
        return str(_("不清楚"))
    return format_fen(fen, symbol=False).removesuffix(".00") + " 元"


def _choices_text(form_class, stored: dict[str, Any], key: str = "items") -> str:
    items = stored.get(key) or []
    labels = dict(form_class.choices) if hasattr(form_class, "choices") else {}
    labels.update({"none": _("以上都没有")})
    return "；".join(str(labels.get(i, i)) for i in items)


def _summary_place(stored, answers) -> str:
    place = selectors.place_get(stored.get("township"))
    return f"{place.county_name} {place.name}" if place else ""


def _summary_size(stored, answers) -> str:
    return f"{stored.get('size')} 人"


def _summary_ages(stored, answers) -> str:
    form = f.AgesForm()
    parts = [f"{form.fields[k].label} {v} 人" for k, v in stored.items() if v]
    return "；".join(parts) or str(_("没有老人、孩子和学生，18–59岁的都有工作"))


def _summary_school(stored, answers) -> str:
    form = f.SchoolForm()
    return "；".join(f"{form.fields[k].label} {v} 人" for k, v in stored.items() if v)


def _summary_housing(stored, answers) -> str:
    yn = dict(f.YES_NO_UNKNOWN)
    condition = dict([*HOUSING_CONDITION, (f.UNKNOWN, _("不清楚"))]).get(stored.get("housing_condition"), "")
    return (
        f"{condition}；{_('别的房子')}：{yn.get(stored.get('other_houses'), '')}；"
        f"{_('小汽车')}：{yn.get(stored.get('car'), '')}；{_('公司或个体户')}：{yn.get(stored.get('business'), '')}"
    )


def _summary_health_detail(stored, answers) -> str:
    labels = {name: label for group in f.HealthDetailForm.GROUPS.values() for name, label in group}
    return "；".join(f"{labels.get(k, k)} {v} 人" for k, v in stored.items() if v)


def _summary_supporter(stored, answers) -> str:
    return str(dict(f.YES_NO_UNKNOWN).get(stored.get("supporter"), ""))


def _summary_costs(stored, answers) -> str:
    parts = [f"{_('看病')} {_yuan(stored, 'medical_fen')}"]
    if "education_fen" in stored:
        parts.append(f"{_('上学')} {_yuan(stored, 'education_fen')}")
    events = dict([*f.CostsForm.EVENTS, ("none", _("都没有遇到意外、灾害或家人去世"))])
    parts.extend(str(events.get(e, e)) for e in stored.get("events", []))
    return "；".join(parts)


STEPS: list[Step] = [
    Step(
        "place",
        _("您家住在哪个乡镇（街道）？"),
        _("住在哪里"),
        f.PlaceForm,
        summary=_summary_place,
    ),
    Step(
        "size",
        _("家里有几口人一起生活？"),
        _("一起生活的人数"),
        f.SizeForm,
        summary=_summary_size,
    ),
    Step(
        "ages",
        _("家里这些人中，有几位是……"),
        _("老人、孩子和学生"),
        f.AgesForm,
        lead=_("没有的填 0。"),
        summary=_summary_ages,
    ),
    Step(
        "school",
        _("家里未满18岁的孩子在上什么学？"),
        _("孩子上学情况"),
        f.SchoolForm,
        applies=_has_children,
        lead=_("每个孩子只算一次。"),
        summary=_summary_school,
    ),
    Step(
        "situation",
        _("下面哪些情况符合您家？"),
        _("家庭情况"),
        f.SituationForm,
        summary=lambda stored, answers: _choices_text(f.SituationForm, stored),
    ),
    Step(
        "income",
        _("家里每月一共有多少收入？"),
        _("每月收入"),
        f.IncomeForm,
        summary=lambda stored, answers: _yuan(stored),
    ),
    Step(
        "assets",
        _("家里的存款、理财一共大约有多少？"),
        _("存款和理财"),
        f.AssetsForm,
        summary=lambda stored, answers: _yuan(stored),
    ),
    Step(
        "housing",
        _("家里的住房和车辆是什么情况？"),
        _("住房和车辆"),
        f.HousingForm,
        summary=_summary_housing,
    ),
    Step(
        "health",
        _("家里有没有人残疾、生病或不能自理？"),
        _("残疾、疾病和自理"),
        f.HealthGateForm,
        summary=lambda stored, answers: _choices_text(f.HealthGateForm, stored),
    ),
    Step(
        "health_detail",
        _("这些情况各有几个人？"),
        _("残疾、疾病的人数"),
        f.HealthDetailForm,
        applies=_has_health_issues,
        summary=_summary_health_detail,
    ),
    Step(
        "supporter",
        _("家里的老人、孩子或残疾人，有没有能供养他们的亲人？"),
        _("有没有供养他们的亲人"),
        f.SupporterForm,
        applies=_has_dependants,
        summary=_summary_supporter,
    ),
    Step(
        "costs",
        _("最近一年，看病、上学自己花了多少钱？"),
        _("大额支出和意外"),
        f.CostsForm,
        lead=_("按最近12个月估算。"),
        summary=_summary_costs,
    ),
]
STEP_BY_SLUG = {step.slug: step for step in STEPS}
assert len(STEPS) <= 12, "the self-check promises at most 12 questions"


def applicable_steps(answers: Answers) -> list[Step]:
    return [step for step in STEPS if step.applies(answers)]


def next_step(answers: Answers, after: str | None) -> Step | None:
    """The next applicable question after `after` (None: the first)."""
    steps = applicable_steps(answers)
    slugs = [s.slug for s in steps]
    start = slugs.index(after) + 1 if after in slugs else 0
    if after is not None and after not in slugs:
        # `after` no longer applies: continue from its place in the full list.
        order = [s.slug for s in STEPS]
        position = order.index(after)
        steps = [s for s in steps if order.index(s.slug) > position]
        return steps[0] if steps else None
    return steps[start] if start < len(steps) else None


def previous_step(answers: Answers, before: str) -> Step | None:
    order = [s.slug for s in STEPS]
    position = order.index(before)
    earlier = [s for s in applicable_steps(answers) if order.index(s.slug) < position]
    return earlier[-1] if earlier else None


def first_unanswered(answers: Answers) -> Step | None:
    for step in applicable_steps(answers):
        if step.slug not in answers:
            return step
    return None


def is_complete(answers: Answers) -> bool:
    return first_unanswered(answers) is None


def relevant_answers(answers: Answers) -> Answers:
    """Only the answers of questions that still apply."""
    return {s.slug: answers[s.slug] for s in applicable_steps(answers) if s.slug in answers}


# ---- answers → facts -------------------------------------------------------------------

# An age that stands for each group or school stage (the estimate needs a birth date).
AGE_FOR = {
    "elderly80": 82,
    "elderly60": 68,
    "college": 19,
    "adult": 40,
    "not_yet": 2,
    "preschool": 4,
    "primary": 9,
    "junior": 13,
    "senior": 16,
    "vocational": 16,
    "out_of_school": 16,
}
STAGE_FOR = {
    "not_yet": "none",
    "preschool": "preschool",
    "primary": "primary",
    "junior": "junior",
    "senior": "senior",
    "vocational": "vocational",
    "out_of_school": "none",
    "college": "college",
}


def birth_date_for(age: int, on: dt.date) -> dt.date:
    """A birth date that makes the person `age` on `on` (half a year past the birthday)."""
    anchor = on - dt.timedelta(days=182)
    try:
        return anchor.replace(year=anchor.year - age)
    except ValueError:  # 29 February
        return anchor.replace(year=anchor.year - age, day=28)


def _tri(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


@dataclass
class Estimate:
    division_code: str
    household: dict[str, Any]
    members: list[dict[str, Any]]


def build_estimate(answers: Answers, on: dt.date) -> Estimate:
    """Turn the (complete) answers into the engine's household facts and members."""
    answers = relevant_answers(answers)
    place = selectors.place_get(answers.get("place", {}).get("township"))
    household: dict[str, Any] = {}
    division_code = ""
    if place:
        division_code = place.code
        household["region_code"] = place.county_code
        household["urban"] = place.urban

    size = int(answers.get("size", {}).get("size") or 1)
    people = {k: int(v or 0) for k, v in answers.get("ages", {}).items()}
    school = {k: int(v or 0) for k, v in answers.get("school", {}).items()}

    # Members in the order counts are handed out: working-age adults first (they carry the
    # income), then the old, students, children.
    members: list[dict[str, Any]] = []
    working = max(size - people.get("elderly80", 0) - people.get("elderly60", 0), 0)
    working -= people.get("children", 0) + people.get("college", 0)
    jobless = people.get("jobless", 0)
    for i in range(max(working, 0)):
        members.append({"_group": "adult", "employment": "unemployed" if i >= working - jobless else "employed"})
    for group in ("elderly80", "elderly60"):
        members.extend({"_group": group} for _ in range(people.get(group, 0)))
    members.extend({"_group": "college", "employment": "student"} for _ in range(people.get("college", 0)))
    for stage in ("not_yet", "preschool", "primary", "junior", "senior", "vocational", "out_of_school"):
        members.extend({"_group": stage} for _ in range(school.get(stage, 0)))
    if not members:
        members.append({"_group": "adult"})
    for member in members:
        group = member["_group"]
        member["birth_date"] = birth_date_for(AGE_FOR[group], on)
        # Someone answering at home about a living family is neither wandering nor dead;
        # only a student may be this year's university entrant.
        member["wandering"] = False
        member["deceased"] = False
        if group != "college":
            member["college_new_entrant"] = False
        if group in STAGE_FOR:
            member["school_stage"] = STAGE_FOR[group]
        elif "school" in answers or "ages" in answers:
            member["school_stage"] = "none"
        if group in ("elderly80", "elderly60") and "ages" in answers:
            member["employment"] = "retired"

    _apply_situation(answers, household, members)
    _apply_money(answers, household, members)
    _apply_housing(answers, household)
    _apply_health(answers, members)
    _apply_supporter(answers, members)
    _apply_costs(answers, household)

    for member in members:
        member.pop("_group", None)
    return Estimate(division_code=division_code, household=household, members=members)


def _apply_situation(answers: Answers, household: dict, members: list[dict]) -> None:
    if "situation" not in answers:
        return
    items = set(answers["situation"].get("items") or [])
    for key in ("on_dibao", "on_dibao_edge", "on_expense_hardship", "lifted_from_poverty", "relapse_monitoring"):
        household[key] = key in items
    household["on_tekun"] = "on_tekun" in items
    adults = [m for m in members if m["_group"] in ("adult", "elderly60", "elderly80")] or members
    for key in ("veteran", "party_member", "union_member"):
        for m in members:
            m[key] = False
        if key in items:
            adults[0][key] = True
    for m in members:
        m["single_parent_mother"] = False
    if "single_parent_mother" in items:
        adults[0]["single_parent_mother"] = True
        adults[0]["sex"] = "F"
    for m in members:
        child = m["_group"] in STAGE_FOR and m["_group"] != "college"
        m["orphan_care"] = "scattered" if child and "orphan" in items else "none"


def _apply_money(answers: Answers, household: dict, members: list[dict]) -> None:
    income = answers.get("income")
    if income is not None:
        fen = income.get("amount_fen")
        # The engine sums members' incomes; the total is put on the first member.
        for i, m in enumerate(members):
            m["income_month_fen"] = None if fen is None else (fen if i == 0 else 0)
        for m in members:
            if m["income_month_fen"] is None:
                del m["income_month_fen"]
    assets = answers.get("assets")
    if assets is not None and assets.get("amount_fen") is not None:
        household["financial_assets_fen"] = assets["amount_fen"]


def _apply_housing(answers: Answers, household: dict) -> None:
    housing = answers.get("housing")
    if not housing:
        return
    condition = housing.get("housing_condition")
    if condition and condition != f.UNKNOWN:
        household["housing_condition"] = condition
    other = _tri(housing.get("other_houses"))
    if condition and condition != f.UNKNOWN and other is not None:
        household["housing_units"] = (1 if condition in ("owned_ok", "dilapidated") else 0) + (1 if other else 0)
    car = _tri(housing.get("car"))
    if car is not None:
        household["vehicles"] = 1 if car else 0
    business = _tri(housing.get("business"))
    if business is not None:
        household["has_business"] = business


def _ranked(members: list[dict], order: tuple[str, ...]) -> list[dict]:
    """Members in the order a count is handed out (stable within a group)."""
    return sorted(members, key=lambda m: order.index(m["_group"]))


def _apply_health(answers: Answers, members: list[dict]) -> None:
    if "health" not in answers:
        return
    detail = answers.get("health_detail", {})
    for m in members:
        m["disability_grade"] = 0
        m["serious_illness"] = False
        m["chronic_illness"] = False
        m["self_care"] = "full"
        m["cancer_two"] = False
    adults_first = ("adult", "elderly60", "elderly80", "college", *STAGE_FOR)
    elderly_first = ("elderly80", "elderly60", "adult", "college", *STAGE_FOR)
    for grade in (1, 2, 3, 4):
        n = int(detail.get(f"grade{grade}", 0) or 0)
        free = [m for m in members if m["disability_grade"] == 0]
        for m in _ranked(free, adults_first)[:n]:
            m["disability_grade"] = grade
    serious = int(detail.get("serious", 0) or 0)
    cancer = int(detail.get("cancer_two", 0) or 0)
    for i, m in enumerate(_ranked(members, adults_first)[:serious]):
        m["serious_illness"] = True
        if i < cancer:
            m["cancer_two"] = True
            m["sex"] = "F"
    for m in _ranked(members, elderly_first)[: int(detail.get("chronic", 0) or 0)]:
        m["chronic_illness"] = True
    ranked = _ranked(members, elderly_first)
    none_n = int(detail.get("care_none", 0) or 0)
    partial_n = int(detail.get("care_partial", 0) or 0)
    for m in ranked[:none_n]:
        m["self_care"] = "none"
    for m in ranked[none_n : none_n + partial_n]:
        m["self_care"] = "partial"


def _apply_supporter(answers: Answers, members: list[dict]) -> None:
    value = _tri(answers.get("supporter", {}).get("supporter"))
    if value is None:
        return
    for m in members:
        dependant = m["_group"] != "adult" and m["_group"] != "college"
        dependant = dependant or m.get("disability_grade", 0) > 0 or m.get("self_care") in ("none", "partial")
        if dependant:
            m["has_capable_supporter"] = value


def _apply_costs(answers: Answers, household: dict) -> None:
    costs = answers.get("costs")
    if not costs:
        return
    if costs.get("medical_fen") is not None:
        household["medical_oop_year_fen"] = costs["medical_fen"]
    if "education_fen" in costs:
        if costs["education_fen"] is not None:
            household["education_oop_year_fen"] = costs["education_fen"]
    else:
        household["education_oop_year_fen"] = 0  # nobody at school
    events = set(costs.get("events") or [])
    household["sudden_hardship"] = "sudden_hardship" in events
    household["death_in_household_year"] = "death_in_household_year" in events
    if "disaster" not in events:
        # How much a disaster destroyed is assessed on site; only "none" is known here.
        household["disaster_loss_fen"] = 0
        household["house_damaged_by_disaster"] = False
    if "death_in_household_year" not in events:
        household["death_in_disaster"] = False
