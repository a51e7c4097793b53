"""The discovery scan's evaluation at city scale: Spark (local mode) against DuckDB on the same
Parquet files, partitioned by county as a province's shared storage would hold them.

1. write: the synthetic city of bench_rules.py (`synthetic_city`, its households' `region_code`
   as `county_code`) as `households.parquet/county_code=…/`, `members.parquet/county_code=…/`
   (the export's shape: both tables carry the county) and one `standards.parquet`;
2. duckdb and spark, each in its own process (so each peak memory is its own): all 69 seed
   programmes compiled into one statement (`Engine.compile_sql`, dialect "duckdb" or "spark"),
   run over the files and written out as Parquet (one row per household, the outcome of every
   programme; with `--amounts all` every amount too, by default none: the scan's leads need
   outcomes only); then the leads counted from that output as the scan counts them (`outcomes_of`:
   each programme's seeded discovery mode; the synthetic city holds nothing, so nothing is
   subtracted). Spark runs `local[threads]` with a bounded driver (`--spark-memory`), DuckDB
   with `threads` and `memory_limit` of the same size;
3. compare: DuckDB reads both outputs and counts the households where any outcome or amount
   differs (must be 0), and the lead counts must be equal.

Prints wall and CPU seconds (Spark: the Python driver plus the JVM, read from /proc), peak RSS
(VmHWM of the DuckDB process; Spark: of the Python driver and of the JVM) and the load average.
Figures only.

    .venv/bin/python bench/bench_spark.py --households 1300000 [--threads 2] [--spark-memory 3g] [--amounts all]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

TABLES = ("households", "members", "standards")


# ---- 1. the files
def write_city(folder: Path, households: int, seed: int) -> dict:
    import numpy as np
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from bench_rules import synthetic_city

    t, c = time.perf_counter(), time.process_time()
    hh, members, standards = synthetic_city(households, seed)
    county = hh.column("region_code").to_numpy(zero_copy_only=False)
    hh = hh.append_column("county_code", pa.array(county))
    # household_id is 0..n-1 in the generator: a member's county is its household's.
    members = members.append_column(
        "county_code", pa.array(county[members.column("household_id").to_numpy()].astype(np.str_))
    )
    for name, table in (("households", hh), ("members", members)):
        ds.write_dataset(
            table,
            folder / f"{name}.parquet",
            format="parquet",
            partitioning=["county_code"],
            partitioning_flavor="hive",
            max_rows_per_group=100_000,
        )
    pq.write_table(standards, folder / "standards.parquet")
    return {
        "households": hh.num_rows,
        "members": members.num_rows,
        "counties": len(set(county.tolist())),
        "wall": time.perf_counter() - t,
        "cpu": time.process_time() - c,
        "mb": sum(f.stat().st_size for f in folder.rglob("*.parquet") if f.is_file()) / 2**20,
    }


# ---- 2. the engines (each in its own process)
def _engine():
    from ejia.catalogue.seed import all_programme_specs, load_programmes
    from ejia.rules import Engine

    modes = {row["code"]: row.get("discovery_mode", "likely") for row in load_programmes()}
    return Engine(all_programme_specs()), modes


def leads_sql(table: str, modes: dict[str, str], codes: list[str]) -> str:
    """One row: per programme, the households it would be a lead for (`outcomes_of` in SQL:
    "never" none, "likely" the eligible, "likely_possible" the possibly eligible too)."""
    wanted = {"likely": "('eligible')", "likely_possible": "('eligible', 'possibly_eligible')"}
    terms = [
        f"sum(CASE WHEN {code}__outcome IN {wanted[modes[code]]} THEN 1 ELSE 0 END) AS {code}"
        for code in codes
        if modes.get(code, "likely") != "never"
    ]
    anything = " OR ".join(
        f"{code}__outcome IN {wanted[modes[code]]}" for code in codes if modes.get(code, "likely") != "never"
    )
    return f"SELECT {', '.join(terms)}, sum(CASE WHEN {anything} THEN 1 ELSE 0 END) AS households FROM {table}"


def _peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak RSS (VmHWM) in MiB. Not `ru_maxrss`: a child started by posix_spawn
    keeps its parent's peak there (here, the parent that generated the city)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            children[int(stat.rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    out, todo = [], [root]
    while todo:
        for child in children[todo.pop()]:
            out.append(child)
            todo.append(child)
    return out


def _jvm_usage() -> tuple[float, float]:
    """CPU seconds (user+sys) and the largest peak RSS (MiB) of this process's descendants: the
    JVM that PySpark started (and its launcher)."""
    tick, cpu, peak = os.sysconf("SC_CLK_TCK"), 0.0, 0.0
    for pid in _descendants(os.getpid()):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            peak = max(peak, _peak_rss_mb(pid))
        except OSError:
            continue
        cpu += (int(fields[11]) + int(fields[12])) / tick
    return cpu, peak


def run_duckdb(folder: Path, threads: int, memory: str, amounts: tuple | None) -> dict:
    import duckdb
    from bench_rules import ON

    engine, modes = _engine()
    codes = list(engine.programmes)
    t, c = time.perf_counter(), time.process_time()
    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    con.execute(f"SET memory_limit = '{memory.upper()}B'")
    for table in ("households", "members"):
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{folder}/{table}.parquet/*/*.parquet', "
            "hive_partitioning = true, hive_types = {'county_code': VARCHAR})"
        )
    con.execute(f"CREATE VIEW standards AS SELECT * FROM read_parquet('{folder}/standards.parquet')")
    columns = lambda table: [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall()]  # noqa: E731
    sql = engine.compile_sql(
        on=ON, household_columns=columns("households"), member_columns=columns("members"), amounts=amounts
    )
    out = folder / "duckdb_result.parquet"
    con.execute(f"COPY ({sql}) TO '{out}' (FORMAT parquet)")
    evaluate = (time.perf_counter() - t, time.process_time() - c)
    t = time.perf_counter()
    cursor = con.execute(leads_sql(f"read_parquet('{out}')", modes, codes))
    row = cursor.fetchone()
    counts = {d[0]: int(v or 0) for d, v in zip(cursor.description, row, strict=True)}
    return {
        "engine": f"DuckDB {duckdb.__version__}, {threads} threads, memory_limit {memory.upper()}B",
        "start": 0.0,
        "wall": evaluate[0],
        "cpu": evaluate[1],
        "count_wall": time.perf_counter() - t,
        "rss_mb": _peak_rss_mb(),
        "jvm_mb": None,
        "counts": counts,
        "programmes": len(codes),
    }


def run_spark(folder: Path, threads: int, memory: str, amounts: tuple | None) -> dict:
    import pyspark
    from bench_rules import ON

    from ejia.discovery.spark import local_session, result_frame

    engine, modes = _engine()
    codes = list(engine.programmes)
    t, c = time.perf_counter(), time.process_time()
    spark = local_session(threads=threads, memory=memory)
    jvm_cpu0, _ = _jvm_usage()
    start = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    out = folder / "spark_result.parquet"
    result_frame(spark, folder, on=ON, engine=engine, amounts=amounts).write.mode("overwrite").parquet(str(out))
    jvm_cpu1, _ = _jvm_usage()
    evaluate = (time.perf_counter() - t, time.process_time() - c + jvm_cpu1 - jvm_cpu0)
    t = time.perf_counter()
    spark.read.parquet(str(out)).createOrReplaceTempView("result")
    counts = spark.sql(leads_sql("result", modes, codes)).collect()[0].asDict()
    count_wall = time.perf_counter() - t
    _, jvm_peak = _jvm_usage()
    spark.stop()
    return {
        "engine": f"Spark {pyspark.__version__} local[{threads}], driver memory {memory}",
        "start": start,
        "wall": evaluate[0],
        "cpu": evaluate[1],
        "count_wall": count_wall,
        "rss_mb": _peak_rss_mb(),
        "jvm_mb": jvm_peak,
        "counts": {k: int(v or 0) for k, v in counts.items()},
        "programmes": len(codes),
    }


# ---- 3. the comparison
def differing_households(folder: Path) -> tuple[int, int, int]:
    """(households in the DuckDB output, in the Spark output, households where any outcome or
    amount differs or that only one side has)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute(f"CREATE VIEW d AS SELECT * FROM read_parquet('{folder}/duckdb_result.parquet')")
    con.execute(f"CREATE VIEW s AS SELECT * FROM read_parquet('{folder}/spark_result.parquet/*.parquet')")
    columns = [r[0] for r in con.execute("DESCRIBE d").fetchall() if r[0] != "household_id"]
    differs = " OR ".join(f"d.{c} IS DISTINCT FROM s.{c}" for c in columns)
    n_d = con.execute("SELECT count(*) FROM d").fetchone()[0]
    n_s = con.execute("SELECT count(*) FROM s").fetchone()[0]
    wrong = con.execute(
        "SELECT count(*) FROM d FULL JOIN s USING (household_id) "
        f"WHERE d.household_id IS NULL OR s.household_id IS NULL OR {differs}"
    ).fetchone()[0]
    return n_d, n_s, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--households", type=int, default=1_300_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--spark-memory", default="3g")
    parser.add_argument(
        "--amounts",
        choices=("none", "all"),
        default="none",
        help="none: outcomes only, as the scan asks (default); all: every programme's amount too",
    )
    parser.add_argument("--folder", help="scratch folder (default: a temporary one, deleted at the end)")
    parser.add_argument("--run", choices=("duckdb", "spark"), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:  # a child process: one engine over the files in --folder
        run = run_duckdb if args.run == "duckdb" else run_spark
        amounts = () if args.amounts == "none" else None
        print("RESULT " + json.dumps(run(Path(args.folder), args.threads, args.spark_memory, amounts)))
        return

    scratch = Path(args.folder or tempfile.mkdtemp(prefix="bench-spark-"))
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        city = write_city(scratch, args.households, args.seed)
        print(
            f"city: {city['households']:,} households, {city['members']:,} members, {city['counties']} counties; "
            f"Parquet partitioned by county_code, {city['mb']:.0f} MiB, written in {city['wall']:.1f} s "
            f"(CPU {city['cpu']:.1f} s)"
        )
        results = {}
        for engine in ("duckdb", "spark"):
            load = os.getloadavg()[0]
            done = subprocess.run(
                [
                    *(sys.executable, __file__, "--run", engine, "--folder", str(scratch)),
                    *("--threads", str(args.threads), "--spark-memory", args.spark_memory, "--amounts", args.amounts),
                ],
                capture_output=True,
                text=True,
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode or not lines:
                print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
                raise SystemExit(f"{engine} failed (exit {done.returncode})")
            r = results[engine] = json.loads(lines[-1][len("RESULT ") :])
            leads = sum(v for k, v in r["counts"].items() if k != "households")
            peak = f"peak RSS {r['rss_mb']:.0f} MiB" + (
                f" (Python driver), JVM {r['jvm_mb']:.0f} MiB" if r["jvm_mb"] is not None else ""
            )
            print(
                f"{r['engine']}: {r['programmes']} programmes, evaluate and write {r['wall']:.1f} s wall "
                f"(CPU {r['cpu']:.1f} s)" + (f", session start {r['start']:.1f} s" if r["start"] else "") + f"; "
                f"{peak}; leads {leads:,} in {r['counts']['households']:,} households "
                f"(counted in {r['count_wall']:.1f} s); load {load:.1f} → {os.getloadavg()[0]:.1f}"
            )
        n_d, n_s, wrong = differing_households(scratch)
        same = results["duckdb"]["counts"] == results["spark"]["counts"]
        print(f"amounts evaluated: {args.amounts} (outcomes of every programme always)")
        print(
            f"compare: {n_d:,} households from DuckDB, {n_s:,} from Spark, {wrong:,} differ in an outcome or amount; "
            f"lead counts per programme {'equal' if same else 'DIFFER'}"
        )
        top = sorted(((v, k) for k, v in results["duckdb"]["counts"].items() if k != "households"), reverse=True)
        print("largest programmes by leads: " + ", ".join(f"{k} {v:,}" for v, k in top[:6]))
        if wrong or not same or n_d != n_s:
            raise SystemExit(1)
    finally:
        if not args.folder:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
