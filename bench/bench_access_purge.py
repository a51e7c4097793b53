"""Benchmark (issue 20): seal, verify and purge of the API access log on PostgreSQL.

Usage:
  .venv/bin/python bench/bench_access_purge.py [--rows 2000000] [--days 190]
      [--database-url postgres://postgres@127.0.0.1:5432/ejia_accesslog_bench]

1. The database is dropped, created and migrated (it must be a bench database: its name has to
   contain "bench").
2. `--rows` access events are inserted set-based (one INSERT … SELECT generate_series), their
   times spread evenly over the last 400 days, each shaped as `audit_call` writes one (client,
   method, path, scope, masked phone), unsealed.
3. Timed, each with the load average before it:
   - seal: `access_seal()` seals them all (one `audit.access_seal` chain event per 10,000);
   - verify: `audit_verify()` walks the chain and recomputes every seal;
   - purge: `access_purge(days=--days)` deletes the seals whose rows are all older (about half);
   - verify again, after the purge.
   For each: wall seconds, this process's CPU seconds, the PostgreSQL backend's CPU seconds
   (from /proc), rows handled (the purge: deleted) per wall second, and this process's peak RSS.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "access"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ejia_accesslog_bench"
sys.path.insert(0, str(ROOT))

INSERT = """
INSERT INTO core_accessevent (created_at, actor_id, actor_label, action, object_type, object_id, data)
SELECT now() - interval '400 days' * (1 - g::float8 / %(rows)s),
       NULL,
       'svc-dept-' || (g %% 17) || '（滨城区部门接口账号）',
       'api.call',
       'api.apiclient',
       'dept-' || (g %% 17),
       jsonb_build_object(
           'client_id', 'dept-' || (g %% 17),
           'method', CASE WHEN g %% 5 = 0 THEN 'POST' ELSE 'GET' END,
           'path', '/api/v1/department/requests/' || (g %% 100000),
           'scope', 'department:requests',
           'phone', '137****' || lpad((g %% 10000)::text, 4, '0'))
FROM generate_series(1, %(rows)s) AS g
"""


def recreate(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: not a bench database")
    with psycopg.connect(base + "/postgres", autocommit=True) as con:
        con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a PostgreSQL backend process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(label: str, rows, fn, backend_pid: int):
    """Run fn once and print its figures; `rows` is a count, or a function of fn's result."""
    load = os.getloadavg()[0]
    wall, cpu, server = time.perf_counter(), own_cpu(), backend_cpu(backend_pid)
    result = fn()
    wall = time.perf_counter() - wall
    cpu = own_cpu() - cpu
    server = backend_cpu(backend_pid) - server
    rows = rows(result) if callable(rows) else rows
    print(
        f"{label:14} {wall:8.1f} s wall  {cpu:7.1f} s CPU (bench)  {server:7.1f} s CPU (postgres)  "
        f"{rows / wall if wall else 0:10,.0f} rows/s  peak RSS {peak_rss_mb():6.0f} MB  load {load:.2f}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--days", type=int, default=190)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    anchor = OUT / "audit-anchor.json"
    anchor.unlink(missing_ok=True)
    os.environ["EJIA_AUDIT_ANCHOR_FILE"] = str(anchor)

    recreate(args.database_url)
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--verbosity", "0"], check=True, env=os.environ.copy()
    )
    print(f"migrated in {time.perf_counter() - start:.1f} s; cores {os.cpu_count()}; load {os.getloadavg()}")

    import django

    django.setup()
    from django.db import connection

    from ejia.core.audit import PURGE_ACTION, SEAL_ACTION, access_purge, access_seal, audit_verify
    from ejia.core.models import AccessEvent, AuditEvent

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]

    def insert():
        with connection.cursor() as cursor:
            cursor.execute(INSERT, {"rows": args.rows})
            cursor.execute("ANALYZE core_accessevent")

    measure("insert", args.rows, insert, pid)

    def size() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('core_accessevent'))")
            return cursor.fetchone()[0]

    print(f"access log: {AccessEvent.objects.count():,} rows, {size()} with its indexes")

    sealed = measure("seal", args.rows, access_seal, pid)
    print(f"  {sealed.sealed:,} rows in {sealed.seals} seal events")
    verified = measure("verify", args.rows, lambda: audit_verify(check_anchor=False), pid)
    print(f"  {verified}")
    assert verified.ok, str(verified)

    old = AccessEvent.objects.count()
    purged = measure("purge", lambda r: r.rows, lambda: access_purge(days=args.days), pid)
    print(
        f"  older than {purged.days} days: {purged.rows:,} rows of {purged.seals} seals deleted in "
        f"{purged.events} purge events ({AuditEvent.objects.filter(action=PURGE_ACTION).count()} in the chain); "
        f"{old - purged.rows:,} rows left; kept broken: {purged.broken}"
    )
    print(f"access log after the purge: {size()} (before VACUUM)")
    left = AccessEvent.objects.count()
    verified = measure("verify after", left, lambda: audit_verify(check_anchor=False), pid)
    print(f"  {verified}")
    assert verified.ok, str(verified)
    again = measure("purge again", lambda r: r.rows, lambda: access_purge(days=args.days), pid)
    print(f"  a second purge: {again.rows} rows, {again.events} events")
    print(f"seal events in the chain: {AuditEvent.objects.filter(action=SEAL_ACTION).count()}")


if __name__ == "__main__":
    main()
