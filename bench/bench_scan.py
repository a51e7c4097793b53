"""Benchmark: the whole 主动发现 scan end to end over a large city, on PostgreSQL.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/ejia_scan_bench \
       .venv/bin/python bench/bench_scan.py [--persons 200000] [--repeat 2]
       [--database-url postgres://…] [--skip-first]

Builds the database once (reused while it holds households; `--persons` only matters then):
migrations, the organisation, the catalogue, the data sources, the synthetic city of
`--persons` persons (about 2.6 a household, spread over every county) loaded into the registry
by the demo's own loaders, and every department's export imported and committed as a snapshot.

Then, `--repeat` times, one scan of the whole city through the scan's own entry points
(`scan_start` and `scan_run`): export from PostgreSQL to Parquet, evaluate all programmes on
DuckDB, subtract, explain, upsert. The first run starts from no leads (the leads and runs of
earlier bench runs are deleted first); later runs find the same city unchanged, so they show
the incremental scan (households whose leads were explained from the same stamp are not
explained again). Prints, per run, the scan's own
step timings and wall seconds, CPU seconds (user+sys, this process and DuckDB's threads; and the
PostgreSQL backend serving the scan's connection, read from /proc) and the
peak RSS (resource.getrusage), and the machine's load average: on a shared machine the wall
time lies and CPU seconds are the fair figure. The issue's target is the full city (1.3 M
households) in 60 s and 4 GB.

Per step (export, evaluate, subtract, explain, upsert) it also prints the PostgreSQL backend's
CPU seconds, this process's peak resident memory (VmRSS) and the largest size DuckDB's spill
files reached, sampled every 0.2 s by a thread while the step ran (the steps' boundaries are
the scan's own `_step` calls, observed by wrapping that function; nothing in the product is
changed; explain and upsert go a chunk at a time, each summed over its parts), and for the
explain and upsert steps together the VmRSS just before the first chunk, the peak and the
growth: what a first run holds while it explains and writes its leads. `--skip-first` keeps the leads of an earlier run (so every run is the nightly case:
nothing changed) instead of starting from no leads. A city grown to full size with
`bench_city_scale.py` is measured with `--database-url` (it is never rebuilt here).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sys
import threading
import time
from pathlib import Path

from bench_db import ensure_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ejia_scan_bench")


def build(persons: int) -> None:
    """The city into the registry and the departments' snapshots, by the demo seed's own steps."""
    from django.conf import settings
    from django.core.management import call_command

    from ejia.catalogue.seed import catalogue_seed
    from ejia.demo.city import generate_city
    from ejia.demo.registry_load import registry_load_city
    from ejia.demo.setup import organisation_ensure

    t = time.perf_counter()
    organisation_ensure()
    catalogue_seed()
    call_command("ejia_sources_seed")
    directory = Path(settings.VAR_DIR) / "city" / f"bench-{persons}"
    if not (directory / "persons.parquet").exists():
        generate_city(persons, out_dir=directory, xlsx=False)
    print(f"build: city files in {directory} ({time.perf_counter() - t:.0f} s)", flush=True)
    counts = registry_load_city(directory=directory)
    print(f"build: registry {counts} ({time.perf_counter() - t:.0f} s)", flush=True)
    call_command("ejia_exchange_demo", dir=str(directory / "departments"), max_mb=4096)
    print(f"build: done in {time.perf_counter() - t:.0f} s", flush=True)


def backend_cpu() -> float | None:
    """CPU seconds (user+sys) of the PostgreSQL backend serving this process's connection, from
    /proc (the server runs on this machine); None when it cannot be read."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


STEPS = ("export", "read", "evaluate", "subtract", "explain", "upsert")


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _spill_bytes(roots: list[Path]) -> int:
    """Bytes in DuckDB's spill files (duckdb_temp_*) under the scan's scratch folders."""
    total = 0
    for root in roots:
        for folder, _, files in os.walk(root):
            for name in files:
                if name.startswith("duckdb_temp"):
                    with contextlib.suppress(OSError):
                        total += os.stat(os.path.join(folder, name)).st_size
    return total


