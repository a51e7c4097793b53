"""Benchmark: DCI sync search over a registry built for the bench (PostgreSQL).

Usage: DATABASE_URL=postgres://postgres@127.0.0.1:5432/ejia_dci_bench \
       .venv/bin/python bench/bench_dci.py [--households 100000] [--samples 200]

Builds (once; reused on later runs) `--households` households of two persons each, spread over
the city's counties, then times the whole sync_search call (envelope check, signature
verification, query, records, response) for: search by 身份证号码 (p50/p95 over `--samples`
random persons) and the first page (100 records) of an expression search over the largest
county and over the whole city. Prints the figures."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from bench_db import ensure_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ejia_dci_bench")

VILLAGES_PER_COUNTY = 40
BATCH = 5000


def id_for(i: int, member: int) -> str:
    from ejia.core import idnumber

    birth = dt.date(1950, 1, 1) + dt.timedelta(days=(i * 7 + member * 3650) % 20000)
    return idnumber.make("371602", birth, (i * 2 + member) % 999 + 1)


def villages() -> list:
    from ejia.accounts.models import Division
    from ejia.accounts.services import departments_ensure, divisions_upsert, orgunits_ensure, read_base_divisions

    if not Division.objects.filter(level="county").exists():
        divisions_upsert([r for r in read_base_divisions() if r.level in ("city", "county")])
        departments_ensure()
        orgunits_ensure()
    out = []
    for county in Division.objects.filter(level="county").order_by("code"):
        for n in range(1, VILLAGES_PER_COUNTY + 1):
            village, _ = Division.objects.get_or_create(
                code=f"{county.code}999{n:03d}",
                defaults=dict(
                    name=f"基准测试社区{n}",
                    full_name=f"{county.name}基准测试社区{n}",
                    level="village",
                    kind="community",
                    parent=county,
                    path=f"{county.path}{county.code}999{n:03d}/",
                    urban=True,
                ),
            )
            out.append(village)
    return out


def build(households: int) -> None:
    from django.db import connection, transaction

    from ejia.core import crypto, idnumber
    from ejia.registry.models import ID_PURPOSE, Household, Membership, Person

    have = Household.objects.filter(source="bench_dci").count()
    if have >= households:
        print(f"registry: {have:,} bench households already built")
        return
    places = villages()
    t = time.perf_counter()
    for start in range(have, households, BATCH):
        end = min(start + BATCH, households)
        with transaction.atomic():
            rows = Household.objects.bulk_create(
                [
                    Household(
                        division=places[i % len(places)],
                        address=f"基准路{i}号",
                        urban=True,
                        hukou_number=f"B{i:09d}",
                        source="bench_dci",
                    )
                    for i in range(start, end)
                ]
            )
            people = []
            for i in range(start, end):
                for member in (0, 1):
                    number = idnumber.parse(id_for(i, member)).number
                    parsed = idnumber.parse(number)
                    people.append(
                        Person(
                            id_number_ciphertext=crypto.encrypt(number, purpose=ID_PURPOSE),
                            id_number_index=crypto.blind_index(number, purpose=ID_PURPOSE),
                            id_number_masked=parsed.masked,
                            name=f"基准{i}-{member}",
                            sex=parsed.sex,
                            birth_date=parsed.birth_date,
                        )
                    )
            people = Person.objects.bulk_create(people, ignore_conflicts=False)
            Membership.objects.bulk_create(
                [
                    Membership(
                        household=rows[k // 2],
                        person=p,
                        relation="02" if k % 2 == 0 else "10",
                        date_in=dt.date(2020, 1, 1),
                    )
                    for k, p in enumerate(people)
                ]
            )
        print(f"  built {end:,} households ({time.perf_counter() - t:.0f} s)", flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("ANALYZE registry_household; ANALYZE registry_membership; ANALYZE registry_person")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--households", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from django.core.management import call_command
    from jwt.algorithms import OKPAlgorithm

    from ejia.api.dci import signing
    from ejia.api.dci.records import Agreement
    from ejia.api.dci.search import Partner, receiver_id, sync_search
    from ejia.registry.models import Household, Person

    call_command("migrate", verbosity=0)
    build(args.households)
    total_households = Household.objects.count()
    total_persons = Person.objects.count()
    print(f"registry: {total_households:,} households, {total_persons:,} persons")

    key = Ed25519PrivateKey.generate()
    jwk = {**json.loads(OKPAlgorithm.to_jwk(key.public_key())), "kid": "bench", "alg": "EdDSA"}
    agreement = Agreement.of({"place", "group_size", "member_list", "group_head_info", "name", "sex", "birth_date"})
    partner = Partner(sender_id="bench.partner", jwks={"keys": [jwk]}, agreement=agreement, division_code="371600")

    def envelope(criteria: dict) -> dict:
        header = {
            "version": "1.0.0",
            "message_id": "bench",
            "message_ts": "2026-12-04T10:00:00+08:00",
            "action": "search",
            "sender_id": "bench.partner",
            "receiver_id": receiver_id(),
            "total_count": 1,
        }
        message = {
            "transaction_id": "bench",
            "search_request": [{"reference_id": "r", "timestamp": header["message_ts"], "search_criteria": criteria}],
        }
        return {
            "signature": signing.sign(header, message, private_key=key, kid="bench"),
            "header": header,
            "message": message,
        }

    cpu_ms: list[float] = []  # this process's CPU per call (the database's is not in it)

    def timed(criteria: dict) -> tuple[float, dict]:
        body = envelope(criteria)
        t, c = time.perf_counter(), time.process_time()
        status, response = sync_search(body, partner)
        elapsed = (time.perf_counter() - t) * 1000
        cpu_ms.append((time.process_time() - c) * 1000)
        answer = response["message"]["search_response"][0]
        assert status == 200 and answer["status"] == "succ", answer
        return elapsed, answer

    built = Household.objects.filter(source="bench_dci").count()
    rng = random.Random(7)
    times = []
    for i in rng.sample(range(built), min(args.samples, built)):
        criteria = {
            "query_type": "idtype-value",
            "query": {"type": "NationalID", "value": id_for(i, rng.randint(0, 1))},
        }
        ms, answer = timed(criteria)
        assert answer["pagination"]["total_count"] == 1
        times.append(ms)
    times.sort()
    p95 = times[int(len(times) * 0.95) - 1]
    cpu = sorted(cpu_ms)
    print(
        f"sync search by ID number: n={len(times)} p50 {statistics.median(times):.1f} ms  p95 {p95:.1f} ms  max {times[-1]:.1f} ms  (target p95 <= 50 ms)"
        f"; CPU of this process p50 {statistics.median(cpu):.1f} ms p95 {cpu[int(len(cpu) * 0.95) - 1]:.1f} ms"
        f"; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )

    county = max(
        {
            h.division.parent.code
            for h in Household.objects.filter(source="bench_dci").select_related("division__parent")[:2000]
        }
    )
    for label, code in (("county " + county, county), ("city 371600", "371600")):
        query = {"expression": {"collection": "Group", "query": {"$and": [{"division_code": {"$eq": code}}]}}}
        criteria = {
            "query_type": "expression",
            "query": {"type": "ns:ejia:QueryType:NoSql", "value": query},
            "pagination": {"page_size": 100},
        }
        runs = []
        cpu_ms.clear()
        for _ in range(5):
            ms, answer = timed(criteria)
            runs.append(ms)
        cpu_first = statistics.median(cpu_ms)
        cursor = answer["pagination"]["next_cursor"]
        ms_next, _ = timed({**criteria, "pagination": {"page_size": 100, "cursor": cursor}})
        print(
            f"expression search first page (100 groups) over {label}: total_count {answer['pagination']['total_count']:,}, "
            f"median {statistics.median(runs):.0f} ms (CPU {cpu_first:.0f} ms), max {max(runs):.0f} ms; next page by cursor {ms_next:.0f} ms (target <= 1000 ms)"
        )


if __name__ == "__main__":
    main()
