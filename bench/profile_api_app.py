"""Queries and CPU per call of the citizens' app mix (bench/bench_api_app.py), in this process.

Usage:
  .venv/bin/python bench/profile_api_app.py [--repeat 50] [--cprofile 25] [--sql NAME]
      [--database-url postgres://postgres@127.0.0.1:5432/ejia_bench_app]

Runs against the database bench_api_app.py seeded (run it once first), with production settings
and the bench keys, through Django's test client (no server, no network). Logs in one seeded
citizen through the real endpoints (the code read from the SMS log), then requests each
operation of the mix once to warm up and `--repeat` times: printed per operation the SQL
queries per call, their time, the median wall and CPU time of a call. `--sql NAME` prints the
queries of NAME's last call; `--cprofile N` the N functions with the most own CPU time (or
`--sort cumulative`) over all calls (`--only NAME`: of that operation alone).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import POOR_FAMILY, bench_env
from bench_api_app import APP, OUT, READS, SEED_FILE, new_applicant_id, phone_of, sms_code, submit_body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--cprofile", type=int, default=0)
    parser.add_argument("--writes", type=int, default=10, help="submits and withdrawals (0: none)")
    parser.add_argument("--sql", default="")
    parser.add_argument("--only", default="", help="profile only this operation")
    parser.add_argument("--sort", default="tottime", help="cProfile order: tottime or cumulative")
    parser.add_argument("--filter", default="", help="cProfile: only functions whose file matches this regex")
    parser.add_argument("--callers", default="", help="cProfile: who calls the functions matching this regex")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ejia_bench_app")
    args = parser.parse_args()
    os.environ.update(bench_env(args.database_url, OUT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from ejia.api.app_auth import citizen_token_issue
    from ejia.api.auth import token_issue
    from ejia.api.models import ApiClient

    seeded = json.loads(SEED_FILE.read_text("utf-8"))
    app = ApiClient.objects.get(client_id="bench-app")
    app_token, _, _ = token_issue(app)
    client = Client(HTTP_X_FORWARDED_PROTO="https", HTTP_HOST="127.0.0.1")
    app_auth = {"Authorization": f"Bearer {app_token}"}
    sms_log = OUT / "var" / "sms.log"
    for i in reversed(range(seeded["citizens"])):  # the last ones: the load runs log in the first ones
        phone = phone_of(i)
        start = sms_log.stat().st_size if sms_log.exists() else 0
        sent = client.post(f"{APP}/sms-code", {"phone": phone}, content_type="application/json", headers=app_auth)
        if sent.status_code == 202:
            break
        if sent.status_code != 429:
            raise SystemExit(f"sms-code: {sent.status_code} {sent.content[:300]}")
    else:
        raise SystemExit("every seeded phone is throttled (5 codes an hour)")
    answer = client.post(
        f"{APP}/token",
        {"phone": phone, "code": sms_code(sms_log, phone, start)},
        content_type="application/json",
        headers=app_auth,
    )
    me = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    application = client.get(f"{APP}/me/applications", headers=me).json()[0]["id"]
    household = client.get(f"{APP}/me/households", headers=me).json()[0]["id"]
    calls = {
        "app.applications": lambda: client.get(f"{APP}/me/applications", headers=me),
        "app.application": lambda: client.get(f"{APP}/me/applications/{application}", headers=me),
        "app.households": lambda: client.get(f"{APP}/me/households", headers=me),
        "app.decisions": lambda: client.get(f"{APP}/me/households/{household}/decisions", headers=me),
        "app.payments": lambda: client.get(f"{APP}/me/households/{household}/payments", headers=me),
        "catalogue.programmes": lambda: client.get("/api/v1/catalogue/programmes", headers=app_auth),
        "catalogue.self_check": lambda: client.post(
            "/api/v1/catalogue/self-check", {"answers": POOR_FAMILY}, content_type="application/json", headers=app_auth
        ),
    }
    assert list(calls) == [name for name, _ in READS]
    profiler = cProfile.Profile(time.process_time) if args.cprofile else None  # CPU, not waits
    print(f"{'operation':<24} {'queries':>7} {'SQL ms':>7} {'wall ms':>8} {'CPU ms':>7}")
    for name, call in calls.items():
        if args.only and name != args.only:
            continue
        answer = call()
        if answer.status_code != 200:
            raise SystemExit(f"{name}: {answer.status_code} {answer.content[:300]}")
        walls, cpus = [], []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                wall, cpu = time.perf_counter(), time.process_time()
                if profiler:
                    profiler.enable()
                call()
                if profiler:
                    profiler.disable()
                walls.append((time.perf_counter() - wall) * 1000)
                cpus.append((time.process_time() - cpu) * 1000)
        sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
        print(
            f"{name:<24} {len(queries):>7} {sql_ms:>7.1f} {statistics.median(walls):>8.1f} {statistics.median(cpus):>7.1f}"
        )
        if name == args.sql:
            for q in queries.captured_queries:
                print("   ", q["time"], q["sql"][:400])
    writes = {"app.submit": ([], [], []), "app.withdraw": ([], [], [])}
    for n in range(args.writes if args.only in ("", "app.submit", "app.withdraw") else 0):
        applicant, _ = citizen_token_issue(client=app, phone=f"139{os.getpid() % 100000:05d}{n:03d}")
        headers = {"Authorization": f"Bearer {applicant}"}
        number = new_applicant_id()
        body = submit_body(number, seeded)
        steps = (
            ("app.submit", f"{APP}/me/applications", body, {"Idempotency-Key": f"profile-{number}"}, 201),
            ("app.withdraw", None, {"confirmed": True, "reason": "压测撤回"}, {}, 200),
        )
        made = None
        for name, path, payload, extra, expected in steps:
            path = path or f"{APP}/me/applications/{made['id']}/withdraw"
            queries_n, sql_ms, cpu_ms = writes[name]
            profiling = profiler and (not args.only or args.only == name)
            with CaptureQueriesContext(connection) as queries:
                cpu = time.process_time()
                if profiling:
                    profiler.enable()
                answer = client.post(path, payload, content_type="application/json", headers={**headers, **extra})
                if profiling:
                    profiler.disable()
                cpu_ms.append((time.process_time() - cpu) * 1000)
            if answer.status_code != expected:
                raise SystemExit(f"{name}: {answer.status_code} {answer.content[:300]}")
            made = answer.json()
            queries_n.append(len(queries))
            sql_ms.append(sum(float(q["time"]) for q in queries.captured_queries) * 1000)
            if name == args.sql and n == args.writes - 1:
                for q in queries.captured_queries:
                    print("   ", q["time"], q["sql"][:400])
    for name, (queries_n, sql_ms, cpu_ms) in writes.items():
        if queries_n:
            print(
                f"{name:<24} {statistics.median(queries_n):>7.0f} {statistics.median(sql_ms):>7.1f} "
                f"{'':>8} {statistics.median(cpu_ms):>7.1f}   (median of {len(queries_n)})"
            )
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(
            *([args.filter] if args.filter else []), args.cprofile
        )
        if args.callers:
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_callers(args.callers)
        print(out.getvalue())


if __name__ == "__main__":
    main()
