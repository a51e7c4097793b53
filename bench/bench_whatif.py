"""Benchmark 影响测算 (what-if): the version in force and a draft of 低保 (income line raised to
1.5 × the standard) in one DuckDB statement over an export-shaped set of Parquet files, and the
per-household diff. The Parquet files are the synthetic city of bench_rules.py at the given
scale, written as the discovery export writes them (households, members, standards).

Usage:
    .venv/bin/python bench/bench_whatif.py [--households 1300000] [--threads 2] [--repeat 3]

Prints figures only. The export itself (PostgreSQL → Parquet) is not timed here: a what-if
reuses the day's export; bench_discovery.py times the export.
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=1_300_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    settings.EJIA_DISCOVERY_THREADS = args.threads
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
