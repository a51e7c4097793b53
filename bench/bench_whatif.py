"""Benchmark 影响测算 (what-if): the version in force and a draft of 低保 (income line raised to
1.5 × the standard) in one DuckDB statement over an export-shaped set of Parquet files, and the
per-household diff. The Parquet files are the synthetic city of bench_rules.py at the given
scale, written as the discovery export writes them (households, members, standards).

Usage:
    .venv/bin/python bench/bench_whatif.py [--households 1300000] [--threads 2] [--repeat 3]
    .venv/bin/python bench/bench_whatif.py --database-url postgres://…/ejia_fullcity [--repeat 2]

Prints figures only. The export itself (PostgreSQL → Parquet) is not timed here: a what-if
reuses the day's export; bench_discovery.py times the export.

With `--database-url` the bench runs instead the path the catalogue editor runs
(`whatif_start` then `whatif_run`, as the `run_whatif` task does) on that database: a draft of
低保 with the line raised to 1.5 × the standard (saved by `programme_draft_create` as the demo
editor of 民政, `editor_mz`, created with the demo staff when missing), `--repeat` times. The
day's exports are deleted first, so the first run writes the city's export (the product's
`shared_export`, under a file lock) and later runs reuse it, as the product does for every
what-if of the same day and snapshots. Per run: the run's own timings (export, evaluate,
diff), wall and CPU seconds of this process (DuckDB's threads included) and of the PostgreSQL
backend, peak VmRSS and DuckDB's spill files (sampled every 0.2 s), the load average.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
if "--database-url" in sys.argv[:-1]:  # before Django reads the settings
    os.environ["DATABASE_URL"] = sys.argv[sys.argv.index("--database-url") + 1]

import django  # noqa: E402

django.setup()

import pyarrow.parquet as pq  # noqa: E402
from bench_rules import ON, synthetic_city  # noqa: E402
from django.conf import settings  # noqa: E402
from django.utils import timezone  # noqa: E402

from ejia.catalogue.seed import all_programme_specs  # noqa: E402
from ejia.discovery.whatif import SharedExport, diff_export  # noqa: E402
from ejia.rules.spec import CriterionSpec, ProgrammeSpec  # noqa: E402


def raised(spec: ProgrammeSpec) -> ProgrammeSpec:
    criteria = tuple(
        CriterionSpec(c.label, c.expr.replace('< standard("dibao")', '< 1.5 * standard("dibao")'))
        for c in spec.criteria
    )
    amount = (spec.amount or "").replace('standard("dibao") * size', '1.5 * standard("dibao") * size')
    return ProgrammeSpec(
        code=spec.code,
        name=spec.name,
        target=spec.target,
        criteria=criteria,
        amount=amount or None,
        department=spec.department,
    )


def on_database(repeat: int) -> None:
    """The editor's what-if on the database: the first run exports, later runs reuse."""
    import resource
    import shutil

    from bench_scan import Sampler, _proc_cpu
    from django.db import connection

    from ejia.accounts.models import User
    from ejia.catalogue.models import Programme, ProgrammeVersion
    from ejia.catalogue.selectors import programme_current_version
    from ejia.catalogue.services import programme_draft_create
    from ejia.demo.staff import demo_staff_ensure
    from ejia.discovery.whatif import _exports_root, whatif_run, whatif_start

    editor = User.objects.filter(username="editor_mz").first()
    if editor is None:
        demo_staff_ensure()
        editor = User.objects.get(username="editor_mz")
    programme = Programme.objects.get(code="dibao")
    draft = ProgrammeVersion.objects.filter(programme=programme, status=ProgrammeVersion.Status.DRAFT).first()
    if draft is None:
        current = programme_current_version(programme, on=timezone.localdate())
        criteria = [
            {"label": c["label"], "expr": c["expr"].replace('< standard("dibao")', '< 1.5 * standard("dibao")')}
            for c in current.criteria
        ]
        amount = current.amount_expr.replace('standard("dibao") * size', '1.5 * standard("dibao") * size')
        if criteria == current.criteria:
            sys.exit('低保现行版本中找不到“< standard("dibao")”，无法构造测算草稿。')
        draft = programme_draft_create(
            actor=editor,
            programme=programme,
            criteria=criteria,
            amount_expr=amount,
            effective_from=timezone.localdate(),
            change_note="bench_whatif：低保标准提高到1.5倍",
        )
    shutil.rmtree(_exports_root(), ignore_errors=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    roots = [Path(settings.VAR_DIR) / "discovery", Path.cwd() / ".tmp"]
    for n in range(1, repeat + 1):
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_SELF)
        t = time.perf_counter()
        with Sampler(pid if _proc_cpu(pid) is not None else None, roots) as sampler:
            item = whatif_run(run_id=whatif_start(actor=editor, version=draft, run=False).pk)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_SELF)
        server, rss, spill = sampler.during(t, time.perf_counter())
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        result = item.result or {}
        totals = result.get("totals", {})
        print(
            f"run {n}: {item.status}{' ' + item.error if item.error else ''}, "
            f"export {'reused' if item.export_reused else 'written'}, {result.get('households', 0):,} households; "
            f"低保 eligible {result.get('before', 0):,} → {result.get('after', 0):,} "
            f"(+{totals.get('gained', 0):,} −{totals.get('lost', 0):,}, {totals.get('changed', 0):,} other amount, "
            f"+{totals.get('gained_fen', 0) / 100:,.2f} 元/month)",
            flush=True,
        )
        print(
            f"  wall {wall:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in (item.timings or {}).items())}), "
            f"CPU {cpu:.1f} s + PostgreSQL {'n/a' if server is None else f'{server:.1f}'} s, "
            f"peak RSS {rss:,.0f} MiB (process so far {after.ru_maxrss / 1024:,.0f} MiB), "
            f"DuckDB spill {spill / 2**20:,.0f} MiB; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=1_300_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", help="run the editor's what-if on this PostgreSQL database")
    args = parser.parse_args()
    settings.EJIA_DISCOVERY_THREADS = args.threads
    if args.database_url:
        on_database(args.repeat)
        return
    specs = all_programme_specs()
    dibao = next(s for s in specs if s.code == "dibao")
    draft = raised(dibao)
    assert draft != dibao, "the draft must differ from the version in force"
    t = time.perf_counter()
    households, members, standards = synthetic_city(args.households, args.seed)
    print(f"city: {households.num_rows:,} households, {members.num_rows:,} members ({time.perf_counter() - t:.1f} s)")
    with tempfile.TemporaryDirectory(prefix="bench-whatif-") as folder:
        path = Path(folder)
        for name, table in (("households", households), ("members", members), ("standards", standards)):
            pq.write_table(table, path / f"{name}.parquet", row_group_size=100_000)
        export = SharedExport(path, timezone.now(), households.num_rows, members.num_rows, [])
        times = []
        for _ in range(args.repeat):
            t, cpu = time.perf_counter(), time.process_time()
            changes, totals = diff_export(export, published=dibao, draft=draft, on=ON, in_force=specs)
            times.append((time.perf_counter() - t, time.process_time() - cpu))
        gained = sum(1 for c in changes if c.after and not c.before)
        money = sum(c.delta_fen for c in changes)
        print(
            f"what-if 低保 ×1.5 over {households.num_rows:,} households, {args.threads} threads: "
            f"eligible before {totals['before']:,}, after {totals['after']:,}; "
            f"{len(changes):,} changed ({gained:,} gained), +{money / 100:,.2f} 元/month"
        )
        for i, (wall, cpu) in enumerate(times, 1):
            print(f"  run {i}: wall {wall:.2f} s, CPU {cpu:.2f} s")
        print(f"best wall {min(w for w, _ in times):.2f} s (target ≤ 10 s at 1.3 M households)")


if __name__ == "__main__":
    main()
