"""The scan export computed set-based: the same Parquet files as `export.export_area`, without a
Python loop over households.

The registry rows of the area (households, current living members, statuses) and the records
of the snapshots `findings.derive` reads are pulled once (PostgreSQL: `COPY (SELECT …) TO
STDOUT`, only the record keys `derive` reads; SQLite: one cursor per table) into DuckDB, which
derives the verified facts, layers registry < statuses < verified as `build_engine_input` does,
coerces each fact as `ejia.rules.household.coerce` would and writes the files.

Parity with the per-household path is by construction, not by approximation: a value in its
canonical JSON form (an integer for an int fact, `true`/`false` for a bool, a listed code for
an enum, `YYYY-MM-DD` for a date) is read in SQL; any other value (a string in an int fact,
"1" for a bool, a float, a date in another ISO form) goes through the Python function the
per-household path applies (`coerce`, `findings._int`, `str`, `findings._recent`), called by
DuckDB for those values only. `tests/test_export_sql.py` holds the two paths to the same rows.

An integer fact outside 64 bits cannot be written to the Parquet column: both paths count the
household as skipped (the per-household path used to fail the whole export on it).
"""

# The SQL is composed from the fact catalogue, the models' table names and literals quoted by
# `_lit`; values from the database are bound parameters.
# ruff: noqa: S608

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import inspect
import json
import logging
import shutil
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.db import connection

from ejia.accounts.models import Division
from ejia.discovery import fact_store
from ejia.discovery.export import (
    H_COLUMNS,
    HOUSEHOLD_SCHEMA,
    INT64_MAX,
    INT64_MIN,
    M_COLUMNS,
    MEMBER_SCHEMA,
    STANDARD_SCHEMA,
    Export,
    Reader,
)
from ejia.registry.models import Household, HouseholdStatus, Membership, MemberStatus, Person
from ejia.rules.errors import RuleError
from ejia.rules.facts import FACTS, HOUSEHOLD_FACTS, MEMBER_FACTS, Fact
from ejia.rules.household import coerce
from ejia.verification import findings as fnd
from ejia.verification.engine_input import OWN_STATUSES, STATUS_FACTS, VERIFIED
from ejia.verification.models import SourceRecord, SourceSnapshot

logger = logging.getLogger(__name__)

# `_int` of an absurd value is clipped here: far outside 64 bits (so the household is still
# skipped), yet a sum of millions of them stays inside DuckDB's 128-bit integers.
_CLIP = 2**100
# Households fingerprinted per DuckDB pass (`_fingerprints`): bounds the members' texts held at once.
FINGERPRINT_CHUNK = 100_000
_DATE_RE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_SQL_TYPE = {"int": "BIGINT", "money": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "str": "VARCHAR"}
_SQL_TYPE |= {"enum": "VARCHAR", "date": "DATE"}


# ---------------------------------------------------------------- Python for the odd values


def _loads(text: str) -> Any:
    return json.loads(text)


def _py_coerce(name: str, text: str | None) -> str | None:
    """The JSON of `coerce(fact, value)`, None when the value cannot be read (or an integer
    does not fit the Parquet column)."""
    if text is None:
        return None
    fact = HOUSEHOLD_FACTS.get(name) or MEMBER_FACTS[name]
    value = _loads(text)
    if value is None:
        return None
    try:
        typed = coerce(fact, value)
    except RuleError:
        return None
    if isinstance(typed, bool):
        return "true" if typed else "false"
    if isinstance(typed, int):
        return str(typed) if INT64_MIN <= typed <= INT64_MAX else None
    if isinstance(typed, dt.date):
        return json.dumps(typed.isoformat())
    return json.dumps(typed, ensure_ascii=False)


def _py_int(text: str) -> str:
    value = fnd._int(_loads(text))
    return str(max(-_CLIP, min(_CLIP, value)))


def _py_str(text: str) -> str:
    return str(_loads(text))


def _udfs(con: duckdb.DuckDBPyConnection, on: dt.date) -> None:
    # NULL: the value cannot be read (the UDF's own answer, hence "special").
    con.create_function(
        "py_coerce", _py_coerce, ["VARCHAR", "VARCHAR"], "VARCHAR", null_handling="special", side_effects=False
    )
    con.create_function("py_int", _py_int, ["VARCHAR"], "VARCHAR", side_effects=False)
    con.create_function("py_str", _py_str, ["VARCHAR"], "VARCHAR", side_effects=False)
    con.create_function(
        "py_recent", lambda text: fnd._recent(_loads(text), on), ["VARCHAR"], "BOOLEAN", side_effects=False
    )


# ---------------------------------------------------------------- SQL for one JSON value
# `j` is the JSON text of a value; NULL when the key is missing.


def _is_int(j: str) -> str:
    return f"(json_type({j}) IN ('UBIGINT', 'BIGINT') AND TRY_CAST({j} AS BIGINT) IS NOT NULL)"


def _is_null(j: str) -> str:
    return f"({j} IS NULL OR json_type({j}) = 'NULL')"


def _string(j: str) -> str:
    return f"json_extract_string({j}, '$')"


def _clean_date(j: str) -> str:
    s = _string(j)
    return (
        f"(json_type({j}) = 'VARCHAR' AND regexp_full_match({s}, '{_DATE_RE}') AND {s} NOT LIKE '0000%'"
        f" AND TRY_CAST({s} AS DATE) IS NOT NULL)"
    )


def _int_of(j: str) -> str:
    """`findings._int` of the record value: HUGEINT."""
    return (
        f"(CASE WHEN {_is_null(j)} THEN 0::HUGEINT WHEN {_is_int(j)} THEN CAST({j} AS BIGINT)::HUGEINT"
        f" ELSE CAST(py_int({j}) AS HUGEINT) END)"
    )


def _str_of(j: str) -> str:
    """`str(record.get(key, ""))`."""
    return (
        f"(CASE WHEN {j} IS NULL THEN '' WHEN json_type({j}) = 'VARCHAR' THEN {_string(j)}"
        f" WHEN {_is_int(j)} THEN CAST(CAST({j} AS BIGINT) AS VARCHAR) ELSE py_str({j}) END)"
    )


def _equals(j: str, text: str) -> str:
    """`record.get(key) == text` (false for a missing key, never NULL)."""
    return f"COALESCE(json_type({j}) = 'VARCHAR' AND {_string(j)} = {_lit(text)}, false)"


def _in(j: str, texts) -> str:
    listed = ", ".join(_lit(t) for t in sorted(texts))
    return f"COALESCE(json_type({j}) = 'VARCHAR' AND {_string(j)} IN ({listed}), false)"


