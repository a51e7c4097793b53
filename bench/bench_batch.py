"""Benchmark: build one county's monthly payment batch for 100,000 households and export its bank file.

Usage:
  .venv/bin/python bench/bench_batch.py [--households 100000] [--chunk-size 5000] [--xlsx]
      [--database-url postgres://postgres@127.0.0.1:5432/ejia_bench]

Creates the database if missing and migrates it, then loads (set-based: COPY and INSERT … SELECT)
the households with encrypted accounts and active entitlements (低保 for all, a member subsidy for
every third), builds the batch with the same `batch_build` the command uses, has a second person
release it, exports the bank file and prints seconds and lines/s for each step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

COUNTY = "371602"
PERIOD = dt.date(2026, 5, 1)


def ensure_database(url: str) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as con:
        if not con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            con.execute(f'CREATE DATABASE "{name}"')


def setup(households: int, *, reuse: bool = False):
    from django.core.management import call_command
    from django.db import connection, transaction

    from ejia.accounts.models import Department, Division, OrgUnit, Role, User
    from ejia.accounts.services import departments_ensure, divisions_upsert, orgunits_ensure, read_base_divisions
    from ejia.catalogue.models import Programme
    from ejia.core import crypto
    from ejia.registry.models import ACCOUNT_PURPOSE

    call_command("migrate", verbosity=0, skip_checks=True)
    if not Division.objects.filter(code=COUNTY).exists():
        rows = [r for r in read_base_divisions() if r.level in ("city", "county") or r.code == "371602001"]
        divisions_upsert(rows)
        departments_ensure()
        orgunits_ensure()
    village = (
        Division.objects.filter(path__startswith=Division.objects.get(code="371602001").path)
        .exclude(code="371602001")
        .first()
    )
    if village is None:
        township = Division.objects.get(code="371602001")
        village = Division.objects.create(
            code="371602001001",
            name="基准测试社区",
            full_name="基准测试社区",
            level="village",
            kind="community",
            parent=township,
            path=township.path + "/371602001001",
            urban=True,
        )
    centre = OrgUnit.objects.get(division__code=COUNTY, kind="centre")
    users = []
    for name in ("bench_preparer", "bench_releaser"):
        user, _ = User.objects.get_or_create(username=name, defaults={"unit": centre, "display_name": name})
        user.roles.get_or_create(role=Role.COUNTY_REVIEWER)
        users.append(user)
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
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("TRUNCATE disbursement_paymentitem, disbursement_paymentline, disbursement_paymentbatch CASCADE")
        cur.execute("SELECT COUNT(*) FROM registry_household WHERE source = 'bench'")
        if reuse and cur.fetchone()[0] == households:
            print(f"load: reusing {households:,} bench households")
            return users
        cur.execute("DELETE FROM disbursement_entitlement WHERE county_code = %s", [COUNTY])
        cur.execute("DELETE FROM registry_household WHERE source = 'bench'")
    with transaction.atomic(), connection.cursor() as cur:
        raw = cur.cursor
        with raw.copy(
            "COPY registry_household (public_id, created_at, updated_at, division_id, address, urban, hukou_number, "
            "bank_name, account_ciphertext, account_masked, facts, source) FROM STDIN"
        ) as copy:
            import uuid

            now = dt.datetime.now(dt.UTC)
            for n in range(households):
                account = f"62284800{n:011d}"
                copy.write_row(
                    (
                        uuid.uuid4(),
                        now,
                        now,
                        village.pk,
                        f"基准路{n}号",
                        True,
                        "",
                        "滨州农商银行",
                        crypto.encrypt(account, purpose=ACCOUNT_PURPOSE),
                        account[:4] + "*" * 11 + account[-4:],
                        "{}",
                        "bench",
                    )
                )
        cur.execute(
            """INSERT INTO disbursement_entitlement (public_id, created_at, updated_at, household_id, programme_id,
                   county_code, amount_fen, facts, rule_version, start_month, status, exit_reason)
               SELECT gen_random_uuid(), now(), now(), h.id, %s, %s, 50000 + (h.id %% 40000), '{}'::jsonb, 'v1', %s, 'active', ''
               FROM registry_household h WHERE h.source = 'bench'
               UNION ALL
               SELECT gen_random_uuid(), now(), now(), h.id, %s, %s, 10000, '{}'::jsonb, 'v1', %s, 'active', ''
               FROM registry_household h WHERE h.source = 'bench' AND h.id %% 3 = 0""",
            [programmes["dibao"].pk, COUNTY, PERIOD, programmes["disability_living_subsidy"].pk, COUNTY, PERIOD],
        )
        cur.execute("ANALYZE registry_household; ANALYZE disbursement_entitlement")
    print(f"load: {households:,} households with accounts and entitlements in {time.perf_counter() - t0:.1f} s")
    return users


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=10000)
    parser.add_argument("--xlsx", action="store_true", help="also export the XLSX bank file")
    parser.add_argument(
        "--reuse", action="store_true", help="keep the households of a previous run (only the batch is redone)"
    )
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ejia_bench")
    args = parser.parse_args()
    ensure_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("EJIA_AUDIT_ANCHOR_FILE", "/tmp/ejia-bench-audit-anchor.json")  # noqa: S108
    import django

    django.setup()
    from ejia.disbursement.bankfiles import bank_file_export
    from ejia.disbursement.batches import batch_build, batch_release
    from ejia.disbursement.models import PaymentItem

    preparer, releaser = setup(args.households, reuse=args.reuse)
    t0 = time.perf_counter()
    batch = batch_build(actor=preparer, county=COUNTY, period=PERIOD, chunk_size=args.chunk_size)
    build_s = time.perf_counter() - t0
    print(
        f"build: {batch.line_count:,} lines, {PaymentItem.objects.filter(line__batch=batch).count():,} items, "
        f"total {batch.total_fen / 100:,.2f} 元 in {build_s:.1f} s = {batch.line_count / build_s:,.0f} lines/s"
    )
    batch = batch_release(actor=releaser, batch=batch)
    t0 = time.perf_counter()
    file = bank_file_export(actor=releaser, batch=batch, fmt="csv")
    csv_s = time.perf_counter() - t0
    print(
        f"bank file CSV: {len(file.content) / 1e6:.1f} MB in {csv_s:.1f} s = {batch.line_count / csv_s:,.0f} lines/s, sha256 {file.checksum[:16]}…"
    )
    total = build_s + csv_s
    if args.xlsx:
        t0 = time.perf_counter()
        xfile = bank_file_export(actor=releaser, batch=batch, fmt="xlsx")
        xs = time.perf_counter() - t0
        print(f"bank file XLSX: {len(xfile.content) / 1e6:.1f} MB in {xs:.1f} s = {batch.line_count / xs:,.0f} lines/s")
    print(f"build + CSV export: {total:.1f} s (target ≤ 30 s) = {batch.line_count / total:,.0f} lines/s")
    load = os.getloadavg()
    print(
        f"this process CPU {time.process_time():.1f} s; machine: {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} (the database server shares them)"
    )


if __name__ == "__main__":
    main()
