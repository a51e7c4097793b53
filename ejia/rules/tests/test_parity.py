"""The two back-ends, one meaning: `evaluate` and `evaluate_bulk` agree on every household."""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ejia.rules import Engine
from ejia.rules.samples import binzhou_standards
from ejia.rules.sql import COUNT_BITS, SqlCompiler

from .population import (
    H_COLUMNS,
    M_COLUMNS,
    ON,
    Record,
    as_input,
    load_duckdb,
    load_postgres,
    outcomes_by_household,
    rural_without_assets,
)
from .programmes import PARITY_PROGRAMMES

ENGINE = Engine(PARITY_PROGRAMMES)
CODES = [p.code for p in PARITY_PROGRAMMES]

partial = {k: v for k, v in binzhou_standards(urban=True).items() if not k.startswith("tekun_care")}
STANDARDS = {
    ("371602", True): binzhou_standards(urban=True),
    ("371602", False): binzhou_standards(urban=False),
    ("371621", True): partial,  # a county that has not set its care standards: unknown
}


def maybe(strategy, none_weight: int = 1):
    return st.one_of(*([st.none()] * none_weight), strategy, strategy, strategy)


def birth_dates():
    sixtieth = dt.date(ON.year - 60, ON.month, ON.day)
    edges = [
        sixtieth,
        sixtieth + dt.timedelta(days=1),
        sixtieth - dt.timedelta(days=1),
        dt.date(1956, 2, 29),
        dt.date(ON.year - 16, ON.month, ON.day),
        dt.date(ON.year - 18, ON.month, ON.day) + dt.timedelta(days=1),
        dt.date(ON.year - 70, ON.month, ON.day),
    ]
    return st.one_of(st.sampled_from(edges), st.dates(dt.date(1920, 1, 1), dt.date(2025, 12, 31)))


money = st.one_of(st.sampled_from([0, 78899, 78900, 78901, 100100, 132000, 50]), st.integers(0, 400_000))

members = st.fixed_dictionaries(
    {
        "birth_date": maybe(birth_dates()),
        "income_month_fen": maybe(money),
        "sex": maybe(st.sampled_from(["M", "F"])),
        "relation": maybe(st.sampled_from(["02", "10", "20", "50"])),
        "disability_grade": maybe(st.integers(0, 4)),
        "disability_kind": maybe(st.sampled_from(["physical", "intellectual", "mental", "visual"])),
        "school_stage": maybe(st.sampled_from(["none", "primary", "junior", "senior", "college", "preschool"])),
        "self_care": maybe(st.sampled_from(["full", "partial", "none"])),
        "has_capable_supporter": maybe(st.booleans()),
        "serious_illness": maybe(st.booleans()),
    }
)

households = st.builds(
    Record,
    st.fixed_dictionaries(
        {
            "region_code": st.sampled_from(["371602", "371621", None]),
            "urban": maybe(st.booleans()),
            "financial_assets_fen": maybe(
                st.one_of(
                    st.sampled_from([0, 24 * 78900, 24 * 78900 * 2, 36 * 100100 * 3 + 1]), st.integers(0, 20_000_000)
                )
            ),
            "vehicles": maybe(st.integers(0, 2)),
            "housing_units": maybe(st.integers(0, 2)),
            "has_business": maybe(st.booleans()),
            "housing_condition": maybe(st.sampled_from(["owned_ok", "renting", "public_rental", "none"])),
            "medical_oop_year_fen": maybe(st.integers(0, 5_000_000)),
            "education_oop_year_fen": maybe(st.integers(0, 2_000_000)),
        }
    ),
    st.lists(members, min_size=0, max_size=6),  # a registry household may have no member left
)

populations = st.lists(households, min_size=1, max_size=24)


def explained(records: list[Record]) -> dict[int, dict[str, tuple[str, int | None]]]:
    out = {}
    for i, record in enumerate(records):
        results = ENGINE.evaluate(as_input(record, STANDARDS), on=ON)
        out[i] = {code: (str(r.outcome), r.amount_fen) for code, r in results.items()}
    return out


