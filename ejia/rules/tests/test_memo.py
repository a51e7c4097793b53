"""`Engine.evaluate(memo=…)`: a criterion's explanation and sentence are reused across
households only when everything they are written from is the same. Each kind of input that
reaches a text (a household fact, a member fact, an age through the evaluation date, a
standard, the number of members, another programme's verdict) changed on its own gives the
texts a fresh evaluation gives, with a memo warmed by the household before the change."""

from __future__ import annotations

import copy
import datetime as dt

from hypothesis import HealthCheck, given, settings

from ejia.rules import Engine, HouseholdInput
from ejia.rules.samples import binzhou_standards

from .population import as_input
from .programmes import PARITY_PROGRAMMES
from .test_parity import STANDARDS, populations

ENGINE = Engine(PARITY_PROGRAMMES)
ON = dt.date(2026, 11, 28)


def texts(results) -> list[tuple]:
    """Every criterion's text of every programme (and of each member of a member programme)."""
    out = []
    for code, result in sorted(results.items()):
        for c in result.criteria:
            out.append((code, None, c.label, c.result, c.explanation, c.sentence))
        for m in result.members:
            for c in m.criteria:
                out.append((code, m.index, c.label, c.result, c.explanation, c.sentence))
    return out


def base() -> HouseholdInput:
    return HouseholdInput(
        facts={
            "financial_assets_fen": 100_000,
            "vehicles": 0,
            "housing_units": 1,
            "has_business": False,
            "housing_condition": "owned_ok",
            "medical_oop_year_fen": 0,
            "education_oop_year_fen": 0,
        },
        members=[
            {"birth_date": dt.date(1946, 3, 1), "income_month_fen": 30_000, "sex": "F", "relation": "02"},
            {"birth_date": dt.date(1970, 6, 1), "income_month_fen": 0, "sex": "M", "relation": "10"},
        ],
        standards=binzhou_standards(urban=False),
    )


def changed(kind: str) -> tuple[HouseholdInput, dt.date]:
    h, on = copy.deepcopy(base()), ON
    if kind == "household fact":
        h.facts["financial_assets_fen"] = 9_000_000
    elif kind == "member fact":
        h.members[1]["income_month_fen"] = 150_000
    elif kind == "age (the date)":
        on = dt.date(2030, 3, 2)  # the members are older: the first one 84
    elif kind == "standard":
        h.standards = binzhou_standards(urban=True)
    elif kind == "number of members":
        h.members.append({"birth_date": dt.date(2010, 1, 1), "income_month_fen": 0, "relation": "20"})
    elif kind == "another programme's verdict":
        h.members[1]["disability_grade"] = 1
        h.members[1]["disability_kind"] = "physical"
    return h, on


KINDS = (
    "household fact",
    "member fact",
    "age (the date)",
    "standard",
    "number of members",
    "another programme's verdict",
)


def test_each_input_kind_changed_alone_gives_the_texts_of_a_fresh_evaluation():
    before = texts(ENGINE.evaluate(base(), on=ON))
    for kind in KINDS:
        memo: dict = {}
        assert texts(ENGINE.evaluate(base(), on=ON, memo=memo)) == before
        household, on = changed(kind)
        fresh = texts(ENGINE.evaluate(household, on=on))
        assert fresh != before, f"{kind}: the change must reach some text for the test to mean anything"
        assert texts(ENGINE.evaluate(household, on=on, memo=memo)) == fresh, kind


def test_the_memo_is_used_a_household_that_repeats_writes_nothing_new():
    memo: dict = {}
    texts(ENGINE.evaluate(base(), on=ON, memo=memo))  # the texts are written when read
    written = len(memo)
    assert written > 0
    again = base()
    again.members[0]["name_is_not_a_fact"] = "ignored"  # not an input of any rule
    assert texts(ENGINE.evaluate(again, on=ON, memo=memo)) == texts(ENGINE.evaluate(base(), on=ON))
    assert len(memo) == written


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(populations)
def test_a_memo_shared_by_many_random_households_changes_no_text(records):
    memo: dict = {}
    for record in records:
        household = as_input(record, STANDARDS)
        assert texts(ENGINE.evaluate(household, on=ON, memo=memo)) == texts(ENGINE.evaluate(household, on=ON))
