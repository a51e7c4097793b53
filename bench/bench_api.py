"""API benchmark (issue 20): a department system's and the catalogue's mix against gunicorn with
production settings, all on this machine's loopback.

Usage:
  .venv/bin/python bench/bench_api.py [--threads 8] [--run-time 30] [--workers 4] [--port 8766]
      [--database-url sqlite:///… | postgres://postgres@127.0.0.1:5432/ejia_bench_api] [--reuse]

1. A fresh database (SQLite in bench/out/api/ by default, or the PostgreSQL one named; dropped
   and created unless --reuse) is migrated and loaded with the organisation, the catalogue, the
   procedures and the department sources; one department client (滨城区医保, scopes
   catalogue:read + department:requests, no rate limit) is registered with `ejia_api_client`.
2. gunicorn starts with config/gunicorn.conf.py and production settings (loopback).
3. The client takes ONE token (POST /api/v1/oauth2/client/token), then `--threads` threads,
   each on its own keep-alive connection, call the mix in a loop for `--run-time` seconds
   (after a 5 s unmeasured warm-up): programmes list, one programme, standards of a county, the
   self-check, the questions, the department's routed requests. Every call is a full API call:
   token verification, client lookup, rate-limit count, policy, audit event.
4. Printed: requests/s, p50/p95/p99 (ms) overall and per operation, non-2xx count, and the CPU
   time of gunicorn's processes per request.

The load generator shares the two cores with the server: its CPU is printed too.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "api"

POOR_FAMILY = {
    "place": {"township": "371602001"},
    "size": {"size": 3},
    "ages": {"elderly80": 0, "elderly60": 1, "children": 1, "college": 0, "jobless": 1},
    "school": {"junior": 1},
    "situation": {"items": ["none"]},
    "income": {"amount": "900"},
    "assets": {"amount": "2000"},
    "housing": {"housing_condition": "owned_ok", "other_houses": "no", "car": "no", "business": "no"},
    "health": {"items": ["none"]},
    "supporter": {"supporter": "no"},
    "costs": {"medical": "3000", "education": "500", "events": ["none"]},
}
# (name, method, path, body, weight): a department system polls its queue most.
MIX = [
    ("department.requests", "GET", "/api/v1/department/requests", None, 4),
    ("catalogue.programmes", "GET", "/api/v1/catalogue/programmes?q=db", None, 2),
    ("catalogue.programme", "GET", "/api/v1/catalogue/programmes/dibao?county=371602", None, 2),
    ("catalogue.standards", "GET", "/api/v1/catalogue/standards/371602", None, 2),
    ("catalogue.questions", "GET", "/api/v1/catalogue/self-check/questions", None, 1),
    ("catalogue.self_check", "POST", "/api/v1/catalogue/self-check", {"answers": POOR_FAMILY}, 1),
]

SEED = """
from ejia.demo.setup import organisation_ensure
from ejia.catalogue.seed import catalogue_seed
from django.core.management import call_command
organisation_ensure()
catalogue_seed()
call_command("ejia_procedures_seed")
call_command("ejia_sources_seed")
"""


def bench_env(database_url: str, out: Path = OUT) -> dict[str, str]:
    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings_production",
        "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "0" * 40,
        "EJIA_FIELD_KEYS": "k1:ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc=",
        "EJIA_FIELD_KEY_ID": "k1",
        "EJIA_BLIND_INDEX_KEY": "dev-only-blind-index-key",
        "EJIA_AUDIT_KEY": "dev-only-audit-chain-key",
        "EJIA_API_SIGNING_KEY": key.decode("ascii"),
        "EJIA_VAR_DIR": str(out / "var"),
        "EJIA_AUDIT_ANCHOR_FILE": str(out / "var" / "audit-anchor.json"),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "EJIA_TRUSTED_PROXIES": "127.0.0.1",
        "DATABASE_URL": database_url,
    }


def manage(env: dict, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        raise SystemExit(f"manage.py {' '.join(args[:2])} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def database_load(env: dict, url: str, seed: str, *, reuse: bool) -> None:
    """Unless `reuse`: the database dropped and created (or the SQLite file removed) and, once
    migrated, loaded by the `seed` code (run by `manage.py shell -c`). Always migrated, static
    files collected."""
    if not reuse:
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        else:
            parts = urllib.parse.urlsplit(url)
            name = parts.path.lstrip("/")
            admin = f"{parts.scheme}://{parts.netloc}/postgres"
            for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'):
                subprocess.run(["psql", admin, "-q", "-c", sql], check=True)
    started = time.monotonic()
    manage(env, "migrate", "--noinput", "-v", "0")  # also a reused one: the code may have moved on
    if not reuse:
        manage(env, "shell", "-c", seed)
        print(f"database loaded in {time.monotonic() - started:.0f} s")
    manage(env, "collectstatic", "--noinput", "-v", "0")


def client_secret(env: dict, client_id: str, *create: str) -> str:
    """A fresh secret of the client `client_id`: created with the `ejia_api_client create`
    options `create` the first time, rotated (no grace) afterwards."""
    if client_id not in manage(env, "ejia_api_client", "list"):
        out = manage(env, "ejia_api_client", "create", f"--client-id={client_id}", *create)
    else:
        out = manage(env, "ejia_api_client", "rotate", f"--client-id={client_id}", "--grace-hours=0")
    return next(line for line in out.splitlines() if "只显示这一次" in line).split("：")[-1].strip()


def prepare(env: dict, url: str, *, reuse: bool) -> str:
    """The database loaded, and a fresh secret of the department client."""
    database_load(env, url, SEED, reuse=reuse)
    return client_secret(
        env,
        "bench-yb",
        "--name=滨城区医保业务系统（压测）",
        "--kind=department",
        "--scope=catalogue:read",
        "--scope=department:requests",
        "--unit-division=371602",
        "--unit-department=yb",
        "--rate-limit=0",
    )


def start_gunicorn(env: dict, *, port: int, workers: int, out: Path = OUT, extra: tuple = ()) -> subprocess.Popen:
    """gunicorn with config/gunicorn.conf.py on loopback; `extra` are more command-line options
    (e.g. --worker-class gthread --threads 4)."""
    log = out / "gunicorn.log"
    env = dict(env, EJIA_ACCESS_LOG=str(log), EJIA_ERROR_LOG=str(log))
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "-c",
            "config/gunicorn.conf.py",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            *extra,
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/v1/openapi.json", headers={"X-Forwarded-Proto": "https"})
            connection.getresponse().read()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {log}") from None
            time.sleep(0.3)


def token(port: int, secret: str, client_id: str = "bench-yb") -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret})
    connection.request(
        "POST",
        "/api/v1/oauth2/client/token",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Forwarded-Proto": "https"},
    )
    answer = connection.getresponse()
    data = json.loads(answer.read())
    if answer.status != 200:
        raise SystemExit(f"no token: {answer.status} {data}")
    return data["access_token"]


def bearer_headers(access_token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {access_token}",
        "X-Forwarded-Proto": "https",
        "Content-Type": "application/json",
    }


class Caller:
    """One load thread's keep-alive connection: `call(name, method, path, body, headers)` makes
    one request with the thread's headers (plus `headers`), records its time and status once
    the warm-up is over, and returns (status, parsed JSON answer or None)."""

    def __init__(self, port: int, headers: dict[str, str], warm_until: float, samples: list, errors: list):
        self.port, self.headers, self.warm_until = port, headers, warm_until
        self.samples, self.errors = samples, errors
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def __call__(self, name: str, method: str, path: str, body=None, headers: dict | None = None):
        payload = json.dumps(body) if body is not None else None
        now = time.monotonic()
        started = time.perf_counter()
        raw = b""
        try:
            self.connection.request(method, path, body=payload, headers={**self.headers, **(headers or {})})
            answer = self.connection.getresponse()
            raw = answer.read()
            status = answer.status
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            status = 0
        elapsed = (time.perf_counter() - started) * 1000
        if now >= self.warm_until:
            self.samples.append((name, elapsed))
            if not 200 <= status < 300:
                self.errors.append((name, status, raw[:200]))
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, None


def mix_steps(mix) -> list:
    """A weighted MIX of (name, method, path, body, weight) as steps for `load_run`."""
    return [(lambda call, m=m: call(m[0], m[1], m[2], m[3])) for m in mix for _ in range(m[4])]


def cpu_of_tree(root: int) -> int:
    """utime + stime ticks of a process and its children (gunicorn master + workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2 :].split()
        if int(entry.name) == root or int(fields[1]) == root:
            total += int(fields[11]) + int(fields[12])
    return total


