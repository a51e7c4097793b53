"""Households for both back-ends: the same records as `HouseholdInput`s and as SQL tables."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ejia.rules import HouseholdInput
from ejia.rules.facts import HOUSEHOLD_FACTS, MEMBER_FACTS
from ejia.rules.sql import SQL_TYPES

H_COLUMNS = [n for n, f in HOUSEHOLD_FACTS.items() if not f.derived]
M_COLUMNS = [n for n, f in MEMBER_FACTS.items() if not f.derived]


def rural_without_assets() -> dict:
    """A rural 滨城区 household whose assets are all known and nil (the 低保 asset test passes)."""
    return {
        "region_code": "371602",
        "urban": False,
        "financial_assets_fen": 0,
        "vehicles": 0,
        "housing_units": 1,
        "has_business": False,
    }


@dataclass
class Record:
    facts: dict[str, Any]
    members: list[dict[str, Any]]


def standards_table(standards: dict[tuple[str, bool], dict[str, int]]) -> list[tuple[str, bool, str, int]]:
    return [
        (region, urban, kind, amount) for (region, urban), kinds in standards.items() for kind, amount in kinds.items()
    ]


def as_input(record: Record, standards: dict[tuple[str, bool], dict[str, int]]) -> HouseholdInput:
    key = (record.facts.get("region_code"), record.facts.get("urban"))
    return HouseholdInput(
        facts=dict(record.facts), members=[dict(m) for m in record.members], standards=dict(standards.get(key, {}))
    )


def _ddl(name: str, columns: list[tuple[str, str]], *, temp: bool = False) -> str:
    cols = ", ".join(f'"{c}" {t}' for c, t in columns)
    return f"CREATE {'TEMP ' if temp else ''}TABLE {name} ({cols})"


def _sql_type(name: str, *, postgres: bool) -> str:
    fact = HOUSEHOLD_FACTS.get(name) or MEMBER_FACTS.get(name)
    t = SQL_TYPES[fact.type] if fact else "TEXT"
    return "DOUBLE PRECISION" if postgres and t == "DOUBLE" else t


def rows(records: list[Record], h_columns=None, m_columns=None):
    h_columns = H_COLUMNS if h_columns is None else h_columns
    m_columns = M_COLUMNS if m_columns is None else m_columns
    households = [(i, *(r.facts.get(c) for c in h_columns)) for i, r in enumerate(records)]
    members = [(i, j, *(m.get(c) for c in m_columns)) for i, r in enumerate(records) for j, m in enumerate(r.members)]
    return households, members


def ddl(*, postgres: bool = False, temp: bool = False, h_columns=None, m_columns=None) -> list[str]:
    h_columns = H_COLUMNS if h_columns is None else h_columns
    m_columns = M_COLUMNS if m_columns is None else m_columns
    return [
        _ddl(
            "households",
            [("household_id", "BIGINT"), *((c, _sql_type(c, postgres=postgres)) for c in h_columns)],
            temp=temp,
        ),
        _ddl(
            "members",
            [
                ("household_id", "BIGINT"),
                ("member_index", "BIGINT"),
                *((c, _sql_type(c, postgres=postgres)) for c in m_columns),
            ],
            temp=temp,
        ),
        _ddl(
            "standards",
            [("region_code", "TEXT"), ("urban", "BOOLEAN"), ("kind", "TEXT"), ("amount_fen", "BIGINT")],
            temp=temp,
        ),
    ]


_ARROW = {"BIGINT": pa.int64(), "DOUBLE": pa.float64(), "BOOLEAN": pa.bool_(), "TEXT": pa.string(), "DATE": pa.date32()}


def _arrow(columns: list[tuple[str, str]], data: list[tuple]) -> pa.Table:
    schema = pa.schema([(name, _ARROW[t]) for name, t in columns])
    return pa.Table.from_pylist([dict(zip([c for c, _ in columns], row, strict=True)) for row in data], schema=schema)


def load_duckdb(con, records: list[Record], standards, *, h_columns=None, m_columns=None) -> None:
    """Arrow in, one CREATE TABLE AS each: much faster than row-by-row inserts."""
    h_columns = H_COLUMNS if h_columns is None else h_columns
    m_columns = M_COLUMNS if m_columns is None else m_columns
    households, members = rows(records, h_columns, m_columns)
    tables = {
        "households": _arrow(
            [("household_id", "BIGINT"), *((c, _sql_type(c, postgres=False)) for c in h_columns)], households
        ),
        "members": _arrow(
            [
                ("household_id", "BIGINT"),
                ("member_index", "BIGINT"),
                *((c, _sql_type(c, postgres=False)) for c in m_columns),
            ],
            members,
        ),
        "standards": _arrow(
            [("region_code", "TEXT"), ("urban", "BOOLEAN"), ("kind", "TEXT"), ("amount_fen", "BIGINT")],
            standards_table(standards),
        ),
    }
    for name, table in tables.items():
        con.register(f"{name}_src", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM {name}_src")
        con.unregister(f"{name}_src")


def load_postgres(cur, records: list[Record], standards) -> None:
    for table in ("households", "members", "standards"):
        cur.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
    for statement in ddl(postgres=True, temp=True):
        cur.execute(statement)
    households, members = rows(records)
    if households:
        cur.executemany(f"INSERT INTO households VALUES ({', '.join(['%s'] * len(households[0]))})", households)
    if members:
        cur.executemany(f"INSERT INTO members VALUES ({', '.join(['%s'] * len(members[0]))})", members)
    std = standards_table(standards)
    if std:
        cur.executemany("INSERT INTO standards VALUES (%s, %s, %s, %s)", std)


def outcomes_by_household(
    table_rows: list[dict[str, Any]], codes: list[str]
) -> dict[int, dict[str, tuple[str, int | None]]]:
    out = {}
    for row in table_rows:
        out[row["household_id"]] = {
            code: (
                row[f"{code}__outcome"],
                None if row[f"{code}__amount_fen"] is None else int(row[f"{code}__amount_fen"]),
            )
            for code in codes
        }
    return out


ON = dt.date(2026, 11, 28)
