from __future__ import annotations

from django.core.management import call_command

from ejia.accounts.departments import DEPARTMENTS
from ejia.catalogue.models import Programme, ProgrammeVersion, Standard
from ejia.catalogue.seed import all_programme_specs, catalogue_seed, load_programmes
from ejia.catalogue.selectors import engine_for, published_specs
from ejia.catalogue.tests.conftest import ON
from ejia.rules import Engine

FIXED_CODES = {
    "dibao",
    "tekun",
    "dibao_edge",
    "expense_hardship",
    "disability_living_subsidy",
    "severe_disability_care_subsidy",
}


def test_the_seed_file_holds_69_programmes_of_the_17_departments_and_compiles():
    specs = all_programme_specs()
    assert len(specs) == 69
    assert {s.department for s in specs} == {code for code, *_ in DEPARTMENTS}
    assert {s.code for s in specs} >= FIXED_CODES
    engine = Engine(specs)
    assert len(engine.order) == 69


def test_every_seed_programme_speaks_plainly_to_citizens():
    specs = {s.code: s for s in all_programme_specs()}
    for row in load_programmes():
        assert row["summary"] and row["description"] and row["how_much"], row["code"]
        assert row["materials"] and row["legal_basis"] and row["contact_unit"], row["code"]
        assert row["category"] in Programme.Category.values, row["code"]
        assert row["benefit_form"] in Programme.BenefitForm.values, row["code"]
        assert specs[row["code"]].criteria, row["code"]
        if row["benefit_form"] == "monthly_cash":
            assert row.get("amount_period") == "month", row["code"]


def test_seeding_loads_all_69_published_from_july_2023_and_is_idempotent(catalogue):
    assert catalogue == {"programmes": 69, "versions": 69, "standards": 25, "combinations": 21}
    assert Programme.objects.count() == 69
    assert ProgrammeVersion.objects.filter(status="published", number=1).count() == 69
    assert all(p.search_text for p in Programme.objects.all())
    assert len(published_specs(ON)) == 69
    assert len(engine_for(ON).order) == 69
    assert catalogue_seed() == {"programmes": 0, "versions": 0, "standards": 0, "combinations": 0}
    assert Standard.objects.count() == 25


def test_seeding_is_a_bulk_load_not_a_query_per_row(org, django_assert_max_num_queries):
    # Wall-clock limits flake on a busy CI machine; a fixed query budget is what keeps the
    # per-test seed fast: 69 programmes, 69 versions and 25 standards go in a handful of
    # inserts (most of the budget is departments_ensure, 17 upserts).
    with django_assert_max_num_queries(100):
        catalogue_seed()


def test_the_seed_command_prints_counts(org, capsys):
    call_command("ejia_catalogue_seed")
    call_command("ejia_catalogue_seed")
    out = capsys.readouterr().out
    assert "+69 programmes" in out
    assert "+0 programmes" in out


def test_nothing_is_in_force_before_the_seed_date(catalogue):
    import datetime as dt

    assert published_specs(dt.date(2023, 6, 30)) == []