def _ticks(pid: int) -> int | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def database_backends(url: str) -> dict[int, int] | None:
    """{pid: utime + stime ticks} of the PostgreSQL backends connected to `url`'s database (the
    server on this machine, its /proc readable); None for SQLite or when they cannot be read."""
    if not url.startswith("postgres"):
        return None
    import psycopg

    base, _, name = url.rpartition("/")
    try:
        with psycopg.connect(base + "/postgres", autocommit=True) as con:
            pids = [row[0] for row in con.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])]
    except psycopg.Error:
        return None
    found = {pid: _ticks(pid) for pid in pids}
    return {pid: ticks for pid, ticks in found.items() if ticks is not None} or None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] if ordered else 0.0


@dataclass
class LoadResult:
    seconds: int
    samples: list[tuple[str, float]]
    errors: list[tuple[str, int, bytes]]
    server_cpu: float  # seconds, gunicorn master + workers, measured part only
    own_cpu: float  # seconds, this load generator
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]
    # seconds, the PostgreSQL backends serving the database (None: not measured). A backend
    # that started during the run counts whole; one that ended during it is missed.
    database_cpu: float | None = None


def load_run(
    port: int, server_pid: int, plans: list[tuple[dict, list]], seconds: int, warm_up: int = 5, database_url: str = ""
) -> LoadResult:
    """One thread per (headers, steps) in `plans`, each on its own keep-alive connection,
    running its steps round-robin (starting at its own offset) for `warm_up` unmeasured
    seconds and then `seconds` measured ones. A step is `step(call)`, `call` a Caller."""
    samples: list[tuple[str, float]] = []
    errors: list[tuple[str, int, bytes]] = []
    warm_until = time.monotonic() + warm_up
    until = warm_until + seconds

    def run(n: int, headers: dict, steps: list) -> None:
        call = Caller(port, headers, warm_until, samples, errors)
        i = n
        while time.monotonic() < until:
            steps[i % len(steps)](call)
            i += 1

    threads = [threading.Thread(target=run, args=(n, h, steps)) for n, (h, steps) in enumerate(plans)]
    own_before = resource.getrusage(resource.RUSAGE_SELF)
    for t in threads:
        t.start()
    time.sleep(max(0.0, warm_until - time.monotonic()))
    load_before = os.getloadavg()
    ticks_before = cpu_of_tree(server_pid)
    backends_before = database_backends(database_url)
    for t in threads:
        t.join()
    ticks = cpu_of_tree(server_pid) - ticks_before
    backends_after = database_backends(database_url)
    database_cpu = None
    if backends_before is not None and backends_after is not None:
        backend_ticks = sum(after - backends_before.get(pid, 0) for pid, after in backends_after.items())
        database_cpu = backend_ticks / os.sysconf("SC_CLK_TCK")
    load_after = os.getloadavg()
    own_after = resource.getrusage(resource.RUSAGE_SELF)
    own = (own_after.ru_utime + own_after.ru_stime) - (own_before.ru_utime + own_before.ru_stime)
    return LoadResult(
        seconds, samples, errors, ticks / os.sysconf("SC_CLK_TCK"), own, load_before, load_after, database_cpu
    )


