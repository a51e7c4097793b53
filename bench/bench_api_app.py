"""API benchmark (issue 20): the citizens' app mix against gunicorn with production settings, all
on this machine's loopback. Target: ≥ 200 requests/s.

Usage:
  .venv/bin/python bench/bench_api_app.py [--threads 8] [--run-time 30] [--workers 3] [--port 8767]
      [--database-url postgres://postgres@127.0.0.1:5432/ejia_bench_app] [--citizens 64] [--reuse]
      [--gunicorn-threads N]

1. A fresh database (dropped and created unless --reuse) is migrated and loaded with the
   organisation, the catalogue, the procedures, the message templates and the demo staff; then,
   through the project's services, `--citizens` citizens (phones 1370000xxxx) each apply in the
   app's way (`self_service.application_submit`: 临时救助), the 市中街道 window registers their
   bank account and approves (先行救助), and the county builds, releases (a second person) and
   exports this month's batch and imports the bank's answer: every citizen has a household, an
   application, a decision and a paid payment line. The app is registered with
   `ejia_api_client` (kind citizen_app, scopes app:citizen + catalogue:read, no rate limit).
2. gunicorn starts with config/gunicorn.conf.py and production settings (loopback).
3. Login, through the real endpoints: the app takes its client token (client credentials);
   each load thread logs in one seeded citizen (POST /app/sms-code, the code read from the SMS
   gateway's log file as the phone would receive it, POST /app/token) and one new applicant
   (another phone, same way). A phone the SMS throttle refuses (5 codes an hour) is skipped for
   the next seeded one.
4. `--threads` threads, each on its own keep-alive connection, call the mix round-robin for
   `--run-time` seconds after a 5 s unmeasured warm-up (MIX below: my applications, one
   application's track, my households, decisions, payments, programmes, the self-check; once
   per `--submit-every` steps (50) the new applicant submits an application with an
   Idempotency-Key and withdraws it: about 4 % of the calls are these writes).
5. Printed: login times, requests/s, p50/p95/p99 (ms) overall and per operation, non-2xx, the
   CPU of gunicorn's processes per request, that of the PostgreSQL backends serving the
   database (read from /proc) and the requests/s both would allow on two free cores, the load
   generator's CPU and the load average.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import random
import re
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_api import (
    POOR_FAMILY,
    ROOT,
    Caller,
    bearer_headers,
    bench_env,
    client_secret,
    database_load,
    load_report,
    load_run,
    percentile,
    start_gunicorn,
    token,
)

from ejia.core import idnumber

OUT = ROOT / "bench" / "out" / "api_app"
SEED_FILE = OUT / "seed.json"
APP = "/api/v1/app"
COUNTY, TOWNSHIP = "371602", "371602001"
HEAD_BIRTH = dt.date(1978, 6, 1)
SEED = """
import sys
sys.path.insert(0, "bench")
from bench_api_app import seed
seed({citizens})
"""


def phone_of(i: int) -> str:
    return f"1370000{i:04d}"


def seed(citizens: int) -> None:
    """What the app reads, made by the project's services (see the module's docstring)."""
    import csv
    import io

    from django.core.management import call_command
    from django.utils import timezone

    from ejia.accounts.models import Division
    from ejia.cases import self_service
    from ejia.cases.workflow import services as wf
    from ejia.cases.workflow.models import RequestProcedure
    from ejia.catalogue.seed import catalogue_seed
    from ejia.core import idnumber
    from ejia.core.outbox import templates_seed
    from ejia.demo.cases import _signature_data_url
    from ejia.demo.setup import organisation_ensure
    from ejia.demo.staff import demo_staff_ensure
    from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
    from ejia.disbursement.batches import batch_build, batch_release
    from ejia.registry.services import household_account_set

    organisation_ensure()
    catalogue_seed()
    call_command("ejia_procedures_seed")
    templates_seed()
    staff = {u.username: u for u in demo_staff_ensure()}
    clerk, preparer, releaser = staff["window_clerk"], staff["county_reviewer"], staff["centre_director"]
    village = Division.objects.filter(parent__code=TOWNSHIP, level="village").order_by("code").first()
    signature = _signature_data_url(7)
    for i in range(citizens):
        head = idnumber.make(COUNTY, HEAD_BIRTH, 2 * i + 1)
        case = self_service.application_submit(
            phone=phone_of(i),
            answers={
                "name": f"压测{i}",
                "id_number": head,
                "village_code": village.code,
                "address": f"幸福路{i}号",
                "income_month_yuan": "300",
                "needs": ["daily_living"],
                "needs_note": "突发困难",
                "programmes": ["linshi"],
                "signatures": {head: signature},
            },
            idempotency_key=f"bench-app-{i}",
        )
        household_account_set(
            actor=clerk,
            household=case.household,
            bank_name="滨州农商银行",
            account_number=f"62284800{i:011d}",
            holder=case.applicant,
        )
        procedure = RequestProcedure.objects.get(case=case, request__programme__code="linshi")
        wf.procedure_approve(
            actor=clerk,
            procedure_id=procedure.pk,
            expected_version=procedure.version,
            amount_fen=80000,
            amount_change_reason="先行救助",
        )
    batch = batch_build(actor=preparer, county=COUNTY, period=timezone.localdate().replace(day=1))
    batch = batch_release(actor=releaser, batch=batch)
    bank_file_export(actor=releaser, batch=batch)
    answer = io.StringIO()
    writer = csv.writer(answer)
    writer.writerow(["交易流水号", "金额（元）", "结果", "银行流水号", "说明"])
    for line in batch.lines.order_by("pk"):
        writer.writerow([line.reference, f"{line.amount_fen / 100:.2f}", "成功", f"B{line.pk}", ""])
    bank_return_import(actor=releaser, batch=batch, data=answer.getvalue().encode("utf-8"))
    SEED_FILE.write_text(
        json.dumps({"citizens": citizens, "village_code": village.code, "signature": signature}), "utf-8"
    )
    print(f"seeded {citizens} citizens, {batch.lines.count()} payment lines")


# ---------------------------------------------------------------- login through the real endpoints


def sms_code(sms_log: Path, phone: str, after: int) -> str | None:
    """The newest login code sent to `phone` in the gateway's log (after byte `after`)."""
    try:
        with open(sms_log, "rb") as handle:
            handle.seek(after)
            text = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return None
    codes = re.findall(rf"→ {phone}: .*?验证码是(\d{{6}})", text)
    return codes[-1] if codes else None


