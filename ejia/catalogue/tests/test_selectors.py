"""The public catalogue's reads: search (words and pinyin), filters; and the bulk run."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from ejia.catalogue.selectors import (
    bulk_evaluate,
    engine_for,
    evaluate_household,
    programme_get,
    programme_list,
    target_groups,
)
from ejia.catalogue.tests.conftest import ON


def codes(programmes) -> list[str]:
    return [p.code for p in programmes]


def test_the_list_is_in_catalogue_order(catalogue):
    programmes = programme_list()
    assert len(programmes) == 69
    assert codes(programmes)[:3] == ["dibao", "tekun", "linshi"]


def test_search_by_chinese_words_pinyin_and_initials(catalogue):
    assert "dibao" in codes(programme_list(q="低保"))
    assert "dibao" in codes(programme_list(q="dibao"))
    assert "dibao" in codes(programme_list(q="DB"))
    assert codes(programme_list(q="两癌")) == ["two_cancers_aid"]
    assert "edu_student_loan" in codes(programme_list(q="助学贷款"))


def test_search_looks_into_conditions_the_system_cannot_check(catalogue):
    assert "two_cancers_aid" in codes(programme_list(q="二级以上医院"))
    assert "family_planning_special_support" in codes(programme_list(q="女方年满49周岁"))


def test_filters_by_department_category_and_target_group(catalogue):
    assert len(programme_list(department="mz")) == 11
    assert codes(programme_list(department="zgh", category="education")) == ["golden_autumn_aid"]
    veterans = programme_list(group="退役军人")
    assert veterans and all("退役军人" in p.target_groups for p in veterans)
    assert "残疾人" in target_groups()


def test_programme_get_finds_by_code(catalogue):
    assert programme_get("tekun").department.code == "mz"
    assert programme_get("nope") is None


def test_the_engine_is_compiled_once_per_date_and_catalogue_state(catalogue):
    assert engine_for(ON) is engine_for(ON)


@pytest.mark.slow
def test_bulk_evaluation_agrees_with_the_explained_one(catalogue):
    households = [
        {"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False},
        {"financial_assets_fen": 0, "vehicles": 1, "housing_units": 1, "has_business": False},
    ]
    places = [("371602001001", "371602", True), ("371602105201", "371602", False)]
    people = [
        [{"birth_date": dt.date(1950, 3, 1), "income_month_fen": 30000, "has_capable_supporter": False}],
        [{"birth_date": dt.date(1980, 1, 1), "income_month_fen": 50000}, {"birth_date": dt.date(2012, 1, 1)}],
    ]
    con = duckdb.connect()
    con.register(
        "households",
        pa.Table.from_pylist(
            [
                {"household_id": i, "region_code": county, "urban": urban, **facts}
                for i, (facts, (_, county, urban)) in enumerate(zip(households, places, strict=True))
            ]
        ),
    )
    con.register(
        "members",
        pa.Table.from_pylist(
            [
                {
                    "household_id": i,
                    "member_index": j,
                    "birth_date": m["birth_date"],
                    "income_month_fen": m.get("income_month_fen"),
                    "has_capable_supporter": m.get("has_capable_supporter"),
                }
                for i, members in enumerate(people)
                for j, m in enumerate(members)
            ]
        ),
    )
    table = bulk_evaluate(con, on=ON).sort_by("household_id").to_pylist()
    assert len(table) == 2
    for row, facts, (village, _, _), members in zip(table, households, places, people, strict=True):
        explained = evaluate_household(division_code=village, household=facts, members=members, on=ON)
        for code in ("dibao", "tekun", "dibao_edge", "expense_hardship", "medical_aid", "elderly_allowance"):
            assert row[f"{code}__outcome"] == str(explained[code].outcome), (village, code)
            assert row[f"{code}__amount_fen"] == explained[code].amount_fen, (village, code)


def test_the_unfiltered_list_is_read_once_per_catalogue_state(catalogue, django_assert_num_queries):
    from ejia.catalogue.models import Programme
    from ejia.catalogue.services import programme_update

    programme_list()
    with django_assert_num_queries(2):  # the catalogue's stamp only, not its 69 rows
        again = programme_list()
    assert codes(again)[:3] == ["dibao", "tekun", "linshi"]
    # A change made anywhere (here: no cache cleared, the test's transaction never commits)
    # changes the stamp, and the next call reads the rows again.
    programme_update(actor=None, programme=Programme.objects.get(code="dibao"), summary="改过的简介")
    with django_assert_num_queries(3):
        changed = programme_list()
    assert next(p for p in changed if p.code == "dibao").summary == "改过的简介"
    again.clear()  # a caller's list is its own
    assert len(programme_list()) == 69
