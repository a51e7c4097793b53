"""The discovery scan's evaluation, DuckDB against Spark (local mode), on one area of the database.

Exports the area's registry and committed snapshots to Parquet once (as the scan does), then
evaluates every programme in force on DuckDB (2 threads) and on Spark (local[2]) over the same
files, checks that both agree household by household, and prints wall and CPU seconds.

    DATABASE_URL=postgres://… python bench/bench_discovery.py --area 371602
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--area", default="371602")
    args = parser.parse_args()

    import django

    django.setup()
    import duckdb
    from django.utils import timezone

    from ejia.accounts.models import Division
    from ejia.catalogue.selectors import engine_for
    from ejia.discovery.export import Reader, export_area, sources_committed
    from ejia.discovery.spark import evaluate_on_spark, local_session

    on = timezone.localdate()
    area = Division.objects.get(code=args.area)
    engine = engine_for(on)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        t, c = time.perf_counter(), time.process_time()
        export = export_area(Reader.for_area(area, on, sources_committed()), area, folder)
        print(
            f"export {area.name}: {export.households} households, {export.members} members "
            f"in {time.perf_counter() - t:.1f} s (CPU {time.process_time() - c:.1f} s)"
        )
        t, c = time.perf_counter(), time.process_time()
        con = duckdb.connect()
        con.execute("SET threads TO 2")
        for table in ("households", "members", "standards"):
            con.read_parquet(str(folder / f"{table}.parquet")).create_view(table)
        duck = engine.evaluate_bulk(con, on=on).to_pylist()
        print(f"duckdb: {len(engine.programmes)} programmes in {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        spark = local_session()
        started = time.perf_counter() - t
        t = time.perf_counter()
        sparked = evaluate_on_spark(spark, folder, on=on, engine=engine)
        print(f"spark local[2]: session {started:.1f} s, evaluation {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        sparked = evaluate_on_spark(spark, folder, on=on, engine=engine)
        print(f"spark local[2], second run (warm JVM): {time.perf_counter() - t:.2f} s")
        spark.stop()
    columns = [f"{code}__{part}" for code in engine.programmes for part in ("outcome", "amount_fen")]
    left = {r["household_id"]: tuple(r[c] for c in columns) for r in duck}
    right = {r["household_id"]: tuple(r[c] for c in columns) for r in sparked}
    print(f"agree on every household and programme: {left == right}")


if __name__ == "__main__":
    main()
