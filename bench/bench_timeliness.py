"""Benchmark: the timeliness summaries (parts "cases" and "backlog") and the 办理时效 section.

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/ejia_dash_bench \
       .venv/bin/python bench/bench_timeliness.py [--months 12] [--samples 20]

Reads a database that already holds cases and their procedures (the dashboards benchmark
city). Inside one transaction that is rolled back at the end (nothing is kept, other readers
never see the rows): refreshes the last `--months` months of the two parts, timing each month,
then builds the section for the city, its largest county and that county's largest township
`--samples` times each and prints p50/p95 of the server time of the section alone."""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


class Rollback(Exception):
    pass


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import transaction
    from django.db.models import Count
    from django.utils import timezone

    from ejia.accounts.models import Division
    from ejia.cases.models import Case
    from ejia.cases.workflow.models import StepRecord
    from ejia.dashboards.refresh import AreaTree, recent_months, refresh_month
    from ejia.dashboards.sections import timeliness
    from ejia.dashboards.selectors import CHILD_LEVEL, Query
    from ejia.dashboards.types import Crumb

    print(f"cases {Case.objects.count():,}, step records {StepRecord.objects.count():,}")
    months = recent_months(count=args.months)
    try:
        with transaction.atomic():
            tree = AreaTree.load()
            total = 0.0
            for month in months:
                began = time.perf_counter()
                rows = refresh_month(month=month, trigger="bench", parts=["cases", "backlog"], tree=tree)
                spent = time.perf_counter() - began
                total += spent
                print(f"refresh {month:%Y-%m}: {rows:,} rows in {spent:.2f} s")
            print(f"refresh of {len(months)} months: {total:.1f} s")

            def query(division: Division) -> Query:
                children = tuple(
                    Crumb(c, n) for c, n in Division.objects.filter(parent=division).values_list("code", "name")
                )
                return Query(
                    area=Crumb(division.code, division.full_name),
                    level=division.level,
                    child_level=CHILD_LEVEL.get(division.level, ""),
                    children=children,
                    months=tuple(months),
                )

            busiest = (
                Case.objects.values("division__parent__parent__code", "division__parent__code")
                .annotate(n=Count("id"))
                .order_by("-n")
                .first()
            )
            areas = [
                Division.objects.get(level="city"),
                Division.objects.get(code=busiest["division__parent__parent__code"]),
                Division.objects.get(code=busiest["division__parent__code"]),
            ]
            for area in areas:
                q = query(area)
                spent = []
                for _ in range(args.samples):
                    began = time.perf_counter()
                    timeliness.build(q)
                    spent.append((time.perf_counter() - began) * 1000)
                print(
                    f"section {area.level} {area.code}: p50 {statistics.median(spent):.1f} ms, "
                    f"p95 {_p95(spent):.1f} ms over {args.samples}"
                )
            print(f"(now {timezone.localtime():%Y-%m-%d %H:%M}; rolled back)")
            raise Rollback
    except Rollback:
        pass


if __name__ == "__main__":
    main()
