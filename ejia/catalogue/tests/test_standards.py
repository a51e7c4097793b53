"""Which standard a household gets: the most specific division, its urban/rural side, the date."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from ejia.accounts.models import Division
from ejia.catalogue.models import Standard
from ejia.catalogue.selectors import evaluate_household, standards_for, standards_table_rows
from ejia.catalogue.services import standard_set
from ejia.catalogue.tests.conftest import ON


def county(code: str) -> Division:
    return Division.objects.get(code=code)


def test_urban_and_rural_households_get_their_own_dibao_standard(catalogue):
    assert standards_for(county("371602"), True, ON)["dibao"] == 100100
    assert standards_for(county("371602"), False, ON)["dibao"] == 78900
    # A standard set for both applies to either.
    assert standards_for(county("371602"), False, ON)["tekun_care_none"] == 62600


def test_a_village_inherits_from_its_county_and_city(catalogue):
    village = Division.objects.filter(level="village", path__startswith=county("371621").path).first()
    assert standards_for(village, village.urban, ON)["tekun_basic"] == 103500


def test_a_county_standard_overrides_the_city_one_for_that_county_only(catalogue, editor):
    standard_set(
        actor=editor,
        kind="dibao",
        division=county("371621"),
        urban=False,
        amount_fen=80000,
        effective_from=dt.date(2024, 1, 1),
    )
    assert standards_for(county("371621"), False, ON)["dibao"] == 80000
    assert standards_for(county("371621"), False, dt.date(2023, 12, 31))["dibao"] == 78900
    assert standards_for(county("371621"), True, ON)["dibao"] == 100100
    assert standards_for(county("371602"), False, ON)["dibao"] == 78900


def test_a_county_standard_for_both_sides_beats_the_citys_split_one(catalogue, editor):
    standard_set(actor=editor, kind="dibao", division=county("371602"), urban=None, amount_fen=95000, effective_from=ON)
    assert standards_for(county("371602"), True, ON)["dibao"] == 95000
    assert standards_for(county("371602"), False, ON)["dibao"] == 95000


def test_a_new_standard_closes_the_one_it_replaces(catalogue, editor):
    city = county("371600")
    standard_set(
        actor=editor, kind="dibao", division=city, urban=True, amount_fen=105000, effective_from=dt.date(2024, 7, 1)
    )
    old = Standard.objects.get(kind="dibao", division=city, urban=True, effective_from=dt.date(2023, 7, 1))
    assert old.effective_to == dt.date(2024, 6, 30)
    assert standards_for(city, True, dt.date(2024, 6, 30))["dibao"] == 100100
    assert standards_for(city, True, dt.date(2024, 7, 1))["dibao"] == 105000
    # Nothing is in force before the first standard.
    assert "dibao" not in standards_for(city, True, dt.date(2023, 6, 30))


def test_correcting_a_standard_on_its_own_start_date_updates_it(catalogue, editor):
    city = county("371600")
    standard_set(
        actor=editor, kind="dibao", division=city, urban=False, amount_fen=79000, effective_from=dt.date(2023, 7, 1)
    )
    assert Standard.objects.filter(kind="dibao", division=city, urban=False).count() == 1
    assert standards_for(city, False, ON)["dibao"] == 79000


def test_standards_are_set_for_known_kinds_by_city_or_county_only(catalogue, editor):
    with pytest.raises(ValidationError, match="未知的救助标准种类"):
        standard_set(
            actor=editor, kind="dibaoo", division=county("371602"), urban=None, amount_fen=1, effective_from=ON
        )
    township = Division.objects.get(code="371602001")
    with pytest.raises(ValidationError, match="只能由市或县"):
        standard_set(actor=editor, kind="dibao", division=township, urban=None, amount_fen=1, effective_from=ON)
    with pytest.raises(ValidationError):
        standard_set(
            actor=editor, kind="dibao", division=county("371602"), urban=None, amount_fen=-1, effective_from=ON
        )


def test_the_household_standard_follows_its_village(catalogue, editor):
    standard_set(
        actor=editor, kind="dibao", division=county("371602"), urban=True, amount_fen=120000, effective_from=ON
    )
    members = [{"birth_date": "1980-01-01", "income_month_fen": 110000}]
    household = {"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False}
    urban = evaluate_household(division_code="371602001001", household=household, members=members, on=ON)
    rural = evaluate_household(division_code="371602105201", household=household, members=members, on=ON)
    assert urban["dibao"].outcome == "eligible" and urban["dibao"].amount_fen == 10000
    assert rural["dibao"].outcome == "not_eligible"


def test_a_bare_county_code_is_rural_unless_the_household_says_urban(catalogue):
    members = [{"birth_date": "1980-01-01", "income_month_fen": 90000}]
    household = {"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False}
    rural = evaluate_household(division_code="371602", household=household, members=members, on=ON)
    urban = evaluate_household(division_code="371602", household={**household, "urban": True}, members=members, on=ON)
    assert rural["dibao"].outcome == "not_eligible"
    assert urban["dibao"].outcome == "eligible"


def test_the_bulk_standards_table_has_a_row_per_county_side_and_kind(catalogue):
    rows = standards_table_rows(ON)
    counties = Division.objects.filter(level="county").count()
    kinds = Standard.objects.values("kind").distinct().count()
    assert len(rows) == counties * 2 * kinds
    dibao = {(r["region_code"], r["urban"]): r["amount_fen"] for r in rows if r["kind"] == "dibao"}
    assert dibao[("371602", True)] == 100100 and dibao[("371602", False)] == 78900