def load_report(title: str, result: LoadResult, names: list[str]) -> None:
    times = [ms for _, ms in result.samples]
    count = len(times)
    print(f"\n{title}")
    print(f"  requests: {count}   rps: {count / result.seconds:.1f}   non-2xx: {len(result.errors)}")
    print(
        f"  latency ms: p50 {percentile(times, 50):.1f}   p95 {percentile(times, 95):.1f}   p99 {percentile(times, 99):.1f}"
    )
    if count:
        print(
            f"  server CPU: {result.server_cpu:.1f} s, {result.server_cpu / count * 1000:.1f} ms per request   "
            f"load generator CPU: {result.own_cpu:.1f} s ({result.own_cpu / count * 1000:.1f} ms per request)"
        )
        if result.database_cpu is not None:
            both = (result.server_cpu + result.database_cpu) / count
            print(
                f"  PostgreSQL backends' CPU: {result.database_cpu:.1f} s, {result.database_cpu / count * 1000:.1f} ms "
                f"per request; server + PostgreSQL {both * 1000:.1f} ms per request: two free cores would allow "
                f"about {2 / both:.0f} requests/s"
            )
    print(
        "  load average (1, 5, 15 min): before "
        + " ".join(f"{x:.2f}" for x in result.load_before)
        + "   after "
        + " ".join(f"{x:.2f}" for x in result.load_after)
    )
    for name in names:
        mine = [ms for n, ms in result.samples if n == name]
        if mine:
            print(
                f"  {name:<24} n={len(mine):<6} p50 {percentile(mine, 50):7.1f}   p95 {percentile(mine, 95):7.1f}"
                f"   p99 {percentile(mine, 99):7.1f}"
            )
    if result.errors:
        print("  non-2xx (first 5):", [(n, s, b.decode("utf-8", "replace")) for n, s, b in result.errors[:5]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--run-time", type=int, default=30, help="measured seconds (at most 600)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--database-url", default=f"sqlite:///{OUT / 'bench-api.sqlite3'}")
    parser.add_argument("--reuse", action="store_true", help="keep the database of an earlier run")
    args = parser.parse_args()
    seconds = max(5, min(args.run_time, 600))
    OUT.mkdir(parents=True, exist_ok=True)
    env = bench_env(args.database_url)
    secret = prepare(env, args.database_url, reuse=args.reuse)
    server = start_gunicorn(env, port=args.port, workers=args.workers)
    try:
        headers = bearer_headers(token(args.port, secret))  # once: the token is good for ten minutes
        steps = mix_steps(MIX)
        result = load_run(args.port, server.pid, [(headers, steps) for _ in range(args.threads)], seconds)
    finally:
        server.terminate()
        server.wait(timeout=30)
    load_report(
        f"API mix, {args.threads} threads, {args.workers} gunicorn workers, {seconds} s measured, "
        f"{args.database_url.split(':')[0]}",
        result,
        [m[0] for m in MIX],
    )


if __name__ == "__main__":
    main()