def assert_same(records, bulk):
    expected = explained(records)
    for i, per_code in expected.items():
        for code in CODES:
            assert bulk[i][code] == per_code[code], (code, records[i])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(populations)
def test_explained_and_bulk_agree_on_duckdb(records):
    con = duckdb.connect()
    try:
        load_duckdb(con, records, STANDARDS)
        bulk = outcomes_by_household(ENGINE.evaluate_bulk(con, on=ON).to_pylist(), CODES)
    finally:
        con.close()
    assert_same(records, bulk)


def test_a_fact_column_missing_from_the_table_is_unknown_for_everyone():
    record = Record(
        rural_without_assets(),
        [{"birth_date": dt.date(1950, 1, 1), "income_month_fen": 1000, "has_capable_supporter": False}],
    )
    con = duckdb.connect()
    load_duckdb(con, [record], STANDARDS, m_columns=["birth_date", "has_capable_supporter"])
    bulk = outcomes_by_household(ENGINE.evaluate_bulk(con, on=ON).to_pylist(), CODES)
    record.members[0].pop("income_month_fen")
    assert_same([record], bulk)
    assert bulk[0]["dibao"] == ("possibly_eligible", None)


def test_id_number_column_gives_the_birth_date_in_sql_too():
    record = Record(
        {"region_code": "371602", "urban": True}, [{"id_number": "37160219661128002X", "disability_grade": 1}]
    )
    con = duckdb.connect()
    load_duckdb(con, [record], STANDARDS, m_columns=["id_number", "disability_grade"])
    sql = ENGINE.compile_sql(
        on=ON,
        household_columns=["household_id", "region_code", "urban"],
        member_columns=["household_id", "member_index", "id_number", "disability_grade"],
    )
    assert "id_number" in sql
    bulk = outcomes_by_household(con.sql(sql).to_arrow_table().to_pylist(), CODES)
    assert_same([record], bulk)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_each_dialect_parses_back(dialect):
    sql = ENGINE.compile_sql(on=ON, dialect=dialect)
    assert sqlglot.parse_one(sql, read=dialect) is not None
    assert sql.count(";") == 0


def test_compile_sql_is_one_statement_without_correlated_subqueries():
    tree = sqlglot.parse_one(ENGINE.compile_sql(on=ON), read="duckdb")
    assert not list(tree.find_all(sqlglot.exp.Subquery))


def test_member_programmes_with_the_same_member_criteria_share_one_count():
    # 重度残疾人护理补贴 and the two added for this count members with disability_grade in (1, 2)
    compiler = SqlCompiler(ENGINE, on=ON)
    counted = {code for _stage, code, _part in compiler._count_slot}
    assert "severe_disability_care_subsidy" in counted
    assert not counted & {"rural_severe_disability", "severe_disability_allowance"}


def test_packed_counts_use_a_64_bit_sum_on_duckdb_only():
    duck = ENGINE.compile_sql(on=ON)
    assert "SUM_NO_OVERFLOW(" in duck.upper()
    for dialect in ("postgres", "spark"):
        assert "SUM_NO_OVERFLOW" not in ENGINE.compile_sql(on=ON, dialect=dialect).upper()


