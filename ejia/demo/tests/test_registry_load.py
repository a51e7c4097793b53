import datetime as dt

import polars as pl
import pytest

from ejia.core import idnumber
from ejia.demo.registry_load import registry_load_city
from ejia.registry.models import BenefitRecord, Household, HouseholdStatus, Membership, Person
from ejia.registry.tests.factories import village

pytestmark = pytest.mark.django_db


def write_city(directory, code):
    ids = [idnumber.make("371602", dt.date(1950, 1, 1), 101), idnumber.make("371602", dt.date(1952, 2, 2), 102)]
    ids.append(idnumber.make("371602", dt.date(1990, 3, 3), 103))
    pl.DataFrame(
        {
            "person_id": [1, 2, 3],
            "id_number": ids,
            "name": ["甲", "乙", "丙"],
            "sex": ["M", "F", "M"],
            "birth_date": [dt.date(1950, 1, 1), dt.date(1952, 2, 2), dt.date(1990, 3, 3)],
            "phone": [None, None, "13900000000"],
            "ethnicity": ["汉族"] * 3,
        }
    ).write_parquet(directory / "persons.parquet")
    pl.DataFrame(
        {
            "household_id": [1, 2],
            "household_no": ["1602000000001", "1602000000002"],
            "village_code": [code, code],
            "urban": [True, True],
            "address": ["甲家", "丙家"],
            "bank_account": ["6230910012345678901", ""],
            "bank_name": ["滨州农商银行", ""],
            "financial_assets_fen": [10000, 900000],
            "vehicles": [0, 1],
            "housing_units": [1, 2],
            "on_dibao": [True, False],
            "on_tekun": [False, False],
        }
    ).write_parquet(directory / "households.parquet")
    pl.DataFrame(
        {
            "household_id": [1, 1, 2],
            "member_index": [0, 1, 0],
            "person_id": [1, 2, 3],
            "relation": ["02", "10", "02"],
            "birth_date": [dt.date(1950, 1, 1), dt.date(1952, 2, 2), dt.date(1990, 3, 3)],
            "income_month_fen": [20000, 0, 500000],
            "disability_grade": [2, 0, 0],
            "serious_illness": [True, False, False],
            "deceased": [False, False, False],
        }
    ).write_parquet(directory / "members.parquet")
    return ids


def test_the_city_loads_into_the_registry_once(org, tmp_path):
    ids = write_city(tmp_path, village().code)
    counts = registry_load_city(directory=tmp_path, today=dt.date(2026, 6, 15))
    assert (counts["persons"], counts["households"], counts["memberships"]) == (3, 2, 3)
    poor = Household.objects.get(hukou_number="1602000000001")
    assert poor.account_masked.endswith("8901") and poor.facts["financial_assets_fen"] == 10000
    assert HouseholdStatus.objects.filter(household=poor, kind="dibao").exists()
    assert BenefitRecord.objects.filter(household=poor, department__code="mz").count() >= 6
    assert BenefitRecord.objects.filter(household=poor, department__code="yb").exists()
    assert Membership.objects.get(person__name="乙").relation == "10"
    assert ids[0] not in str(list(Person.objects.values()))
    # The bank file needs the name on the card: the head holds the household's account.
    assert poor.account_holder.name == "甲" and counts["account_holders"] == 1
    assert Household.objects.get(hukou_number="1602000000002").account_holder is None  # no account
    again = registry_load_city(directory=tmp_path, today=dt.date(2026, 6, 15))
    assert (again["persons"], again["households"], again["memberships"], again["account_holders"]) == (0, 0, 0, 0)
