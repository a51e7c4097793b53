"""Benchmark: the scan's export step alone, per-household Python against set-based SQL, on PostgreSQL.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/ejia_export_bench \
       .venv/bin/python bench/bench_export.py [--persons 100000] [--path both|python|sql] [--repeat 1]

Builds the database once with `bench_scan.build` (the demo's own loaders: registry of
`--persons` persons and every department's snapshot committed), then runs the export of the
whole city as the scan does (`fingerprints=True`) into a scratch folder. With `--path both`
each path runs in its own process, so that each peak RSS (resource.getrusage) is its own.
Prints wall seconds, CPU seconds (user+sys of this process, DuckDB's threads included, and of
the PostgreSQL backend serving it, from /proc), peak RSS, households per CPU second, and the
load average: on a shared machine the wall time lies and CPU seconds are the fair figure.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_db import ensure_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ejia_export_bench")


def run(path: str, repeat: int) -> None:
    from bench_scan import backend_cpu
    from django.utils import timezone

    from ejia.accounts.models import Division
    from ejia.discovery.bulk_export import export_area_sql
    from ejia.discovery.export import Reader, export_area, sources_committed

    city = Division.objects.get(level=Division.Level.CITY)
    exporter = export_area_sql if path == "sql" else export_area
    for n in range(1, repeat + 1):
        folder = Path(tempfile.mkdtemp(prefix="bench-export-"))
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_SELF)
        server_before = backend_cpu()
        t = time.perf_counter()
        reader = Reader.for_area(city, timezone.localdate(), sources_committed())
        result = exporter(reader, city, folder / "out", fingerprints=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF)
        server_after = backend_cpu()
        shutil.rmtree(folder, ignore_errors=True)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        server = None if server_before is None or server_after is None else server_after - server_before
        total = cpu + (server or 0)
        print(
            f"{path} run {n}: {result.households:,} households, {result.members:,} members, "
            f"{result.skipped:,} skipped, {len(result.fingerprints):,} fingerprints",
            flush=True,
        )
        print(
            f"  wall {wall:.1f} s, CPU {cpu:.1f} s + PostgreSQL backend "
            f"{'n/a' if server is None else f'{server:.1f} s'}, peak RSS {after.ru_maxrss / 1024:,.0f} MiB, "
            f"{result.households / total:,.0f} households per CPU s "
            f"(1.3 M households: {1_300_000 / result.households * total:,.0f} CPU s)",
            flush=True,
        )
        if result.phases:
            phases = ", ".join(
                f"{name} {wall_s:.2f} wall / {cpu_s:.2f} CPU s" for name, (wall_s, cpu_s) in result.phases.items()
            )
            print(f"  phases (this process's CPU): {phases}", flush=True)
        print(f"  load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--path", choices=["both", "python", "sql"], default="both")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        sys.exit("bench_export runs on PostgreSQL: set DATABASE_URL=postgres://…")
    ensure_database(url)
    if args.path == "both":
        _setup(args.persons)
        for path in ("sql", "python"):
            command = [sys.executable, __file__, "--persons", str(args.persons), "--path", path]
            subprocess.run([*command, "--repeat", str(args.repeat)], check=True)
        return
    _setup(args.persons)
    run(args.path, args.repeat)


def _setup(persons: int) -> None:
    import django

    django.setup()
    from bench_scan import build
    from django.core.management import call_command

    from ejia.registry.models import Household

    call_command("migrate", verbosity=0)
    if not Household.objects.exists():
        build(persons)


if __name__ == "__main__":
    main()
