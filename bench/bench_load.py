"""Load benchmark (issue 15): the staff and citizen mixes against gunicorn with production
settings on PostgreSQL, all on this machine's loopback.

Usage:
  .venv/bin/python bench/bench_load.py [--users 10,30,45,60] [--run-time 60] [--mix staff|citizen|both]
      [--workers 4] [--port 8765] [--reuse] [--database-url postgres://postgres@127.0.0.1:5432/ejia_bench]

1. The database (`ejia_bench` by default) is dropped, created, migrated and loaded with the demo
   city (`ejia_demo_seed`: organisation, catalogue, staff, registry, department data, demo cases)
   under production settings; `--reuse` keeps a database loaded before. Static files are
   collected (production storage).
2. The targets file (bench/out/load-targets.json) names the staff accounts of the mix (one per
   simulated user, `bench_001`…, copies of the demo window clerk, county reviewer and centre
   director, enrolled in the second factor with the published demo secret: a TOTP code is good
   once per account and time step), the ID numbers of households in each one's area
   (synthetic people; for the posted household search) and the references the tracker is
   asked about.
3. gunicorn starts with config/gunicorn.conf.py and production settings (4 workers, loopback,
   access log to bench/out/gunicorn.log through the masking logger).
4. After an unmeasured warm-up (`--warmup` seconds, in which every staff user signs in once;
   the measured runs take up those sessions), for each user count locust (from `.venv-bench`, see requirements-bench.txt) runs headless
   with bench/locustfile.py; the CPU time of gunicorn's processes and of this database's
   PostgreSQL backends is read from /proc before and after. Printed per run: requests/s,
   p50/p95 (ms), failures, CPU ms per request (app + database) and the ratio of requests/s to
   the issue's baseline (22 requests/s on SQLite).

The load generator shares the two cores with the server: its own CPU is printed too.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BASELINE_RPS = 22.0  # issue 15: the staff mix on the SQLite demo saturated at about 22 requests/s
# The development keys of config/settings.py: the bench city is synthetic, and --reuse must
# read what an earlier run sealed.
BENCH_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings_production",
    "DJANGO_SECRET_KEY": "bench-only-secret-key-" + "0" * 40,
    "EJIA_FIELD_KEYS": "k1:ZGV2LW9ubHktZmllbGQta2V5LTMyLWJ5dGVzLWxvbmc=",
    "EJIA_FIELD_KEY_ID": "k1",
    "EJIA_BLIND_INDEX_KEY": "dev-only-blind-index-key",
    "EJIA_AUDIT_KEY": "dev-only-audit-chain-key",
    # The API token key (production requires it): a fresh one per run.
    "EJIA_API_SIGNING_KEY": Ed25519PrivateKey.generate()
    .private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    .decode("ascii"),
    "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    "EJIA_TRUSTED_PROXIES": "127.0.0.1",
}
STAFF = ("window_clerk", "county_reviewer", "centre_director")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def bench_env(database_url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(BENCH_ENV)
    env["DATABASE_URL"] = database_url
    env["EJIA_VAR_DIR"] = str(OUT / "var")
    env["EJIA_AUDIT_ANCHOR_FILE"] = str(OUT / "var" / "audit-anchor.json")
    return env


def manage(env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def prepare_database(url: str, env: dict, *, reuse: bool) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as con:
        exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reuse:
            print(f"database: reusing {name}")
            return
        if exists:
            con.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        con.execute(f'CREATE DATABASE "{name}"')
    shutil.rmtree(OUT / "var", ignore_errors=True)
    t = time.perf_counter()
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    manage(env, "ejia_demo_seed")
    print(f"database: {name} migrated and seeded with the demo city in {time.perf_counter() - t:.0f} s")


TARGETS_CODE = """
import json, sys
import django
django.setup()
from django.contrib.auth.hashers import make_password
from django.db import transaction
from ejia.accounts.models import OrgUnit, Role, User
from ejia.accounts.scope import scope_for
from ejia.accounts.services import staff_create
from ejia.cases.models import Case
from ejia.core import crypto
from ejia.demo.second_factor import demo_second_factor_ensure, demo_secret_text
from ejia.demo.staff import DEMO_PASSWORD
from ejia.registry.models import ID_PURPOSE, Membership

# One account per simulated clerk (a TOTP code is good once per account and time step), each
# a copy of a demo account's post: the window of 市中街道, the county centre of 滨城区.
TEMPLATES = [User.objects.get(username=name) for name in sys.argv[1].split(",")]
password_hash = make_password(DEMO_PASSWORD)
accounts = []
with transaction.atomic():
    for i in range(int(sys.argv[2])):
        model = TEMPLATES[i % len(TEMPLATES)]
        username = f"bench_{i + 1:03d}"
        user = User.objects.filter(username=username).first() or staff_create(
            actor=None,
            username=username,
            password_hash=password_hash,
            display_name=f"压测{i + 1:03d}",
            unit=model.unit,
            roles=sorted(model.role_codes),
            must_change_password=False,
        )
        accounts.append(user)
    demo_second_factor_ensure(accounts)