class Sampler:
    """Samples (time, PostgreSQL backend CPU, VmRSS, spill bytes) every `every` seconds, and
    records when each of the scan's steps began and ended (by wrapping `scan._step`)."""

    def __init__(self, backend_pid: int | None, roots: list[Path], every: float = 0.2) -> None:
        self.pid, self.roots, self.every = backend_pid, roots, every
        self.samples: list[tuple[float, float | None, float, int]] = []
        # (began, ended) of each part of each step (explain and upsert go a chunk at a time).
        self.steps: dict[str, list[tuple[float, float]]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)

    def sample(self) -> None:
        cpu = _proc_cpu(self.pid) if self.pid else None
        self.samples.append((time.perf_counter(), cpu, _rss_mib(), _spill_bytes(self.roots)))

    def __enter__(self) -> Sampler:
        from ejia.discovery import scan

        self._original = scan._step

        def step(tally, name, wall, cpu):
            self._original(tally, name, wall, cpu)
            self.sample()
            self.steps.setdefault(name, []).append((wall, self.samples[-1][0]))

        scan._step = step
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        from ejia.discovery import scan

        self._stop.set()
        self._thread.join()
        self.sample()
        scan._step = self._original

    def during(self, spans: list[tuple[float, float]]) -> tuple[float | None, float, int]:
        """PostgreSQL backend CPU s (summed over the spans), peak VmRSS MiB and peak spill bytes
        over the (start, end) spans. A span's end is sampled when it ends (`_step`), and a
        chunk's explain begins where the previous chunk's upsert ended, so the sums are close."""
        server: float | None = 0.0
        rss, spill = 0.0, 0
        for start, end in spans:
            inside = [s for s in self.samples if start <= s[0] <= end]
            before = [s for s in self.samples if s[0] <= start]
            first = before[-1] if before else (inside[0] if inside else None)
            last = inside[-1] if inside else first
            if server is not None and first and last and first[1] is not None and last[1] is not None:
                server += last[1] - first[1]
            else:
                server = None
            rss = max(rss, max((s[2] for s in inside), default=0.0))
            spill = max(spill, max((s[3] for s in inside), default=0))
        return server, rss, spill

    def rss_before(self, at: float) -> float:
        """VmRSS MiB of the last sample taken at or before `at`."""
        return max((s for s in self.samples if s[0] <= at), key=lambda s: s[0], default=(0, None, 0.0, 0))[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--database-url", help="the database to scan (instead of DATABASE_URL)")
    parser.add_argument(
        "--skip-first", action="store_true", help="keep the leads of earlier runs: every run finds nothing changed"
    )
    parser.add_argument(
        "--memory",
        help="DuckDB's memory cap for the export (EJIA_DISCOVERY_MEMORY, default 3GB), e.g. 8GB: to see what "
        "a run that does not fit under the product's cap would need",
    )
    args = parser.parse_args()
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url

    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        sys.exit("bench_scan runs on PostgreSQL: set DATABASE_URL=postgres://…")
    ensure_database(url)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if args.memory:
        settings.EJIA_DISCOVERY_MEMORY = args.memory
    print(f"DuckDB memory cap of the export: {getattr(settings, 'EJIA_DISCOVERY_MEMORY', '3GB')}", flush=True)
    call_command("migrate", verbosity=0)

    from ejia.accounts.models import Division
    from ejia.discovery.models import Lead, ScanRun
    from ejia.discovery.scan import scan_run, scan_start
    from ejia.registry.models import Household

    if not Household.objects.exists():
        build(args.persons)
    if not args.skip_first:
        # The bench starts from no leads: the first run creates them, later runs update them.
        Lead.objects.all().delete()
        ScanRun.objects.all().delete()
    elif not Lead.objects.exists():
        sys.exit("--skip-first 需要上一次比对留下的线索：请先不带该选项运行一次。")
    city = Division.objects.get(level=Division.Level.CITY)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend_pid = cursor.fetchone()[0]
    roots = [Path(settings.VAR_DIR) / "discovery", Path.cwd() / ".tmp"]

    for n in range(1, args.repeat + 1):
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_SELF)
        server_before = backend_cpu()
        t = time.perf_counter()
        with Sampler(backend_pid if _proc_cpu(backend_pid) is not None else None, roots) as sampler:
            scan = scan_run(scan_id=scan_start(actor=None, area=city, run=False).pk)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF)
        server_after = backend_cpu()
        server = "n/a" if server_before is None or server_after is None else f"{server_after - server_before:.1f} s"
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        steps = ", ".join(
            f"{k} {scan.timings[k]:.1f} s"
            + (f" (CPU {scan.timings[f'cpu_{k}']:.1f})" if f"cpu_{k}" in scan.timings else "")
            for k in STEPS
            if k in scan.timings
        )
        print(
            f"run {n}: {scan.status}, {scan.households:,} households, {scan.members:,} members, "
            f"{scan.candidates:,} candidates ({scan.timings.get('explained_households', 0):,} explained); "
            f"leads +{scan.leads_new:,} new, {scan.leads_updated:,} found again "
            f"({scan.leads_unchanged:,} unchanged), {scan.leads_closed:,} closed",
            flush=True,
        )
        print(
            f"  wall {wall:.1f} s, CPU {cpu:.1f} s (PostgreSQL backend {server}), "
            f"peak RSS {after.ru_maxrss / 1024:,.0f} MiB ({steps})"
        )
        for k in STEPS:
            if k not in sampler.steps:
                continue
            server_step, rss, spill = sampler.during(sampler.steps[k])
            print(
                f"    {k}: wall {scan.timings[k]:.1f} s, CPU {scan.timings.get(f'cpu_{k}', 0):.1f} s"
                f" + PostgreSQL {'n/a' if server_step is None else f'{server_step:.1f}'} s,"
                f" peak RSS {rss:,.0f} MiB, DuckDB spill {spill / 2**20:,.0f} MiB"
            )
        if "explain" in sampler.steps and "upsert" in sampler.steps:
            # The explain and upsert steps together (a chunk of each in turn): how much the
            # process grew while it explained every candidate and wrote every lead.
            spans = sampler.steps["explain"] + sampler.steps["upsert"]
            began, ended = min(s for s, _ in spans), max(e for _, e in spans)
            server_both, rss, _ = sampler.during([(began, ended)])
            start_rss = sampler.rss_before(began)
            cpu_both = scan.timings.get("cpu_explain", 0) + scan.timings.get("cpu_upsert", 0)
            print(
                f"    explain + upsert: wall {ended - began:.1f} s, CPU {cpu_both:.1f} s"
                f" + PostgreSQL {'n/a' if server_both is None else f'{server_both:.1f}'} s,"
                f" VmRSS {start_rss:,.0f} MiB before, peak {rss:,.0f} MiB (+{rss - start_rss:,.0f} MiB)"
            )
        phases = [k.removeprefix("export_") for k in scan.timings if k.startswith("export_")]
        if phases:
            print(
                "    export phases (wall s, CPU s of this process): "
                + ", ".join(
                    f"{p} {scan.timings[f'export_{p}']:.1f} ({scan.timings[f'cpu_export_{p}']:.1f})" for p in phases
                )
            )
        print(f"  load average {load:.1f} before, {os.getloadavg()[0]:.1f} after, {os.cpu_count()} CPUs", flush=True)


if __name__ == "__main__":
    main()
