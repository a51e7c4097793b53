"""Benchmark: generate the full synthetic city to Parquet (+ department CSV) and report speed.

Usage: .venv/bin/python bench/bench_city.py [--scale full|demo|N] [--seed 42] [--out DIR] [--no-csv] [--xlsx] [--keep]
Prints persons, households, seconds, persons/s and peak RSS (resource.getrusage)."""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", default="full")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-csv", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the output directory")
    parser.add_argument("--xlsx", action="store_true", help="also write the XLSX copies (demo scale)")
    args = parser.parse_args()

    import django

    django.setup()
    from ejia.demo.city import generate_city
    from ejia.demo.management.commands.ejia_city import format_summary

    load_before = os.getloadavg()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="ejia-city-", dir=ROOT / "var"))
    scale = int(args.scale) if args.scale.isdigit() else args.scale
    t = time.perf_counter()
    summary = generate_city(scale, args.seed, out, xlsx=args.xlsx, csv=not args.no_csv)
    seconds = time.perf_counter() - t
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mb = usage.ru_maxrss / 1024
    cpu = usage.ru_utime + usage.ru_stime
    for line in format_summary(summary):
        print(line)
    size_mb = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    print()
    print(f"persons      {summary['persons']:,}")
    print(f"households   {summary['households']:,}")
    print(f"seconds      {seconds:.1f}")
    print(f"persons/s    {summary['persons'] / seconds:,.0f}")
    print(f"peak RSS     {peak_mb:,.0f} MiB")
    print(f"output       {size_mb:,.0f} MiB in {out}")
    print(f"cpu seconds  {cpu:.1f} (user+sys; wall/cpu shows contention from other processes)")
    print(f"cpus         {os.cpu_count()}  load average before {load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}")
    if not args.keep and not args.out:
        shutil.rmtree(out)


if __name__ == "__main__":
    main()