numbers_for = {}
staff = []
for user in accounts:
    scope = scope_for(user)
    if scope.division_path not in numbers_for:
        members = (
            Membership.objects.filter(date_out__isnull=True, household__division__path__startswith=scope.division_path)
            .select_related("person", "household")
            .order_by("pk")[:200]
        )
        numbers_for[scope.division_path] = [
            [crypto.decrypt(m.person.id_number_ciphertext, purpose=ID_PURPOSE), str(m.household.public_id)]
            for m in members
        ]
    staff.append({"username": user.username, "password": DEMO_PASSWORD, "id_numbers": numbers_for[scope.division_path]})
tracker = [
    {"reference": c.reference, "id_last6": crypto.decrypt(c.applicant.id_number_ciphertext, purpose=ID_PURPOSE)[-6:]}
    for c in Case.objects.select_related("applicant").order_by("pk")[:20]
]
print(json.dumps({"staff": staff, "tracker": tracker, "totp_secret": demo_secret_text()}, ensure_ascii=False))
"""


def write_targets(env: dict, accounts: int) -> Path:
    out = subprocess.run(
        [sys.executable, "-c", TARGETS_CODE, ",".join(STAFF), str(accounts)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    path = OUT / "load-targets.json"
    path.write_bytes(out.stdout)
    targets = json.loads(out.stdout)
    print(
        f"targets: {len(targets['staff'])} staff accounts (copies of {', '.join(STAFF)}, second factor enrolled), "
        f"{len(targets['tracker'])} references for the tracker"
    )
    return path


# ---------------------------------------------------------------- CPU from /proc


def _stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime in ticks) of a process, None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return int(fields[1]), int(fields[11]) + int(fields[12])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def cpu_ticks(root_pid: int, database: str) -> dict[str, dict[int, int]]:
    """Ticks per process: gunicorn (the master and its workers) and this database's PostgreSQL
    backends (their process title names the database)."""
    app: dict[int, int] = {}
    db: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is None:
            continue
        ppid, ticks = stat
        if pid == root_pid or ppid == root_pid:
            app[pid] = ticks
        elif _cmdline(pid).startswith("postgres: ") and f" {database} " in _cmdline(pid):
            db[pid] = ticks
    return {"app": app, "db": db}


def ticks_between(before: dict[int, int], after: dict[int, int]) -> int:
    return sum(t - before.get(pid, 0) for pid, t in after.items())


# ---------------------------------------------------------------- gunicorn and locust


def start_gunicorn(env: dict, *, port: int, workers: int) -> subprocess.Popen:
    log = OUT / "gunicorn.log"
    env = dict(env, EJIA_ACCESS_LOG=str(log), EJIA_ERROR_LOG=str(log))
    gunicorn = Path(sys.executable).parent / "gunicorn"
    server = subprocess.Popen(
        [str(gunicorn), "-c", "config/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}", "--workers", str(workers)],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/staff/login/", headers={"X-Forwarded-Proto": "https"}
            )
            urllib.request.urlopen(request, timeout=5).read()  # noqa: S310 — our own loopback URL
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not start; see {log}") from None
            time.sleep(0.3)


def locust_command() -> str:
    for candidate in (ROOT / ".venv-bench" / "bin" / "locust", shutil.which("locust")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise SystemExit(
        "locust not found: python3 -m venv .venv-bench && .venv-bench/bin/pip install -r requirements-bench.txt"
    )


def run_locust(*, port: int, users: int, seconds: int, mix: str, targets: Path, database: str, server_pid: int):
    prefix = OUT / f"load-{mix}-{users}"
    classes = {"staff": ["Staff"], "citizen": ["Citizen"], "both": ["Staff", "Citizen"]}[mix]
    command = [
        locust_command(),
        "-f",
        str(ROOT / "bench" / "locustfile.py"),
        "--headless",
        "--host",
        f"http://127.0.0.1:{port}",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{seconds}s",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        *classes,
    ]
    secret = json.loads(targets.read_text("utf-8")).get("totp_secret", "")
    env = dict(
        os.environ,
        EJIA_BENCH_TARGETS=str(targets),
        EJIA_BENCH_SESSIONS=str(OUT / "load-sessions.json"),
        EJIA_BENCH_TOTP_SECRET=os.environ.get("EJIA_BENCH_TOTP_SECRET") or secret,
    )
    before = cpu_ticks(server_pid, database)
    started = time.perf_counter()
    load = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    load_ticks = 0
    while load.poll() is None:
        stat = _stat(load.pid)
        load_ticks = stat[1] if stat else load_ticks
        time.sleep(0.5)
    elapsed = time.perf_counter() - started
    after = cpu_ticks(server_pid, database)
    stderr = load.stderr.read().decode("utf-8", "replace") if load.stderr else ""
    if load.returncode not in (0, 1):  # 1: some requests failed, reported below
        raise SystemExit(f"locust failed ({load.returncode}):\n{stderr[-3000:]}")
    with open(f"{prefix}_stats.csv", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    total = next(r for r in rows if r["Name"] == "Aggregated")
    requests = int(total["Request Count"])
    app_ms = ticks_between(before["app"], after["app"]) * 1000 / CLK_TCK
    db_ms = ticks_between(before["db"], after["db"]) * 1000 / CLK_TCK
    return {
        "users": users,
        "requests": requests,
        "failures": int(total["Failure Count"]),
        "rps": float(total["Requests/s"]),
        "p50": float(total["50%"]),
        "p95": float(total["95%"]),
        "cpu_app_ms": app_ms / requests if requests else 0.0,
        "cpu_db_ms": db_ms / requests if requests else 0.0,
        "cpu_load_s": load_ticks / CLK_TCK,
        "elapsed": elapsed,
        "pages": {r["Name"]: (int(r["Request Count"]), float(r["95%"])) for r in rows if r["Name"] != "Aggregated"},
        "errors": Path(f"{prefix}_failures.csv").read_text("utf-8") if requests and int(total["Failure Count"]) else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", default="10,30,45,60", help="comma-separated user counts, one run each")
    parser.add_argument("--run-time", type=int, default=60, help="seconds per run (at most 1800)")
    parser.add_argument("--mix", choices=("staff", "citizen", "both"), default="staff")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--reuse", action="store_true", help="keep the seeded database of an earlier run")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ejia_bench")
    parser.add_argument("--warmup", type=int, default=120, help="seconds of unmeasured load first (0: none)")
    parser.add_argument("--verbose", action="store_true", help="print each page's count and p95")
    args = parser.parse_args()
    users = [int(u) for u in args.users.split(",") if u.strip()]
    if any(u < 1 or u > 200 for u in users) or not 5 <= args.run_time <= 1800:
        raise SystemExit("users must be 1..200 and --run-time 5..1800 s")
    if not args.database_url.startswith("postgres"):
        raise SystemExit("the load bench runs on PostgreSQL")
    OUT.mkdir(parents=True, exist_ok=True)
    env = bench_env(args.database_url)
    database = args.database_url.rpartition("/")[2]
    prepare_database(args.database_url, env, reuse=args.reuse)
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")
    targets = write_targets(env, max(users))
    server = start_gunicorn(env, port=args.port, workers=args.workers)
    try:
        print(
            f"gunicorn: {args.workers} workers on 127.0.0.1:{args.port}, production settings; "
            f"mix: {args.mix}; {args.run_time} s per run; {os.cpu_count()} CPUs"
        )
        print(
            f"{'users':>5} {'requests':>8} {'rps':>6} {'p50 ms':>7} {'p95 ms':>7} {'fail':>5} "
            f"{'app ms/req':>10} {'db ms/req':>9} {'load cpu s':>10} {'x baseline':>10}"
        )
        if args.warmup:
            # Unmeasured: the workers' first requests import modules and compile templates, and
            # every staff user of the largest run signs in (the password check is slow by design;
            # a clerk signs in once a day). The measured runs reuse those sessions.
            (OUT / "load-sessions.json").unlink(missing_ok=True)
            run_locust(
                port=args.port,
                users=max(users),
                seconds=max(5, args.warmup),
                mix=args.mix,
                targets=targets,
                database=database,
                server_pid=server.pid,
            )
        for count in users:
            r = run_locust(
                port=args.port,
                users=count,
                seconds=args.run_time,
                mix=args.mix,
                targets=targets,
                database=database,
                server_pid=server.pid,
            )
            print(
                f"{r['users']:>5} {r['requests']:>8} {r['rps']:>6.1f} {r['p50']:>7.0f} {r['p95']:>7.0f} "
                f"{r['failures']:>5} {r['cpu_app_ms']:>10.1f} {r['cpu_db_ms']:>9.1f} {r['cpu_load_s']:>10.1f} "
                f"{r['rps'] / BASELINE_RPS:>9.2f}x",
                flush=True,
            )
            if args.verbose:
                for name, (count_, p95) in sorted(r["pages"].items()):
                    print(f"        {name:<40} {count_:>6} p95 {p95:>6.0f} ms")
            if r["errors"]:
                print("        failures:\n" + "\n".join("        " + line for line in r["errors"].splitlines()[:10]))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
