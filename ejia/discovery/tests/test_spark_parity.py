"""DuckDB and Spark give the scan the same answer: the small city's registry and snapshots are
exported once, every programme is evaluated from the same Parquet files by both engines, and
every household's outcome and amount for every programme agree — so both find the same leads.

Skips when PySpark or Java is not installed (Spark runs in local mode with Java 17). The parity
is between two engines reading the same Parquet files, whichever database built the export, so
it runs on the SQLite suite only: CI runs it once (its JVM start and first plan cost about a
minute) instead of twice."""

from __future__ import annotations

import shutil

import duckdb
import pytest
from django.db import connection
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.discovery.export import Reader, export_area, sources_committed
from ejia.discovery.scan import discovery_modes, outcomes_of

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module", autouse=True)
def _on_the_sqlite_suite():
    """Skip before the demo city is built when the suite runs on PostgreSQL."""
    if connection.vendor != "sqlite":
        pytest.skip("DuckDB-Spark parity does not depend on the database: checked on the SQLite suite")


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Java is not installed")
    from ejia.discovery.spark import local_session

    session = local_session()
    yield session
    session.stop()


def by_household(rows: list[dict], columns: list[str]) -> dict[int, tuple]:
    return {row["household_id"]: tuple(row[c] for c in columns) for row in rows}


def test_duckdb_and_spark_agree_on_every_household_and_programme(demo_city, spark, tmp_path):
    from ejia.catalogue.selectors import engine_for
    from ejia.discovery.spark import evaluate_on_spark

    on = timezone.localdate()
    county = Division.objects.get(code="371602")
    export = export_area(Reader.for_area(county, on, sources_committed()), county, tmp_path)
    assert export.households > 100
    engine = engine_for(on)
    con = duckdb.connect()
    for table in ("households", "members", "standards"):
        con.read_parquet(str(tmp_path / f"{table}.parquet")).create_view(table)
    duck = engine.evaluate_bulk(con, on=on).to_pylist()
    con.close()
    sparked = evaluate_on_spark(spark, tmp_path, on=on, engine=engine)

    codes = list(engine.programmes)
    columns = [f"{code}__{part}" for code in codes for part in ("outcome", "amount_fen")]
    left, right = by_household(duck, columns), by_household(sparked, columns)
    assert set(left) == set(right) and len(left) == export.households
    wrong = [
        (household_id, column, left[household_id][i], right[household_id][i])
        for household_id in left
        for i, column in enumerate(columns)
        if left[household_id][i] != right[household_id][i]
    ]
    assert wrong == [], wrong[:10]
    # The same rows, so the same candidates for leads.
    import pyarrow as pa

    modes = {code: mode for code, mode in discovery_modes().items() if code in engine.programmes}
    assert outcomes_of(pa.Table.from_pylist(duck), modes) == outcomes_of(pa.Table.from_pylist(sparked), modes)
    assert any(outcomes_of(pa.Table.from_pylist(duck), modes).values())
