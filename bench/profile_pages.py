"""Queries and time per staff page, the pages of the load scenario (bench/locustfile.py).

Usage:
  .venv/bin/python bench/profile_pages.py [--repeat 20] [--user window_clerk] [--page "case list"]
      [--cprofile 25] [--sql] [--database-url postgres://postgres@127.0.0.1:5432/ejia_bench]

Runs in this process against the database bench/bench_load.py seeded (the demo city), with
production settings and the bench keys, through Django's test client (no server, no network):
each page is requested once to warm up, then `--repeat` times; printed per page: the number
of SQL queries, their time, the median and p90 wall time of the whole request and the median
CPU time of this process (Python and template work, without the database's). `--sql`
prints each query of the last request; `--cprofile N` the N functions with the most own time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_load import BENCH_ENV, OUT  # noqa: E402

CASE_LINK_RE = re.compile(r'href="(/staff/cases/[0-9a-f-]{36}/)"')
PROCEDURE_LINK_RE = re.compile(r'href="(/staff/work/r/[0-9a-f-]{36}/)"')


def setup(database_url: str) -> None:
    os.environ.update(BENCH_ENV)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("EJIA_VAR_DIR", str(OUT / "var"))
    os.environ.setdefault("EJIA_AUDIT_ANCHOR_FILE", str(OUT / "var" / "audit-anchor.json"))
    import django

    django.setup()


def pages_for(client) -> list[tuple[str, str, dict | None]]:
    """(name, path, POST data or None) of the scenario's staff pages, with a case, a procedure
    and a household search taken from what the pages themselves link to."""
    from ejia.core import crypto
    from ejia.registry.models import ID_PURPOSE, Membership

    cases = CASE_LINK_RE.findall(client.get("/staff/cases/", secure=True).content.decode())
    procedures = PROCEDURE_LINK_RE.findall(client.get("/staff/work/?tab=unit", secure=True).content.decode())
    member = Membership.objects.filter(date_out__isnull=True).select_related("person").order_by("pk").first()
    number = crypto.decrypt(member.person.id_number_ciphertext, purpose=ID_PURPOSE)
    found = client.post("/staff/registry/households/", {"q": number}, secure=True)
    pages = [
        ("staff home", "/staff/", None),
        ("work queue", "/staff/work/", None),
        ("work queue (unit)", "/staff/work/?tab=unit", None),
        ("work queue (overdue)", "/staff/work/?tab=overdue", None),
        ("case list", "/staff/cases/", None),
        ("household search", "/staff/registry/households/", None),
        ("household search result", found["Location"], None),
        ("catalogue", "/programmes/", None),
    ]
    if cases:
        pages.append(("case page", cases[0], None))
    if procedures:
        pages.append(("procedure page", procedures[0], None))
    return pages


def measure(client, path: str, repeat: int, *, sql: bool, cprofile: int):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(path, secure=True)
    walls, cpus, query_counts, query_ms = [], [], [], []
    profiler = cProfile.Profile() if cprofile else None
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as captured:
            t, c = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            response = client.get(path, secure=True)
            if profiler:
                profiler.disable()
            walls.append((time.perf_counter() - t) * 1000)
            cpus.append((time.process_time() - c) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: HTTP {response.status_code}")
        query_counts.append(len(captured.captured_queries))
        query_ms.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
    if sql:
        for q in captured.captured_queries:
            print(f"      {float(q['time']) * 1000:6.1f} ms  {q['sql'][:300]}")
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(cprofile)
        print(out.getvalue())
    walls.sort()
    return {
        "queries": max(query_counts),
        "query_ms": statistics.median(query_ms),
        "p50": statistics.median(walls),
        "cpu": statistics.median(cpus),
        "p90": walls[int(len(walls) * 0.9) - 1] if len(walls) >= 10 else walls[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--user", action="append", help="demo account(s); default: the scenario's three")
    parser.add_argument("--page", help="only the page of this name")
    parser.add_argument("--sql", action="store_true")
    parser.add_argument("--cprofile", type=int, default=0)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ejia_bench")
    args = parser.parse_args()
    setup(args.database_url)
    from django.conf import settings
    from django.test import Client
    from django.test.utils import setup_test_environment

    from ejia.accounts.models import User

    setup_test_environment()  # the test client's signals; the database is the bench one
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    print(f"{'user':<16} {'page':<26} {'queries':>7} {'sql ms':>7} {'p50 ms':>7} {'p90 ms':>7} {'cpu ms':>7}")
    for username in args.user or ["window_clerk", "county_reviewer", "centre_director"]:
        client = Client()
        client.force_login(User.objects.get(username=username))
        _second_factor(client, username)
        for name, path, _data in pages_for(client):
            if args.page and args.page != name:
                continue
            r = measure(client, path, args.repeat, sql=args.sql, cprofile=args.cprofile)
            print(
                f"{username:<16} {name:<26} {r['queries']:>7} {r['query_ms']:>7.1f} {r['p50']:>7.1f} {r['p90']:>7.1f} {r['cpu']:>7.1f}"
            )


def _second_factor(client, username: str) -> None:
    """Mark the session as past the second factor when django-otp's TOTP is installed."""
    from django.apps import apps

    if not apps.is_installed("django_otp.plugins.otp_totp"):
        return
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from ejia.accounts.models import User

    user = User.objects.get(username=username)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="profile_pages", confirmed=True
    )
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()


if __name__ == "__main__":
    main()
