"""Benchmark: monthly payment batches with their bank files, on PostgreSQL.

Usage:
  .venv/bin/python bench/bench_batch.py [--households 100000] [--chunk-size 10000] [--xlsx] [--reuse]
      [--database-url postgres://postgres@127.0.0.1:5432/ejia_bench]
  .venv/bin/python bench/bench_batch.py --city [--households 40000] [--arrears-share 0.1] …

Creates the database if missing and migrates it, then loads (set-based: COPY and INSERT … SELECT)
households with encrypted accounts and their account holders (户名), and active entitlements
(低保 for all, a member subsidy for every third).

- Default: one county (滨城区) and 100,000 households: build the month's batch with the same
  `batch_build` the background job runs, have a second person release it, export the bank file.
  Target ≤ 30 s for build + export.
- `--city`: the whole city's month — about 40,000 recipient households spread over the seven
  counties, a share of them decided before the month and never paid (their first batch pays the
  missed months as arrears lines), a few without an account holder (held): build, release and
  export every county's batch. Target ≤ 15 s.

Prints seconds and lines/s for each step, the lines by kind, and the process's peak memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
import uuid
from pathlib import Path

from bench_db import ensure_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

COUNTY = "371602"
PERIOD = dt.date(2026, 5, 1)
HOLDERLESS_EVERY = 200  # one household in 200 has an account but no holder registered: held


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _divisions(counties: list[str]) -> dict[str, object]:
    """One bench village under each county (the build reads the entitlements' county code)."""
    from ejia.accounts.models import Division
    from ejia.accounts.services import departments_ensure, divisions_upsert, orgunits_ensure, read_base_divisions

    if Division.objects.filter(code__in=counties).count() != len(counties):
        divisions_upsert([r for r in read_base_divisions() if r.level in ("city", "county")])
        departments_ensure()
        orgunits_ensure()
    villages = {}
    for code in counties:
        county = Division.objects.get(code=code)
        villages[code], _ = Division.objects.get_or_create(
            code=f"{code}999001",
            defaults=dict(
                name="基准测试社区",
                full_name=f"{county.name}基准测试社区",
                level="village",
                kind="community",
                parent=county,
                path=f"{county.path}/{code}999001",
                urban=True,
            ),
        )
    return villages


def _staff(city: bool):
    from ejia.accounts.models import OrgUnit, Role, User

    centre = OrgUnit.objects.get(division__code="371600" if city else COUNTY, kind="centre")
    users = []
    for name in ("bench_preparer", "bench_releaser"):
        user, _ = User.objects.get_or_create(username=name, defaults={"unit": centre, "display_name": name})
        if user.unit_id != centre.pk:
            User.objects.filter(pk=user.pk).update(unit=centre)
            user.refresh_from_db()
        user.roles.get_or_create(role=Role.CENTRE_DIRECTOR if city else Role.COUNTY_REVIEWER)
        users.append(user)
    return users


def _programmes():
    from ejia.accounts.models import Department
    from ejia.catalogue.models import Programme

    mz = Department.objects.get(code="mz")
    programmes = {}
    for code, name, target in (
        ("dibao", "最低生活保障（低保）", "household"),
        ("disability_living_subsidy", "困难残疾人生活补贴", "member"),
    ):
        programmes[code], _ = Programme.objects.get_or_create(
            code=code,
            defaults=dict(
                name=name,
                department=mz,
                category="basic_living",
                target=target,
                benefit_form="monthly_cash",
                amount_period="month",
                summary=name,
            ),
        )
    return programmes


def _clear(cur) -> None:
    cur.execute(
        "TRUNCATE disbursement_paymentreturn, disbursement_paymentitem, disbursement_paymentline, "
        "disbursement_paymentbatch CASCADE"
    )
    cur.execute(
        "DELETE FROM disbursement_entitlement WHERE household_id IN "
        "(SELECT id FROM registry_household WHERE source = 'bench')"
    )
    cur.execute("DELETE FROM registry_household WHERE source = 'bench'")
    cur.execute("DELETE FROM registry_person WHERE id_number_index LIKE 'bench-%%'")


def load(*, households: int, counties: list[str], arrears_share: float, reuse: bool) -> None:
    """Households (with account and holder; one in HOLDERLESS_EVERY without a holder) spread
    evenly over `counties`, each with 低保 and every third with a member subsidy. A share
    `arrears_share` of them was decided one to three months before PERIOD and never paid."""
    from django.db import connection, transaction

    from ejia.core import crypto
    from ejia.registry.models import ACCOUNT_PURPOSE

    villages = _divisions(counties)
    programmes = _programmes()
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE disbursement_paymentreturn, disbursement_paymentitem, disbursement_paymentline, "
            "disbursement_paymentbatch CASCADE"
        )
        cur.execute(
            "DELETE FROM registry_benefitrecord WHERE source = 'payment' AND household_id IN "
            "(SELECT id FROM registry_household WHERE source = 'bench')"
        )
        cur.execute("SELECT COUNT(*) FROM registry_household WHERE source = 'bench'")
        if reuse and cur.fetchone()[0] == households:
            print(f"load: reusing {households:,} bench households")
            return
        _clear(cur)
    now = dt.datetime.now(dt.UTC)
    with transaction.atomic(), connection.cursor() as cur:
        raw = cur.cursor
        with raw.copy(
            "COPY registry_person (public_id, created_at, updated_at, id_number_ciphertext, id_number_index, "
            "id_number_masked, name, sex, birth_date, phone, ethnicity) FROM STDIN"
        ) as copy:
            for n in range(households):
                copy.write_row(
                    (uuid.uuid4(), now, now, "k1:bench", f"bench-{n}", "371602********0000", f"户主{n}", "1",
                     dt.date(1960, 1, 1), "", "")
                )  # fmt: skip
        cur.execute("SELECT id_number_index, id FROM registry_person WHERE id_number_index LIKE 'bench-%%'")
        person = {int(key[6:]): pk for key, pk in cur.fetchall()}
        with raw.copy(
            "COPY registry_household (public_id, created_at, updated_at, division_id, address, urban, hukou_number, "
            "bank_name, account_ciphertext, account_masked, facts, source, account_holder_id) FROM STDIN"
        ) as copy:
            for n in range(households):
                account = f"62284800{n:011d}"
                county = counties[n % len(counties)]
                copy.write_row(
                    (uuid.uuid4(), now, now, villages[county].pk, f"基准路{n}号", True, f"{n}",
                     "滨州农商银行", crypto.encrypt(account, purpose=ACCOUNT_PURPOSE),
                     account[:4] + "*" * 11 + account[-4:], "{}", "bench",
                     None if n % HOLDERLESS_EVERY == HOLDERLESS_EVERY - 1 else person[n])
                )  # fmt: skip
        # The county of a household is its village's; entitlements carry it denormalised.
        # hukou_number holds the household's bench number n, which decides its arrears.
        arrears_every = round(1 / arrears_share) if arrears_share > 0 else 0
        start = (
            "CASE WHEN %s > 0 AND h.hukou_number::int %% %s = 0 "
            "THEN (%s::date - ((1 + h.hukou_number::int %% 3) || ' months')::interval)::date ELSE %s::date END"
        )
        start_params = [arrears_every, max(arrears_every, 1), PERIOD, PERIOD]
        cur.execute(
            f"""INSERT INTO disbursement_entitlement (public_id, created_at, updated_at, household_id, person_id,
                   programme_id, county_code, amount_fen, facts, rule_version, start_month, status, exit_reason)
               SELECT gen_random_uuid(), now(), now(), h.id, NULL, %s, LEFT(d.code, 6), 50000 + (h.id %% 40000),
                      '{{}}'::jsonb, 'v1', {start}, 'active', ''
               FROM registry_household h JOIN accounts_division d ON d.id = h.division_id WHERE h.source = 'bench'
               UNION ALL
               SELECT gen_random_uuid(), now(), now(), h.id, h.account_holder_id, %s, LEFT(d.code, 6), 10000,
                      '{{}}'::jsonb, 'v1', {start}, 'active', ''
               FROM registry_household h JOIN accounts_division d ON d.id = h.division_id
               WHERE h.source = 'bench' AND h.id %% 3 = 0 AND h.account_holder_id IS NOT NULL""",
            [programmes["dibao"].pk, *start_params, programmes["disability_living_subsidy"].pk, *start_params],
        )
        cur.execute("ANALYZE registry_person; ANALYZE registry_household; ANALYZE disbursement_entitlement")
    print(
        f"load: {households:,} households in {len(counties)} {'county' if len(counties) == 1 else 'counties'} "
        f"with accounts, holders and entitlements in {time.perf_counter() - t0:.1f} s"
    )


