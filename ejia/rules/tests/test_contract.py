"""The shapes other parts of the platform rely on: JSON for ejia_eval and the bulk table."""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pytest

from ejia.rules import Engine, Outcome
from ejia.rules.samples import CORE_PROGRAMMES, binzhou_standards

from .helpers import ON, rural
from .population import Record, load_duckdb, rural_without_assets


def test_to_json_has_the_ejia_eval_fields():
    h = rural(
        {"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False},
        [{"birth_date": "1940-01-01", "income_month_fen": 0, "has_capable_supporter": False, "self_care": "none"}],
    )
    results = Engine(CORE_PROGRAMMES).evaluate(h, on=ON)
    dibao = results["dibao"].to_json()
    assert {"code", "result", "amount_fen", "criteria"} <= set(dibao)
    assert dibao["result"] == "eligible"
    assert dibao["amount_fen"] == 78900
    assert set(dibao["criteria"][0]) == {"label", "result", "values", "explanation"}
    assert "members" not in dibao
    tekun = results["tekun"].to_json()
    assert tekun["result"] == "eligible"
    assert tekun["members"][0]["index"] == 0
    assert set(tekun["members"][0]) == {"index", "result", "amount_fen", "criteria"}
    assert tekun["amount_fen"] == 103500 + 62600
    assert results["tekun"].outcome is Outcome.ELIGIBLE


def test_bulk_table_has_one_row_per_household_and_typed_columns():
    records = [
        Record({"region_code": "371602", "urban": False}, [{"income_month_fen": 0}]),
        Record({"region_code": "371602", "urban": True}, []),
        Record(
            rural_without_assets(),
            [{"birth_date": dt.date(1980, 1, 1), "income_month_fen": 0, "has_capable_supporter": True}],
        ),
    ]
    con = duckdb.connect()
    load_duckdb(con, records, {("371602", False): binzhou_standards(urban=False)})
    table = Engine(CORE_PROGRAMMES).evaluate_bulk(con, on=ON)
    assert table.num_rows == 3
    assert table.column_names[0] == "household_id"
    # Outcomes travel as small integers and arrive as a dictionary over the three strings.
    assert table.schema.field("dibao__outcome").type == pa.dictionary(pa.int8(), pa.string())
    assert table.schema.field("dibao__amount_fen").type == pa.int64()
    assert len(table.column_names) == 1 + 2 * len(CORE_PROGRAMMES)
    rows = sorted(table.to_pylist(), key=lambda r: r["household_id"])
    assert [r["dibao__outcome"] for r in rows] == ["possibly_eligible", "possibly_eligible", "eligible"]
    # A household without members has no member eligible for 特困, as the explained engine says.
    assert [r["tekun__outcome"] for r in rows] == ["possibly_eligible", "not_eligible", "not_eligible"]
    assert rows[2]["dibao__amount_fen"] == 78900
    # DuckDB reads the dictionary columns as strings (the what-if comparison does).
    con.register("outcomes", table)
    assert con.execute("SELECT count(*) FILTER (dibao__outcome = 'eligible') FROM outcomes").fetchone() == (1,)


def test_bulk_amounts_only_for_the_programmes_asked_for():
    records = [
        Record(
            rural_without_assets(),
            [{"birth_date": dt.date(1940, 1, 1), "income_month_fen": 0, "has_capable_supporter": False}],
        ),
    ]
    con = duckdb.connect()
    load_duckdb(con, records, {("371602", False): binzhou_standards(urban=False)})
    engine = Engine(CORE_PROGRAMMES)
    everything = engine.evaluate_bulk(con, on=ON)
    outcomes_only = engine.evaluate_bulk(con, on=ON, amounts=())
    assert outcomes_only.column_names == ["household_id", *(f"{p.code}__outcome" for p in CORE_PROGRAMMES)]
    assert outcomes_only.to_pylist() == everything.select(outcomes_only.column_names).to_pylist()
    tekun = engine.evaluate_bulk(con, on=ON, amounts=("tekun",))
    assert [c for c in tekun.column_names if c.endswith("__amount_fen")] == ["tekun__amount_fen"]
    assert tekun.column("tekun__amount_fen").to_pylist() == everything.column("tekun__amount_fen").to_pylist()
    assert tekun.column("tekun__outcome").to_pylist() == ["eligible"]
    with pytest.raises(ValueError, match="unknown programmes: nope"):
        engine.evaluate_bulk(con, on=ON, amounts=("nope",))