def _coerced(fact: Fact, j: str) -> str:
    """`coerce(fact, value)` typed for the column, NULL when it cannot be read (`j` not null).

    `j` is a JSON value DuckDB wrote (a field of `_parsed`, or `to_json`): its text is the
    canonical form when the value is (`true`, `-12`, `"code"`), so int, bool and enum values are
    recognised by comparing that text, without parsing it again; any other text goes to Python."""
    sql_type = _SQL_TYPE[fact.type]
    odd = f"py_coerce({_lit(fact.name)}, {j})"
    text = f"CAST({j} AS VARCHAR)"
    if fact.type in ("int", "money"):
        # Only digits: an integer (never a float or a string); NULL past 64 bits, as in Python.
        fast = f"CASE WHEN regexp_full_match({text}, '-?[0-9]+') THEN TRY_CAST({text} AS BIGINT) END"
        return f"COALESCE({fast}, TRY_CAST({odd} AS BIGINT))"
    if fact.type == "bool":
        return f"(CASE {text} WHEN 'true' THEN true WHEN 'false' THEN false ELSE CAST({odd} AS BOOLEAN) END)"
    if fact.type == "enum":
        codes = " ".join(f"WHEN {_lit(json.dumps(code))} THEN {_lit(code)}" for code, _ in fact.choices)
        return f"(CASE {text} {codes} ELSE {_string(odd)} END)"
    if fact.type == "str":
        return f"(CASE WHEN json_type({j}) = 'VARCHAR' THEN {_string(j)} ELSE {_string(odd)} END)"
    if fact.type == "date":
        return f"(CASE WHEN {_clean_date(j)} THEN CAST({_string(j)} AS DATE) ELSE CAST({_string(odd)} AS DATE) END)"
    return f"CAST({odd} AS {sql_type})"