def run_county(county: str, preparer, releaser, *, chunk_size: int, xlsx: bool, bank_return: bool) -> dict:
    from django.db.models import Count, Sum

    from ejia.disbursement.bankfiles import bank_file_export
    from ejia.disbursement.batches import batch_build, batch_release
    from ejia.disbursement.models import PaymentItem

    t0 = time.perf_counter()
    batch = batch_build(actor=preparer, county=county, period=PERIOD, chunk_size=chunk_size)
    build_s = time.perf_counter() - t0
    batch = batch_release(actor=releaser, batch=batch)
    t0 = time.perf_counter()
    file = bank_file_export(actor=releaser, batch=batch, fmt="csv")
    csv_s = time.perf_counter() - t0
    kinds = dict(batch.lines.values_list("kind").annotate(n=Count("pk")).values_list("kind", "n"))
    arrears_fen = batch.lines.filter(kind="arrears").aggregate(t=Sum("amount_fen"))["t"] or 0
    result = {
        "county": batch.county.name,
        "lines": batch.line_count,
        "held": batch.held_count,
        "items": PaymentItem.objects.filter(line__batch=batch).count(),
        "kinds": kinds,
        "total_fen": batch.total_fen,
        "arrears_fen": arrears_fen,
        "build_s": build_s,
        "csv_s": csv_s,
        "csv_mb": len(file.content) / 1e6,
        "checksum": file.checksum,
    }
    if bank_return:
        import csv
        import io

        from ejia.disbursement.bankfiles import bank_return_import

        details = list(csv.reader(io.StringIO(file.content.decode("utf-8-sig"))))[6:]
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["交易流水号", "金额（元）", "结果", "银行流水号", "说明"])
        for n, row in enumerate(details):
            # Every line paid, one in a thousand failed, one in a thousand paid ¥1 short.
            if n % 1000 == 1:
                writer.writerow([row[1], row[5], "失败", "", "账户冻结"])
            elif n % 1000 == 2:
                writer.writerow([row[1], f"{float(row[5]) - 1:.2f}", "成功", f"B{n}", ""])
            else:
                writer.writerow([row[1], row[5], "成功", f"B{n}", ""])
        t0 = time.perf_counter()
        answered = bank_return_import(actor=releaser, batch=batch, data=out.getvalue().encode("utf-8"))
        result["return_s"] = time.perf_counter() - t0
        result["return"] = answered
    if xlsx:
        t0 = time.perf_counter()
        xfile = bank_file_export(actor=releaser, batch=batch, fmt="xlsx")
        result["xlsx_s"] = time.perf_counter() - t0
        result["xlsx_mb"] = len(xfile.content) / 1e6
    return result