def test_a_household_too_large_for_the_packed_counts_is_unknown_not_wrong():
    # 2^COUNT_BITS members, each eligible for 重度残疾人 (disability_grade 1): the count would
    # overflow its field, so what is read from the counts — the counted amounts and, with
    # amounts asked for, the outcome — is unknown rather than wrong; outcomes alone stay exact.
    def amounts(size: int, **options) -> dict:
        con = duckdb.connect()
        record = Record({"region_code": "371602", "urban": True}, [{"disability_grade": 1}] * size)
        load_duckdb(con, [record], STANDARDS, h_columns=["region_code", "urban"], m_columns=["disability_grade"])
        return ENGINE.evaluate_bulk(con, on=ON, **options).to_pylist()[0]

    def outcomes(size: int) -> dict:
        return amounts(size, amounts=())

    big, largest, small = amounts(2**COUNT_BITS), amounts(2**COUNT_BITS - 1), amounts(3)
    code = "severe_disability_allowance"  # yuan(30) a member
    assert largest[f"{code}__outcome"] == small[f"{code}__outcome"] == "eligible"
    assert small[f"{code}__amount_fen"] == 3 * 3000 and largest[f"{code}__amount_fen"] == (2**COUNT_BITS - 1) * 3000
    assert big[f"{code}__outcome"] == "possibly_eligible" and big[f"{code}__amount_fen"] is None
    assert outcomes(2**COUNT_BITS)[f"{code}__outcome"] == "eligible"


POSTGRES_URL = os.environ.get("DATABASE_URL", "")


@pytest.mark.skipif(not POSTGRES_URL.startswith("postgres"), reason="DATABASE_URL is not PostgreSQL")
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(populations)
def test_explained_and_bulk_agree_on_postgres(records):
    import psycopg
    from psycopg.rows import dict_row

    sql = ENGINE.compile_sql(on=ON, dialect="postgres")
    with psycopg.connect(POSTGRES_URL, autocommit=False) as conn, conn.cursor(row_factory=dict_row) as cur:
        load_postgres(cur, records, STANDARDS)
        cur.execute(sql)
        bulk = outcomes_by_household(cur.fetchall(), CODES)
        conn.rollback()
    assert_same(records, bulk)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(populations)
def test_evaluate_bulk_gives_what_the_statement_gives(records):
    # evaluate_bulk decodes the outcome codes and adds the all-NULL amount columns of programmes
    # without an amount formula itself; the plain statement (outcome strings) is the reference.
    con = duckdb.connect()
    load_duckdb(con, records, STANDARDS)
    columns = {"household_columns": ["household_id", *H_COLUMNS], "member_columns": ["household_id", *M_COLUMNS]}
    without = [spec.code for spec in PARITY_PROGRAMMES if spec.amount is None]
    assert without  # 低保边缘 and 刚性支出 have none
    for amounts in (None, (), ("dibao", *without), without):
        bulk = ENGINE.evaluate_bulk(con, on=ON, amounts=amounts)
        plain = con.sql(ENGINE.compile_sql(on=ON, amounts=amounts, **columns)).to_arrow_table()
        assert bulk.column_names == plain.column_names
        assert bulk.to_pylist() == plain.to_pylist()
        for code in without:
            if amounts is None or code in amounts:
                assert bulk.column(f"{code}__amount_fen").type == "int64"


def test_a_branch_nobody_is_on_does_not_make_the_amount_unknown():
    # 特困's amount picks a care standard by self_care; this county has not set the one for
    # full self-care. Members needing care get a known amount; one who cares for himself an
    # unknown one — in both back-ends.
    care_unset = {
        ("371602", False): {k: v for k, v in binzhou_standards(urban=False).items() if k != "tekun_care_full"}
    }
    elderly = {"birth_date": dt.date(1940, 3, 1), "income_month_fen": 0, "has_capable_supporter": False}
    records = [
        Record(rural_without_assets(), [{**elderly, "self_care": "none"}, {**elderly, "self_care": "partial"}]),
        Record(rural_without_assets(), [{**elderly, "self_care": "full"}]),
    ]
    con = duckdb.connect()
    load_duckdb(con, records, care_unset)
    bulk = outcomes_by_household(ENGINE.evaluate_bulk(con, on=ON).to_pylist(), CODES)
    for i, record in enumerate(records):
        explained = ENGINE.evaluate(as_input(record, care_unset), on=ON)["tekun"]
        assert bulk[i]["tekun"] == (str(explained.outcome), explained.amount_fen)
    assert bulk[0]["tekun"][0] == "eligible" and bulk[0]["tekun"][1] is not None
    assert bulk[1]["tekun"][1] is None