def citizen_login(call: Caller, sms_log: Path, phone: str) -> str | None:
    """phone + SMS code → the citizen's token, or None when the throttle refuses a code."""
    start = sms_log.stat().st_size if sms_log.exists() else 0
    status, answer = call("login.sms_code", "POST", f"{APP}/sms-code", {"phone": phone})
    if status == 0:  # a keep-alive connection the server had closed (sync workers): once more
        status, answer = call("login.sms_code", "POST", f"{APP}/sms-code", {"phone": phone})
    if status == 429:
        return None
    if status != 202:
        raise SystemExit(f"sms-code for {phone}: {status} {answer}")
    code = None
    for _ in range(50):
        code = sms_code(sms_log, phone, start)
        if code:
            break
        time.sleep(0.05)
    if code is None:
        raise SystemExit(f"no code for {phone} in {sms_log}")
    status, answer = call("login.token", "POST", f"{APP}/token", {"phone": phone, "code": code})
    if status == 0:
        status, answer = call("login.token", "POST", f"{APP}/token", {"phone": phone, "code": code})
    if status != 200:
        raise SystemExit(f"token for {phone}: {status} {answer}")
    return answer["access_token"]


# ---------------------------------------------------------------- the mix

# (name, weight): the GET steps of a citizen reading their own things, and the app's catalogue.
READS = [
    ("app.applications", 5),
    ("app.application", 4),
    ("app.households", 4),
    ("app.decisions", 4),
    ("app.payments", 4),
    ("catalogue.programmes", 2),
    ("catalogue.self_check", 1),
]
NAMES = [name for name, _ in READS] + ["app.submit", "app.withdraw"]
_applicants = itertools.count()
_applicants_lock = threading.Lock()
RUN = random.Random().randrange(1_000_000)


