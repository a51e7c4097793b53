"""The shapes other parts of the platform rely on: JSON for ejia_eval and the bulk table."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from ejia.rules import Engine, Outcome
from ejia.rules.samples import CORE_PROGRAMMES, binzhou_standards

from .helpers import ON, rural
from .population import Record, load_duckdb


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
    ]
    con = duckdb.connect()
    load_duckdb(con, records, {("371602", False): binzhou_standards(urban=False)})
    table = Engine(CORE_PROGRAMMES).evaluate_bulk(con, on=ON)
    assert table.num_rows == 2
    assert table.column_names[0] == "household_id"
    assert table.schema.field("dibao__outcome").type == pa.string()
    assert table.schema.field("dibao__amount_fen").type == pa.int64()
    assert len(table.column_names) == 1 + 2 * len(CORE_PROGRAMMES)