def report(rows: list[dict], *, target: float, label: str) -> None:
    for r in rows:
        kinds = "，".join(f"{k} {v:,}" for k, v in sorted(r["kinds"].items()))
        print(
            f"  {r['county']}: build {r['build_s']:.2f} s, bank file {r['csv_s']:.2f} s ({r['csv_mb']:.1f} MB) — "
            f"{r['lines']:,} lines in the file ({kinds}; held {r['held']:,}), {r['items']:,} items, "
            f"total {r['total_fen'] / 100:,.2f} 元 (arrears {r['arrears_fen'] / 100:,.2f} 元)"
        )
        if "return_s" in r:
            a = r["return"]
            print(
                f"    bank return imported in {r['return_s']:.2f} s: paid {a.paid:,}, short {a.mismatch:,}, "
                f"failed {a.failed:,} (with the benefit history of every paid item)"
            )
        if "xlsx_s" in r:
            print(f"    XLSX {r['xlsx_mb']:.1f} MB in {r['xlsx_s']:.2f} s")
    build = sum(r["build_s"] for r in rows)
    export = sum(r["csv_s"] for r in rows)
    lines = sum(r["lines"] for r in rows)
    total = build + export
    print(
        f"build {build:.1f} s + bank files {export:.1f} s = {total:.1f} s for {lines:,} lines ({label}, target ≤ {target:.0f} s)"
    )
    print(f"{lines / total:,.0f} lines/s; peak memory of this process {peak_mib():,.0f} MiB")
    load = os.getloadavg()
    print(
        f"this process CPU {time.process_time():.1f} s; machine: {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} (the database server shares them)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", action="store_true", help="the whole city's month (seven counties, arrears)")
    parser.add_argument("--households", type=int, default=None, help="default 100,000 (county) or 40,000 (city)")
    parser.add_argument("--arrears-share", type=float, default=None, help="share decided earlier (city: 0.1)")
    parser.add_argument("--chunk-size", type=int, default=10000)
    parser.add_argument("--xlsx", action="store_true", help="also export the XLSX bank file")
    parser.add_argument(
        "--return", dest="bank_return", action="store_true", help="also import a bank return (timed apart)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="keep the households of a previous run (only the batches are redone)"
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ejia_bench")
    args = parser.parse_args()
    households = args.households or (40_000 if args.city else 100_000)
    arrears = args.arrears_share if args.arrears_share is not None else (0.1 if args.city else 0.0)
    ensure_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("EJIA_AUDIT_ANCHOR_FILE", "/tmp/ejia-bench-audit-anchor.json")  # noqa: S108
    import django

    django.setup()
    from django.core.management import call_command

    from ejia.accounts.services import read_base_divisions

    call_command("migrate", verbosity=0, skip_checks=True)
    counties = sorted(r.code for r in read_base_divisions() if r.level == "county") if args.city else [COUNTY]
    load(households=households, counties=counties, arrears_share=arrears, reuse=args.reuse)
    preparer, releaser = _staff(args.city)
    rows = [
        run_county(c, preparer, releaser, chunk_size=args.chunk_size, xlsx=args.xlsx, bank_return=args.bank_return)
        for c in counties
    ]
    if args.city:
        report(rows, target=15, label=f"the city's month, {households:,} households, {arrears:.0%} with arrears")
    else:
        report(rows, target=30, label=f"one county, {households:,} households")


if __name__ == "__main__":
    main()