def new_applicant_id() -> str:
    """A valid ID number nobody registered yet (this run's offset, then a counter)."""
    with _applicants_lock:
        n = RUN * 1000 + next(_applicants)
    birth = dt.date(1950, 1, 1) + dt.timedelta(days=n % 18000)
    return idnumber.make("371603", birth, 1 + (n // 18000) % 999)


def citizen_steps(app_token: str, application: str, household: str) -> list:
    """One thread's reading steps: its citizen's own things with the citizen's token (the
    thread's headers), the catalogue with the app's client token."""
    app_headers = {"Authorization": f"Bearer {app_token}"}
    paths = {
        "app.applications": f"{APP}/me/applications",
        "app.application": f"{APP}/me/applications/{application}",
        "app.households": f"{APP}/me/households",
        "app.decisions": f"{APP}/me/households/{household}/decisions",
        "app.payments": f"{APP}/me/households/{household}/payments",
    }
    steps = []
    for name, weight in READS:
        if name == "catalogue.programmes":
            step = lambda call: call("catalogue.programmes", "GET", "/api/v1/catalogue/programmes", None, app_headers)  # noqa: E731
        elif name == "catalogue.self_check":
            step = lambda call: call(  # noqa: E731
                "catalogue.self_check", "POST", "/api/v1/catalogue/self-check", {"answers": POOR_FAMILY}, app_headers
            )
        else:
            step = lambda call, n=name: call(n, "GET", paths[n])  # noqa: E731
        steps.extend([step] * weight)
    return steps


def submit_body(number: str, seeded: dict) -> dict:
    """The app's application for a new applicant (a poor one-person family asking for 低保)."""
    return {
        "name": "周敏",
        "id_number": number,
        "village_code": seeded["village_code"],
        "address": "3号",
        "income_month_yuan": "600",
        "needs": ["daily_living"],
        "programmes": ["dibao"],
        "signatures": {number: seeded["signature"]},
    }


def submit_step(applicant_token: str, seeded: dict):
    headers = {"Authorization": f"Bearer {applicant_token}"}

    def step(call: Caller) -> None:
        number = new_applicant_id()
        body = submit_body(number, seeded)
        key = f"bench-{RUN}-{number}"
        status, made = call("app.submit", "POST", f"{APP}/me/applications", body, {**headers, "Idempotency-Key": key})
        if status == 201:
            call(
                "app.withdraw",
                "POST",
                f"{APP}/me/applications/{made['id']}/withdraw",
                {"confirmed": True, "reason": "压测撤回"},
                headers,
            )

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--run-time", type=int, default=30, help="measured seconds (at most 600)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="", help="gunicorn's (default: config/gunicorn.conf.py's, gthread)")
    parser.add_argument(
        "--gunicorn-threads", type=int, default=0, help="threads per gthread worker (default: the config's)"
    )
    parser.add_argument("--port", type=int, default=8767)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ejia_bench_app")
    parser.add_argument("--citizens", type=int, default=64, help="seeded citizens (phones for the logins)")
    parser.add_argument("--submit-every", type=int, default=50, help="one submit + withdraw per this many steps")
    parser.add_argument("--reuse", action="store_true", help="keep the database of an earlier run")
    args = parser.parse_args()
    seconds = max(5, min(args.run_time, 600))
    OUT.mkdir(parents=True, exist_ok=True)
    env = bench_env(args.database_url, OUT)
    database_load(env, args.database_url, SEED.format(citizens=args.citizens), reuse=args.reuse)
    seeded = json.loads(SEED_FILE.read_text("utf-8"))
    secret = client_secret(
        env,
        "bench-app",
        "--name=e家大救助手机App（压测）",
        "--kind=citizen_app",
        "--scope=app:citizen",
        "--scope=catalogue:read",
        "--rate-limit=0",
    )
    extra = (("--worker-class", args.worker_class) if args.worker_class else ()) + (
        ("--threads", str(args.gunicorn_threads)) if args.gunicorn_threads else ()
    )
    server = start_gunicorn(env, port=args.port, workers=args.workers, out=OUT, extra=extra)
    sms_log = OUT / "var" / "sms.log"
    try:
        app_token = token(args.port, secret, "bench-app")
        logins: list[tuple[str, float]] = []
        login_errors: list = []
        call = Caller(args.port, bearer_headers(app_token), 0.0, logins, login_errors)
        phones = iter(phone_of(i) for i in range(seeded["citizens"]))
        plans = []
        for n in range(args.threads):
            citizen = None
            while citizen is None:
                phone = next(phones, None)
                if phone is None:
                    raise SystemExit("every seeded phone is throttled (5 codes an hour): wait, or seed more --citizens")
                citizen = citizen_login(call, sms_log, phone)
            applicant = None
            while applicant is None:
                applicant = citizen_login(call, sms_log, f"1380{RUN:07d}"[:7] + f"{n:04d}")
                if applicant is None:
                    raise SystemExit("the new applicant's phone is throttled: run again (another run id)")
            me = Caller(args.port, bearer_headers(citizen), 0.0, [], [])
            _, applications = me("-", "GET", f"{APP}/me/applications")
            _, households = me("-", "GET", f"{APP}/me/households")
            reads = citizen_steps(app_token, applications[0]["id"], households[0]["id"])
            submit = submit_step(applicant, seeded)
            every = max(2, args.submit_every) - 1  # reads between two submits
            mixed = []
            for k in range(len(reads) * every):
                mixed.append(reads[k % len(reads)])
                if (k + 1) % every == 0:
                    mixed.append(submit)
            plans.append((bearer_headers(citizen), mixed))
        result = load_run(args.port, server.pid, plans, seconds, database_url=args.database_url)
    finally:
        server.terminate()
        server.wait(timeout=30)
    by_name = {}
    for name, ms in logins:
        by_name.setdefault(name, []).append(ms)
    print(
        f"\nlogins ({args.threads} citizens + {args.threads} new applicants): "
        + "   ".join(
            f"{name} n={len(v)} p50 {percentile(v, 50):.0f} ms max {max(v):.0f} ms" for name, v in by_name.items()
        )
    )
    mode = f"{args.worker_class or 'config worker class'}, threads {args.gunicorn_threads or 'as configured'}"
    load_report(
        f"citizens' app mix, {args.threads} threads, {args.workers} gunicorn workers ({mode}), {seconds} s measured, "
        f"{args.database_url.split(':')[0]}",
        result,
        NAMES,
    )


if __name__ == "__main__":
    main()