def _lit(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


# ---------------------------------------------------------------- what derive will use


@dataclass(frozen=True)
class _Kinds:
    """Which answer `derive` takes for each kind (the last of the kind in the answers list, a
    failed source after every committed one) and the provenance text of each verified fact."""

    done: dict[str, Any]  # kind → Source whose snapshot derive reads
    present: set[str]  # kinds with any answer, done or failed

    @classmethod
    def of(cls, reader: Reader) -> _Kinds:
        last: dict[str, tuple[Any, bool]] = {}
        for s in reader.sources.found:
            last[s.kind] = (s, True)
        for a in reader.sources.failed:
            last[a.kind] = (a, False)
        return cls({k: s for k, (s, ok) in last.items() if ok}, set(last))

    def has(self, kind: str) -> bool:
        return kind in self.done

    @property
    def income_sources(self) -> list[str]:
        return [k for k in ("tax", "social_insurance", "unemployment") if k in self.present]

    @property
    def income_ready(self) -> bool:
        return bool(self.income_sources) and all(k in self.done for k in self.income_sources)

    @property
    def death_sources(self) -> list[str]:
        return [k for k in ("population", "civil") if k in self.present]

    @property
    def deaths_ready(self) -> bool:
        return bool(self.death_sources) and all(k in self.done for k in self.death_sources)

    def provenance(self, kinds: list[str]) -> str:
        sources = [self.done[k] for k in kinds]
        dates = sorted(s.as_of for s in sources if s.as_of)
        names = "、".join(s.name for s in sources)
        return f"{VERIFIED}: {names} {dates[0] if dates else ''}".rstrip()


# ---------------------------------------------------------------- pulling the tables


def _copy_to_file(sql: str, params: list, path: Path) -> None:
    """PostgreSQL: the rows of `sql` as CSV in `path` (`COPY (…) TO STDOUT`), on this thread's
    connection."""
    with (
        connection.cursor() as cursor,
        open(path, "wb") as out,
        cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy,
    ):
        for block in copy:
            out.write(block)


def _load_csv(con, name: str, path: Path, columns: dict[str, str], shape: str = "*") -> None:
    """Table `name` of the CSV rows `_copy_to_file` wrote to `path` (then removed): `SELECT
    {shape}` over them."""
    if path.stat().st_size == 0:
        nothing = ", ".join(f"CAST(NULL AS {t}) AS {c}" for c, t in columns.items())
        con.execute(f"CREATE TABLE {name} AS SELECT {shape} FROM (SELECT {nothing} LIMIT 0)")
    else:
        con.execute(
            f"CREATE TABLE {name} AS SELECT {shape} FROM read_csv(?, header = false, columns = ?, auto_detect = false,"
            " delim = ',', quote = '\"', escape = '\"', allow_quoted_nulls = false)",
            [str(path), columns],
        )
    path.unlink()


def _pull(con, name: str, sql: str, params: list, columns: dict[str, str], scratch: Path, shape: str = "*") -> None:
    """The rows of `sql` as DuckDB table `name` (`SELECT {shape}` over them)."""
    if connection.vendor == "postgresql":
        path = scratch / f"{name}.csv"
        _copy_to_file(sql, params, path)
        _load_csv(con, name, path, columns, shape)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    texts = {
        c: pa.array([None if v is None else str(v) for v in values], pa.string())
        for c, values in zip(columns, cols, strict=True)
    }
    con.register(f"{name}_rows", pa.table(texts))
    casts = ", ".join(f"CAST({c} AS {t}) AS {c}" for c, t in columns.items())
    con.execute(f"CREATE TABLE {name} AS SELECT {shape} FROM (SELECT {casts} FROM {name}_rows)")
    con.unregister(f"{name}_rows")


class _Pending:
    """A pull started on a second PostgreSQL connection (its own thread) while this one goes
    on: PostgreSQL serves one statement a connection on one core, so the largest table's
    `COPY` runs beside the other pulls and DuckDB's work on them instead of after them.
    Only outside a transaction (the scan's job): rows a transaction has not committed are
    not seen by another connection, so inside one (a test's) the pull runs at `finish`."""

    def __init__(
        self, con, name: str, sql: str, params: list, columns: dict[str, str], scratch: Path, shape: str = "*"
    ) -> None:
        self.con, self.name, self.sql, self.params, self.columns, self.shape = con, name, sql, params, columns, shape
        self.path, self.scratch = scratch / f"{name}.csv", scratch
        self.error: BaseException | None = None
        self.thread = None
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            self.thread = threading.Thread(target=self._copy, name=f"scan-pull-{name}", daemon=True)
            self.thread.start()

    def _copy(self) -> None:
        try:
            _copy_to_file(self.sql, self.params, self.path)
        except BaseException as exc:  # raised again by `finish`, on the scan's thread
            self.error = exc
        finally:
            connection.close()  # this thread's own connection

    def finish(self) -> None:
        """Table `name` in DuckDB: waits for the copy and loads it (or pulls it now)."""
        if self.thread is None:
            _pull(self.con, self.name, self.sql, self.params, self.columns, self.scratch, self.shape)
            return
        self.thread.join()
        if self.error is not None:
            raise self.error
        _load_csv(self.con, self.name, self.path, self.columns, self.shape)

    def abandon(self) -> None:
        """Wait for a started copy to end (the export failed): its file goes with the scratch folder."""
        if self.thread is not None:
            self.thread.join()


def _text(column: str) -> str:
    return f"CAST({column} AS TEXT)"


def _pull_tables(con, reader: Reader, area: Division, kinds: _Kinds, scratch: Path) -> _Pending:
    """Tables `households` and `statuses` of the area, and the pull of `members` started
    (its `finish` makes the table)."""
    pg = connection.vendor == "postgresql"
    on = reader.on.isoformat()
    day = "%s::date" if pg else "%s"
    h, d, m, p = (Household._meta.db_table, Division._meta.db_table, Membership._meta.db_table, Person._meta.db_table)
    hs, ms = HouseholdStatus._meta.db_table, MemberStatus._meta.db_table
    # Joined, not `IN (subquery)`: PostgreSQL hashes the divisions once.
    in_area = f"JOIN {h} h ON h.id = x.household_id JOIN {d} d ON d.id = h.division_id WHERE d.path LIKE %s ESCAPE '\\'"
    like = area.path.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    json_text = "::text" if pg else ""
    living = f"x.date_out IS NULL AND (p.deceased_on IS NULL OR p.deceased_on > {day})"
    # The members (the largest pull) are copied on a second connection while the rest goes on.
    # Their order in the household (head first, then by relation and membership) is numbered
    # by DuckDB as it loads them: numbered by PostgreSQL, the 3.7 M rows of a full city were
    # sorted whole (spilling to disk) on the copying backend, the pull's longest path.
    members = _Pending(
        con,
        "members",
        f"SELECT x.household_id, x.id, x.relation, {_text('p.public_id')}, p.id_number_index, p.name, {_text('p.birth_date')}, p.sex,"
        f" x.facts{json_text} FROM {m} x JOIN {p} p ON p.id = x.person_id {in_area} AND {living}",
        [like, on],
        {
            "household_id": "BIGINT",
            "membership_id": "BIGINT",
            "relation": "VARCHAR",
            "public_id": "VARCHAR",
            "person_index": "VARCHAR",
            "name": "VARCHAR",
            "birth_date": "DATE",
            "sex": "VARCHAR",
            "facts": "VARCHAR",
        },
        scratch,
        "household_id, ROW_NUMBER() OVER (PARTITION BY household_id ORDER BY relation, membership_id) - 1"
        " AS member_index, relation, public_id, person_index, name, birth_date, sex, facts",
    )
    try:
        _pull(
            con,
            "households",
            f"SELECT h.id, h.division_id, h.facts{json_text} FROM {h} h JOIN {d} d ON d.id = h.division_id"
            " WHERE d.path LIKE %s ESCAPE '\\'",
            [like],
            {"household_id": "BIGINT", "division_id": "BIGINT", "facts": "VARCHAR"},
            scratch,
        )
        # Few statuses: PostgreSQL filters them by the area's households best as a semi-join.
        households = f"SELECT h.id FROM {h} h JOIN {d} d ON d.id = h.division_id WHERE d.path LIKE %s ESCAPE '\\'"
        current = f'x.start <= {day} AND (x."end" IS NULL OR x."end" >= {day})'
        _pull(
            con,
            "statuses",
            f"SELECT x.household_id, x.kind FROM {hs} x WHERE {current} AND x.household_id IN ({households})"
            f" UNION SELECT x.household_id, x.kind FROM {ms} x WHERE {current} AND x.household_id IN ({households})",
            [on, on, like, on, on, like],
            {"household_id": "BIGINT", "kind": "VARCHAR"},
            scratch,
        )
    except BaseException:
        members.abandon()
        raise
    return members


def _places(reader: Reader) -> pa.Table:
    """Per division of the area: its place (region, urban, county) and standards, or not `ok`
    (a city-level division: `household_place` refuses it and the household is left out)."""
    from ejia.catalogue.selectors import standards_for

    rows = []
    for division in reader.divisions.values():
        ok = division.level != Division.Level.CITY
        urban = bool(division.urban) if division.level in (Division.Level.VILLAGE, Division.Level.TOWNSHIP) else False
        standards = None
        if ok:
            key = (tuple(c for c in division.path.split("/") if c in reader.standard_divisions), urban)
            standards = reader.standards.get(key)
            if standards is None:
                standards = reader.standards[key] = standards_for(division, urban, reader.on)
        rows.append(
            {
                "division_id": division.pk,
                "ok": ok,
                "region_code": division.county_code,
                "urban": urban,
                "standards": repr(standards),
            }
        )
    schema = pa.schema(
        [
            ("division_id", pa.int64()),
            ("ok", pa.bool_()),
            ("region_code", pa.string()),
            ("urban", pa.bool_()),
            ("standards", pa.string()),
        ]
    )
    return pa.Table.from_pylist(rows, schema=schema)


# ---------------------------------------------------------------- deriving in DuckDB


# ---------------------------------------------------------------- one snapshot's facts per person
# What `derive` takes of one source kind's records, per person: aggregates of the records of one
# committed snapshot, which never change (`fact_store`). `r` is a record of table `recs`, one
# JSON column per key `derive` reads of the kind.


def _kind_facts(kind: str) -> tuple[str, dict[str, str]]:
    """(SELECT over `recs` giving one row per person, its columns and their stored types).
    Integers summed from `findings._int` may exceed 64 bits: they are kept as DECIMAL(38,0).

    Only the persons of whom the records say something are kept (`having`): a zero sum, no
    vehicle counted, no active business, not dead. The export reads a person without a row as
    exactly that (every column below is read through COALESCE or as a NULL that `_build` takes
    as false or zero), and most of a file's persons say nothing: the population file lists
    nearly everyone, the dead are a few hundred."""

    def j(key: str) -> str:
        return f"r.{key}"

    big = "DECIMAL(38,0)"
    columns: list[tuple[str, str, str]] = []  # (name, aggregate, stored type)
    having = "true"  # every person with a record (housing units, disability certificates)
    if kind == "deposit":
        columns.append(("deposit_sum", f"SUM({_int_of(j('balance_fen'))})", big))
        having = "deposit_sum <> 0"
    elif kind == "vehicle":
        gone = f"{_in(j('status'), fnd.VEHICLE_GONE)} OR {_in(j('plate_kind'), fnd.VEHICLE_EXEMPT_KINDS)}"
        columns.append(("vehicles", f"COUNT(*) FILTER (WHERE NOT ({gone}))", "BIGINT"))
        having = "vehicles <> 0"
    elif kind == "real_estate":
        columns.append(("estates", "COUNT(*)", "BIGINT"))
    elif kind == "business":
        columns.append(("business", f"BOOL_OR({_in(j('status'), fnd.BUSINESS_ACTIVE)})", "BOOLEAN"))
        having = "business"
    elif kind == "social_insurance":
        paid = _equals(j("status"), "待遇领取")
        columns.append(("pension", f"SUM(CASE WHEN {paid} THEN {_int_of(j('pension_month_fen'))} ELSE 0 END)", big))
        having = "pension <> 0"
    elif kind == "unemployment":
        active = _equals(j("status"), "有效")
        columns.append(("benefit", f"SUM(CASE WHEN {active} THEN {_int_of(j('benefit_month_fen'))} ELSE 0 END)", big))
        columns.append(("unemployed", f"BOOL_OR({active})", "BOOLEAN"))
        having = "benefit <> 0 OR unemployed"
    elif kind == "tax":
        # The latest period's income summed: `r.latest` is the person's latest period (below).
        columns.append(("tax_latest", "MAX(r.period_text)", "VARCHAR"))
        columns.append(("tax_annual", "SUM(r.income) FILTER (WHERE r.period_text = r.latest)", big))
        # No income in the latest period: a monthly wage of 0 however many months it spans.
        having = "tax_annual <> 0"
    elif kind == "medical":
        columns.append(("oop", f"SUM({_int_of(j('out_of_pocket_fen'))})", big))
        having = "oop <> 0"
    elif kind == "disability":
        grade = _int_of(j("disability_grade"))
        # min(certificates, key=_int(grade) or 9): the first of the lowest, in file order.
        key = f"(CASE WHEN {grade} = 0 THEN 9 ELSE {grade} END)"
        best = f"ARG_MIN(struct_pack(g := {grade}, k := {_str_of(j('disability_kind'))}), ({key}, r.row_number))"
        columns.append(("certificate_grade", f"({best}).g", big))
        columns.append(("certificate_kind", f"({best}).k", "VARCHAR"))
    elif kind == "population":
        columns.append(("dead", f"BOOL_OR({_equals(j('status'), 'deceased')})", "BOOLEAN"))
        having = "dead"
    elif kind == "civil":
        death = _equals(j("event"), "death")
        columns.append(("death", f"BOOL_OR({death})", "BOOLEAN"))
        # Whether a death is recent depends on the scan's date: the dates are kept as given.
        columns.append(("death_dates", f"list(CAST({j('event_date')} AS VARCHAR)) FILTER (WHERE {death})", "VARCHAR[]"))
        having = "death"
    else:
        raise ValueError(f"no facts are derived from records of kind {kind!r}")
    source = "recs r"
    if kind == "tax":
        period = _str_of("t.period")
        source = (
            f"(SELECT t.person_index, {period} AS period_text, {_int_of('t.income_fen')} AS income,"
            f" MAX({period}) OVER (PARTITION BY t.person_index) AS latest FROM recs t) r"
        )
    select = ", ".join(f"CAST({sql} AS {stored}) AS {name}" for name, sql, stored in columns)
    shape = {"person_index": "VARCHAR"} | {name: stored for name, _, stored in columns}
    return f"SELECT r.person_index, {select} FROM {source} GROUP BY r.person_index HAVING {having}", shape


def _kind_version(kind: str) -> str:
    """A digest of everything the facts of a snapshot read as `kind` depend on besides its
    records: the generated SQL, the keys read, the Python functions odd values go through,
    DuckDB's version and the fact catalogue."""
    sql, shape = _kind_facts(kind)
    parts = (
        sql,
        shape,
        fnd.READS[kind],
        *(_source(f) for f in (fnd._int, _py_int, _py_str, _loads)),
        duckdb.__version__,
        _catalogue_digest(),
    )
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


@functools.cache
def _source(function: Callable) -> str:
    """The source of a function, read once per function object (another definition of it, even
    under the same name, is another object). Without the source file (bytecode deployed alone),
    its compiled code stands for it."""
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        code = function.__code__
        return repr((code.co_code, code.co_consts, code.co_names))


def _catalogue_digest() -> str:
    return hashlib.blake2b(repr(sorted(FACTS.items())).encode(), digest_size=16).hexdigest()


def _needed(kinds: _Kinds) -> dict[str, Any]:
    """{kind: Source} whose snapshot's facts the export joins (`derive` reads population and
    civil only when both death sources answered)."""
    return {
        kind: s
        for kind, s in kinds.done.items()
        if kind in fnd.READS and (kind not in ("population", "civil") or kinds.deaths_ready)
    }


def snapshot_keys(sources: dict[str, Any]) -> dict[str, fact_store.SnapshotKey]:
    """{kind: the kept file's key} of each source's committed snapshot."""
    rows = {
        row["pk"]: row
        for row in SourceSnapshot.objects.filter(pk__in=[s.snapshot_id for s in sources.values()]).values(
            "pk", "committed_at", "sha256", "rows_accepted"
        )
    }
    return {
        kind: fact_store.SnapshotKey.of(snapshot=rows[s.snapshot_id], kind=kind, version=_kind_version(kind))
        for kind, s in sources.items()
    }


def _load_snapshot_facts(con, kind: str, source: Any, key: fact_store.SnapshotKey, scratch: Path) -> bool:
    """Table `k_<kind>` of the facts of `source`'s snapshot, kept or built. Returns whether built."""
    sql, shape = _kind_facts(kind)

    def build() -> None:
        pg = connection.vendor == "postgresql"
        keys = fnd.READS[kind]
        r = SourceRecord._meta.db_table
        if pg:
            # Only the keys derive reads, one JSON column each; a key the record lacks is a JSON
            # null, as `records_by_person` hands it to the per-household path.
            data = "".join(", COALESCE((data->%s)::text, 'null')" for _ in keys)
            columns = {"person_index": "VARCHAR", "row_number": "BIGINT"} | dict.fromkeys(keys, "VARCHAR")
        else:
            data = ", data"
            columns = {"person_index": "VARCHAR", "row_number": "BIGINT", "data": "VARCHAR"}
        _pull(
            con,
            "recs",
            f"SELECT person_index, row_number{data} FROM {r} WHERE snapshot_id = %s",
            [*(keys if pg else []), source.snapshot_id],
            columns,
            scratch,
        )
        if not pg:
            # The whole record as the per-household path reads it on SQLite: a missing key is missing.
            extracted = "".join(f", json_extract(data, {_lit('$.' + key)}) AS {key}" for key in keys)
            con.execute("ALTER TABLE recs RENAME TO recs_raw")
            con.execute(f"CREATE TABLE recs AS SELECT person_index, row_number{extracted} FROM recs_raw")
            con.execute("DROP TABLE recs_raw")
        con.execute(f"CREATE TABLE k_{kind} AS {sql}")
        con.execute("DROP TABLE recs")

    return fact_store.load(con, table=f"k_{kind}", key=key, columns=shape, build=build)


def _member_facts_sql(kinds: _Kinds) -> str:
    """Per member: the aggregates of `derive` over its records (kinds derive reads), joined
    from the snapshots' per-person tables `k_<kind>`."""
    needed = _needed(kinds)
    columns, joins = [], []

    def join(kind: str, *selected: str) -> None:
        joins.append(f" LEFT JOIN k_{kind} ON k_{kind}.person_index = m.person_index")
        columns.extend(selected)

    hugeint = "HUGEINT"
    if "deposit" in needed:
        join("deposit", f"CAST(k_deposit.deposit_sum AS {hugeint}) AS deposit_sum")
    if "vehicle" in needed:
        # No record: none counted (the count of nothing), not unknown.
        join("vehicle", "COALESCE(k_vehicle.vehicles, 0) AS vehicles")
    if "real_estate" in needed:
        join("real_estate", "COALESCE(k_real_estate.estates, 0) AS estates")
    if "business" in needed:
        join("business", "k_business.business")
    if "social_insurance" in needed:
        join("social_insurance", f"CAST(k_social_insurance.pension AS {hugeint}) AS pension")
    if "unemployment" in needed:
        join("unemployment", f"CAST(k_unemployment.benefit AS {hugeint}) AS benefit", "k_unemployment.unemployed")
    if "tax" in needed:
        join("tax", "k_tax.tax_latest", f"CAST(k_tax.tax_annual AS {hugeint}) AS tax_annual")
    if "medical" in needed:
        join("medical", f"CAST(k_medical.oop AS {hugeint}) AS oop")
    if "disability" in needed:
        join(
            "disability",
            "CASE WHEN k_disability.certificate_grade IS NOT NULL THEN struct_pack("
            f"g := CAST(k_disability.certificate_grade AS {hugeint}), k := k_disability.certificate_kind) END"
            " AS certificate",
        )
    if "population" in needed:
        join("population", "k_population.dead")
    if "civil" in needed:
        join("civil", "k_civil.death", "recent.recent_death")
        event = "e.event_date"
        recent = (
            f"CASE WHEN {event} IS NULL THEN false WHEN {_clean_date(event)} THEN CAST({_string(event)} AS DATE)"
            f" BETWEEN DATE '{{on}}' - INTERVAL 365 DAY AND DATE '{{on}}' ELSE py_recent({event}) END"
        )
        joins.append(
            f" LEFT JOIN (SELECT e.person_index, BOOL_OR({recent}) AS recent_death FROM"
            " (SELECT person_index, unnest(death_dates) AS event_date FROM k_civil) e GROUP BY e.person_index)"
            " recent ON recent.person_index = m.person_index"
        )
    if not columns:
        return "SELECT household_id, member_index FROM members"
    return f"SELECT m.household_id, m.member_index, m.person_index, {', '.join(columns)} FROM members m{''.join(joins)}"


def _round_half_even(annual: str, months: str) -> str:
    """Python's round(annual / months), exactly, on integers (floor division for any sign)."""
    rest = f"(((({annual}) % {months}) + {months}) % {months})"
    q = f"((({annual}) - {rest}) // {months})"
    return f"(CASE WHEN 2 * {rest} > {months} OR (2 * {rest} = {months} AND {q} % 2 = 1) THEN {q} + 1 ELSE {q} END)"


def _typed_pair(fact: Fact, raw: str) -> str:
    """The registry's value of a fact typed once (`c_<name>`, NULL when absent or unreadable)
    and whether one is given (`g_<name>`): the layering below reads both more than once.
    `raw` is a field of `_parsed` or `to_json` of a column: a JSON null is already SQL NULL there,
    so `_is_null`'s second test (a JSON parse of every value given) is not needed."""
    given = f"{raw} IS NOT NULL"
    return f"CASE WHEN {given} THEN {_coerced(fact, raw)} END AS c_{fact.name}, ({given}) AS g_{fact.name}"


def _layer(name: str, verified: str | None, status: str | None, alias: str) -> tuple[str, str, str]:
    """(typed value, cannot-be-read flag, provenance letter) of one fact: verified over the
    status over the registry's value (`c_<name>` and `g_<name>` of `alias`, see `_typed_pair`)."""
    given, registry = f"{alias}.g_{name}", f"{alias}.c_{name}"
    layers = [x for x in (verified, status) if x is not None]
    value = f"COALESCE({', '.join([*layers, registry])})" if layers else registry
    bad = f"({given} AND {registry} IS NULL)"
    if layers:
        bad = f"({' AND '.join(f'{x} IS NULL' for x in layers)} AND {bad})"
    prov = "CASE"
    if verified is not None:
        prov += f" WHEN {verified} IS NOT NULL THEN 'v'"
    if status is not None:
        prov += f" WHEN {status} IS NOT NULL THEN 's'"
    prov += f" WHEN {given} THEN 'r' ELSE '-' END"
    return value, bad, prov


def _parsed(column: str, names: list[str]) -> str:
    """The registry JSON parsed once into a struct of the facts' JSON values (a missing key and a
    JSON null both NULL: the builder skips either)."""
    shape = json.dumps(dict.fromkeys(names, "JSON"))
    return f"from_json({column}, {_lit(shape)})"


def _ranged(column: str) -> str:
    return f"({column} IS NULL OR {column} BETWEEN {INT64_MIN} AND {INT64_MAX})"


def _build(con, kinds: _Kinds, on: dt.date) -> tuple[list[str], list[str]]:
    """Tables `hrows` and `mrows`: typed columns, a `bad` flag and the provenance letters.
    Returns the member and household facts whose value is not the registry's JSON alone
    (verified, from a status, or the person's own data): what a fingerprint adds to that JSON."""
    con.execute(f"CREATE TABLE agg AS {_member_facts_sql(kinds).replace('{on}', on.isoformat())}")
    # ---- members
    verified: dict[str, str] = {}
    if kinds.has("social_insurance"):
        verified["pension_month_fen"] = "COALESCE(a.pension, 0)"
    if kinds.has("unemployment"):
        verified["employment"] = "CASE WHEN a.unemployed THEN 'unemployed_registered' END"
    income = None
    if kinds.income_ready:
        wage = "0"
        if kinds.has("tax"):
            months = "(CASE WHEN a.tax_latest LIKE '%年%' OR length(a.tax_latest) = 4 THEN 12 ELSE 1 END)"
            wage = f"COALESCE({_round_half_even('a.tax_annual', months)}, 0)"
        pension = "COALESCE(a.pension, 0)" if kinds.has("social_insurance") else "0"
        benefit = "COALESCE(a.benefit, 0)" if kinds.has("unemployment") else "0"
        income = f"({wage} + {pension} + {benefit})"
    if kinds.has("medical"):
        verified["medical_oop_year_member_fen"] = "COALESCE(a.oop, 0)"
    if kinds.has("disability"):
        verified["disability_grade"] = "CASE WHEN a.certificate IS NULL THEN 0 ELSE a.certificate.g END"
        codes = " ".join(f"WHEN {_lit(c)} THEN {_lit(k)}" for c, k in fnd.DISABILITY_KIND_CODES.items())
        verified["disability_kind"] = f"CASE a.certificate.k {codes} END"
    if kinds.deaths_ready:
        dead = "COALESCE(a.dead, false)" if "population" in kinds.done else "false"
        death = "COALESCE(a.death, false)" if "civil" in kinds.done else "false"
        verified["deceased"] = f"({dead} OR {death})"
    columns, bads, provs, pairs = [], [], [], []
    for name in M_COLUMNS:
        fact = MEMBER_FACTS[name]
        raw = f"m.fj.{name}"
        if name == "birth_date":
            # The person's birth date (never null) replaces whatever the membership holds.
            value, bad, prov = "m.birth_date", "false", "'p'"
        elif name == "sex":
            pairs.append(_typed_pair(fact, "to_json(sex)"))
            value, bad, _ = _layer(name, None, None, "m")
            prov = "'p'"
        elif name == "relation":
            pairs.append(_typed_pair(fact, f"fj.{name}"))
            reg_value, reg_bad, reg_prov = _layer(name, None, None, "m")
            value = f"CASE WHEN m.relation <> '' THEN m.relation ELSE {reg_value} END"
            bad = f"(m.relation = '' AND {reg_bad})"
            prov = f"CASE WHEN m.relation <> '' THEN 'p' ELSE {reg_prov} END"
        elif name == "income_month_fen" and income is not None:
            # The documented part is proven; the registry's larger income stays (findings._int).
            # The value is read three times here: the registry's `_int` (`i_<name>`, the JSON text
            # of an integer read as it stands, any other through Python) and `a.income` are
            # computed once per member below.
            text = f"CAST(fj.{name} AS VARCHAR)"
            fast = f"CASE WHEN regexp_full_match({text}, '-?[0-9]+') THEN TRY_CAST({text} AS BIGINT)::HUGEINT END"
            pairs.append(f"COALESCE({fast}, CAST(py_int(fj.{name}) AS HUGEINT)) AS i_{name}")
            value = f"CASE WHEN {raw} IS NOT NULL THEN greatest(m.i_{name}, a.income) ELSE a.income END"
            bad, prov = "false", "'v'"
        else:
            pairs.append(_typed_pair(fact, f"fj.{name}"))
            value, bad, prov = _layer(name, verified.get(name), None, "m")
        if fact.type in ("int", "money"):
            bad = f"({bad} OR NOT {_ranged(value)})"
            value = f"TRY_CAST({value} AS BIGINT)"
        columns.append(f"{value} AS {name}")
        bads.append(bad)
        provs.append(prov)
    con.execute(
        "CREATE TABLE mrows AS SELECT m.household_id, m.member_index, m.public_id, m.name, m.facts AS raw, "
        + ", ".join(columns)
        + f", ({' OR '.join(bads)}) AS bad, concat({', '.join(provs)}) AS prov"
        f" FROM (SELECT *, {', '.join(pairs)} FROM (SELECT *, {_parsed('facts', M_COLUMNS)} AS fj FROM members)) m"
        + (" JOIN agg a" if income is None else f" JOIN (SELECT a.*, {income} AS income FROM agg a) a")
        + " USING (household_id, member_index)"
    )
    # ---- households
    sums = ["household_id"]
    hverified: dict[str, str] = {}
    if kinds.has("deposit"):
        sums.append("SUM(COALESCE(deposit_sum, 0)) AS deposit")
        hverified["financial_assets_fen"] = "s.deposit"
    if kinds.has("vehicle"):
        sums.append("SUM(vehicles) AS vehicles")
        hverified["vehicles"] = "s.vehicles"
    if kinds.has("real_estate"):
        sums.append("SUM(estates) AS estates")
        hverified["housing_units"] = "s.estates"
    if kinds.has("business"):
        sums.append("COALESCE(BOOL_OR(business), false) AS business")
        hverified["has_business"] = "s.business"
    if kinds.has("medical"):
        sums.append("SUM(COALESCE(oop, 0)) AS oop")
        hverified["medical_oop_year_fen"] = "s.oop"
    if kinds.deaths_ready and "civil" in kinds.done:
        sums.append("BOOL_OR(recent_death) AS recent_death")
        hverified["death_in_household_year"] = "CASE WHEN s.recent_death THEN true END"
    statuses = {
        name: f"(CASE WHEN list_contains(st.kinds, {_lit(kind)})"
        f" THEN true {'ELSE false' if kind in OWN_STATUSES else ''} END)"
        for kind, name in STATUS_FACTS.items()
    }
    columns, bads, provs, pairs = [], [], [], []
    for name in H_COLUMNS:
        fact = HOUSEHOLD_FACTS[name]
        if name in ("region_code", "urban"):
            columns.append(f"pl.{name} AS {name}")
            continue
        raw = f"h.fj.{name}"
        value, bad, prov = _layer(name, hverified.get(name), statuses.get(name), "h")
        pairs.append(_typed_pair(fact, f"fj.{name}"))
        if fact.type in ("int", "money"):
            bad = f"({bad} OR NOT {_ranged(value)})"
            value = f"TRY_CAST({value} AS BIGINT)"
        columns.append(f"{value} AS {name}")
        bads.append(bad)
        provs.append(prov)
    con.execute(
        "CREATE TABLE hrows AS SELECT h.household_id, h.division_id, substr(pl.region_code, 1, 6) AS county_code,"
        " h.facts AS raw, " + ", ".join(columns) + f", ({' OR '.join(bads)}) AS bad, concat({', '.join(provs)}) AS prov"
        f" FROM (SELECT *, {', '.join(pairs)} FROM (SELECT *, {_parsed('facts', H_COLUMNS)} AS fj FROM households)) h"
        " JOIN places pl ON pl.division_id = h.division_id AND pl.ok"
        " LEFT JOIN (SELECT household_id, list(kind) AS kinds FROM statuses GROUP BY household_id) st"
        " USING (household_id)"
        f" LEFT JOIN (SELECT {', '.join(sums)} FROM agg GROUP BY household_id) s USING (household_id)"
        " WHERE h.household_id IN (SELECT household_id FROM members)"
    )
    m_layered = [*verified, "birth_date", "sex", "relation"] + (["income_month_fen"] if income is not None else [])
    return m_layered, [*hverified, *statuses]


@contextmanager
def _phase(result: Export, name: str):
    """Add the wall and process CPU seconds of the block to `result.phases[name]`."""
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        spent = result.phases.setdefault(name, [0.0, 0.0])
        spent[0] += time.perf_counter() - wall
        spent[1] += time.process_time() - cpu


def export_area_sql(
    reader: Reader,
    area: Division,
    folder: Path,
    *,
    fingerprints: bool = False,
    select: Callable[[Path, Any], Any] | None = None,
    meanwhile: Callable[[], Any] | None = None,
) -> Export:
    """`export.export_area`, computed set-based (same files, counters, skipped households); the
    fingerprints are digests computed in SQL with the property of `input_fingerprint`: equal
    inputs give equal digests, any change the explanation could show gives another one.

    `select(folder, con)`, when given, is called once the three files are written, with this
    export's DuckDB connection (its memory cap and threads; the files' tables are gone from it):
    it returns the household ids (an Arrow array or a list) the caller needs fingerprints of,
    and only those are fingerprinted. The scan evaluates the files there and fingerprints only
    the households some programme finds — a third of the city, where the fingerprints were a
    third of a nightly export's CPU.

    `meanwhile()`, when given, is called on this thread while DuckDB builds and writes the rows
    on another (DuckDB leaves the interpreter while it works): the scan reads what households
    hold and its open leads from the database there, beside the export rather than after it."""
    from ejia.catalogue.selectors import standards_table_rows

    folder.mkdir(parents=True, exist_ok=True)
    result = Export(folder)
    scratch = folder / ".pull"
    scratch.mkdir(exist_ok=True)
    kinds = _Kinds.of(reader)
    con = duckdb.connect()
    try:
        con.execute("SET threads TO ?", [int(getattr(settings, "EJIA_DISCOVERY_THREADS", 2))])
        # A large area spills to the scratch folder rather than outgrow the scan's memory budget;
        # every result is ordered explicitly, so insertion order need not be kept.
        con.execute("SET memory_limit = ?", [str(getattr(settings, "EJIA_DISCOVERY_MEMORY", "3GB"))])
        con.execute("SET temp_directory = ?", [str(scratch)])
        con.execute("SET preserve_insertion_order = false")
        _udfs(con, reader.on)
        with _phase(result, "pull"):
            pending = _pull_tables(con, reader, area, kinds, scratch)
        try:
            with _phase(result, "pull"):
                con.register("places", _places(reader))
            needed = _needed(kinds)
            with _phase(result, "facts"):
                keys = snapshot_keys(needed)
                for kind, source in needed.items():
                    if _load_snapshot_facts(con, kind, source, keys[kind], scratch):
                        logger.info("discovery: facts of snapshot %s (%s) computed and kept", source.snapshot_id, kind)
            with _phase(result, "pull"):
                pending.finish()
        except BaseException:
            pending.abandon()
            raise
        standards = pa.Table.from_pylist(standards_table_rows(reader.on), schema=STANDARD_SCHEMA)

        def build_and_write() -> list[list[str]]:
            # DuckDB and Arrow only (no Django): it may run on another thread, see `meanwhile`.
            with _phase(result, "build"):
                layered = _build(con, kinds, reader.on)
                # What follows reads `hrows` and `mrows` only: the pulled and joined tables are dropped
                # before the largest results are made, so that their memory serves those.
                for table in ("agg", "members", "households", "statuses", *(f"k_{kind}" for kind in needed)):
                    con.execute(f"DROP TABLE {table}")
                (skipped,) = con.execute(
                    "SELECT count(*) FROM hrows h WHERE h.bad OR EXISTS (SELECT 1 FROM mrows m"
                    " WHERE m.household_id = h.household_id AND m.bad)"
                ).fetchone()
                con.execute(
                    "CREATE TABLE kept AS SELECT household_id FROM hrows h WHERE NOT h.bad AND NOT EXISTS"
                    " (SELECT 1 FROM mrows m WHERE m.household_id = h.household_id AND m.bad)"
                )
            with _phase(result, "write"):
                h_cols = ", ".join(f"CAST(h.{n} AS {_duck(t)}) AS {n}" for n, t in _arrow_types(HOUSEHOLD_SCHEMA))
                m_cols = ", ".join(
                    f"CAST({'h.county_code' if n == 'county_code' else 'm.' + n} AS {_duck(t)}) AS {n}"
                    for n, t in _arrow_types(MEMBER_SCHEMA)
                )
                households = con.sql(
                    f"SELECT {h_cols} FROM hrows h JOIN kept USING (household_id) ORDER BY household_id"
                ).to_arrow_table()
                members = con.sql(
                    f"SELECT {m_cols} FROM mrows m JOIN kept USING (household_id) JOIN hrows h USING (household_id)"
                    " ORDER BY household_id, member_index"
                ).to_arrow_table()
                pq.write_table(households.cast(HOUSEHOLD_SCHEMA), result.households_path)
                pq.write_table(members.cast(MEMBER_SCHEMA), result.members_path)
                result.households, result.members, result.skipped = households.num_rows, members.num_rows, skipped
                del households, members  # written: their memory goes before the fingerprints are built
                pq.write_table(standards, result.standards_path)
            return layered

        layered = build_and_write() if meanwhile is None else _beside(build_and_write, meanwhile)
        if fingerprints:
            # Only what a fingerprint reads stays: the typed columns go before the caller's
            # evaluation runs on this connection, under the same memory cap.
            _keep_only(con, "mrows", [*FINGERPRINT_MEMBER_COLUMNS, *layered[0]])
            _keep_only(con, "hrows", [*FINGERPRINT_HOUSEHOLD_COLUMNS, *layered[1]])
            only = None
            if select is not None:
                # Its own cursor on the same database (the memory cap and threads are the
                # database's): whatever it leaves unfinished does not hold this connection.
                cursor = con.cursor()
                try:
                    only = pa.array(select(folder, cursor), pa.int64())
                finally:
                    cursor.close()
            with _phase(result, "fingerprints"):
                result.fingerprints = _fingerprints(con, kinds, reader.on, *layered, only=only)
    finally:
        con.close()
        shutil.rmtree(scratch, ignore_errors=True)
    snapshot_facts_sweep()
    return result


def _beside(work: Callable[[], Any], meanwhile: Callable[[], Any]) -> Any:
    """`work()` on a second thread while `meanwhile()` runs on this one; `work`'s result, or
    the first error of either (after both have ended)."""
    done: dict[str, Any] = {}

    def run() -> None:
        try:
            done["result"] = work()
        except BaseException as exc:  # raised again below, on the caller's thread
            done["error"] = exc

    thread = threading.Thread(target=run, name="scan-export-build", daemon=True)
    thread.start()
    try:
        meanwhile()
    finally:
        thread.join()
    if "error" in done:
        raise done["error"]
    return done["result"]


def snapshot_facts_sweep() -> list[str]:
    """Remove the kept facts of every snapshot no longer committed, or kept under another key
    (other code, another catalogue); read afresh, so a scan that started before a commit does
    not remove the facts a later one kept."""
    from ejia.discovery.export import sources_committed

    current = {s.snapshot_id: s for s in sources_committed().found if s.kind in fnd.READS}
    rows = SourceSnapshot.objects.filter(pk__in=list(current)).values("pk", "committed_at", "sha256", "rows_accepted")
    keep = [
        fact_store.SnapshotKey.of(
            snapshot=row, kind=current[row["pk"]].kind, version=_kind_version(current[row["pk"]].kind)
        )
        for row in rows
    ]
    return fact_store.sweep(keep)


# The columns of `mrows` and `hrows` a fingerprint reads besides the layered facts. A
# household's standards (a text of ≈ 680 characters) are read from `places` by its division,
# not kept per household: at full city that text was 0.9 GB of `hrows`.
FINGERPRINT_MEMBER_COLUMNS = ("household_id", "member_index", "public_id", "name", "birth_date", "prov", "raw")
FINGERPRINT_HOUSEHOLD_COLUMNS = ("household_id", "division_id", "region_code", "urban", "prov", "raw")


def _keep_only(con, table: str, columns: list[str]) -> None:
    """Drop every column of `table` not in `columns` (DuckDB frees their data)."""
    for (name,) in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall():
        if name not in columns:
            con.execute(f"ALTER TABLE {table} DROP COLUMN {name}")


def _fingerprints(
    con, kinds: _Kinds, on: dt.date, m_layered: list[str], h_layered: list[str], *, only: pa.Array | None = None
) -> dict[int, bytes]:
    """{household pk: 16-byte digest} of everything the explain step reads: the village, place
    and standards, the registry's JSON of the household and of each membership (every registry
    fact as given, so every typed value read from it), each fact that has another source with its
    value and provenance letter, which department and date each verified fact speaks for, the
    members' keys, names, birth dates and ages on the date. `only`: of these households alone
    (the others of the export are not fingerprinted).

    Fields are joined with the unit separator (U+001F), members with the record separator
    (U+001E): neither can appear unescaped in JSON text, and every free text goes in as JSON."""
    sources = {
        "income": kinds.provenance(kinds.income_sources) if kinds.income_ready else "",
        "deceased": kinds.provenance(kinds.death_sources) if kinds.deaths_ready else "",
        **{k: kinds.provenance([k]) for k in kinds.done},
    }

    def text(alias: str, name: str, catalogue: dict) -> str:
        column = f"{alias}.{name}"
        if catalogue[name].type in ("str", "enum"):
            return f"COALESCE(to_json({column})::VARCHAR, '~')"
        return f"COALESCE(CAST({column} AS VARCHAR), '~')"

    age = (
        f"(year(DATE '{on.isoformat()}') - year(m.birth_date) - CASE WHEN month(m.birth_date) * 100 + day(m.birth_date)"
        f" > {on.month * 100 + on.day} THEN 1 ELSE 0 END)"
    )
    member = ", ".join(
        [
            "m.public_id",
            "to_json(m.name)::VARCHAR",
            f"COALESCE(CAST({age} AS VARCHAR), '~')",
            "m.prov",
            "COALESCE(m.raw, '~')",
            *(text("m", n, MEMBER_FACTS) for n in m_layered),
        ]
    )
    household = ", ".join(
        [
            _lit(json.dumps(sources, ensure_ascii=False, sort_keys=True)),
            "CAST(h.division_id AS VARCHAR)",
            "h.region_code",
            "CAST(h.urban AS VARCHAR)",
            "pl.standards",
            "h.prov",
            "COALESCE(h.raw, '~')",
            *(text("h", n, HOUSEHOLD_FACTS) for n in h_layered),
            "ms.text",
        ]
    )
    # One pass per FINGERPRINT_CHUNK households (by id): the members' texts of a pass are all
    # held at once by the ordered string_agg, so at full city (3.7 M members) a single pass ran
    # out of the DuckDB memory cap. The digests do not depend on the chunking.
    if only is not None:
        con.register("only_ids", pa.table({"household_id": only}))
        con.execute(
            "CREATE TEMP TABLE fp_ids AS SELECT DISTINCT household_id FROM kept JOIN only_ids USING (household_id)"
        )
        con.unregister("only_ids")
    else:
        con.execute("CREATE TEMP TABLE fp_ids AS SELECT household_id FROM kept")
    starts = [
        row[0]
        for row in con.sql(
            "SELECT household_id FROM (SELECT household_id, row_number() OVER (ORDER BY household_id) - 1 AS n"
            f" FROM fp_ids) WHERE n % {int(FINGERPRINT_CHUNK)} = 0 ORDER BY household_id"
        ).fetchall()
    ]
    digests: dict[int, bytes] = {}
    for i, low in enumerate(starts):
        within = f"household_id >= {int(low)}" + (
            f" AND household_id < {int(starts[i + 1])}" if i + 1 < len(starts) else ""
        )
        table = con.sql(
            f"""
            WITH ms AS (
                SELECT m.household_id, string_agg(concat_ws(chr(31), {member}), chr(30) ORDER BY m.member_index) AS text
                FROM mrows m JOIN fp_ids USING (household_id) WHERE m.{within} GROUP BY m.household_id
            )
            SELECT h.household_id, unhex(md5(concat_ws(chr(31), {household}))) AS digest
            FROM hrows h JOIN fp_ids USING (household_id) JOIN ms USING (household_id)
            JOIN places pl ON pl.division_id = h.division_id WHERE h.{within}
            """
        ).to_arrow_table()
        digests.update(zip(table["household_id"].to_pylist(), table["digest"].to_pylist(), strict=True))
    con.execute("DROP TABLE fp_ids")
    return digests


def _arrow_types(schema: pa.Schema):
    return [(f.name, f.type) for f in schema]


def _duck(arrow_type: pa.DataType) -> str:
    return {
        pa.int64(): "BIGINT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.string(): "VARCHAR",
        pa.date32(): "DATE",
    }[arrow_type]
