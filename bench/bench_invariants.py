"""Benchmark: `ejia_check_invariants` on a loaded database (target: ≤ 30 s on the demo city).

Usage:
  DATABASE_URL=postgres://…/ejia .venv/bin/python bench/bench_invariants.py [--repeat 3]

Without DATABASE_URL it reads the demo's SQLite file (var/ejia.sqlite3, made by
`./scripts/demo.sh` or `manage.py ejia_demo_seed`). Prints the size of what is checked (audit
events, snapshots and records, batches and lines, memberships, decisions), then each
invariant's time and verdict, best of --repeat runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    from ejia.cases.workflow.models import Decision
    from ejia.core.invariants import run_invariants
    from ejia.core.models import AuditEvent
    from ejia.disbursement.models import PaymentBatch, PaymentLine
    from ejia.registry.models import Membership
    from ejia.verification.models import SourceRecord, SourceSnapshot

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    sizes = {
        "audit events": AuditEvent.objects.count(),
        "snapshots": SourceSnapshot.objects.count(),
        "source records": SourceRecord.objects.count(),
        "payment batches": PaymentBatch.objects.count(),
        "payment lines": PaymentLine.objects.count(),
        "memberships": Membership.objects.count(),
        "decisions": Decision.objects.count(),
    }
    print("; ".join(f"{k} {v:,}" for k, v in sizes.items()))
    best: dict[str, float] = {}
    verdicts: dict[str, str] = {}
    totals = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        for result in run_invariants():
            name = result.invariant.name
            best[name] = min(best.get(name, float("inf")), result.seconds)
            verdicts[name] = "OK" if result.ok else f"FAIL {result.error or result.problems[:2]}"
        totals.append(time.perf_counter() - start)
    for name, seconds in best.items():
        print(f"{name:28} {seconds:7.2f} s  {verdicts[name]}")
    print(
        f"all invariants: best {min(totals):.2f} s, worst {max(totals):.2f} s over {args.repeat} runs (target ≤ 30 s)"
    )


if __name__ == "__main__":
    main()
