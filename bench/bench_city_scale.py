"""Bench tool: grow a city built by `bench_scan.build` to full-city size by copying it inside
PostgreSQL, so that the scan and the what-if can be measured at 1.3 M households.

Usage:
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ejia_fullcity \\
        .venv/bin/python bench/bench_city_scale.py [--households 1300000] [--check-only]

Building the full city with the demo's own loaders (per-person encryption, department files
imported row by row) did not finish in 70 minutes on this machine. This tool instead builds a
smaller city once (`bench_scan.py --persons 100000 --repeat 0`) and then adds copies of it, one
copy per transaction (`INSERT … SELECT` per table, entirely inside PostgreSQL), until the city
holds at least `--households` households; then resets the id sequences, runs `VACUUM ANALYZE`
and checks the result with SQL counts. It is resumable (the copies made are recorded in the
table `bench_scale_copy`, the original rows' id ranges in `bench_scale_base`) and changes no
product code or schema.

Copy k of every original row gets:
- new primary keys: id + k × (the table's largest original id), and so every foreign key
  between copied tables (household, person, account holder) moves by the same offset;
- a new `public_id` (md5 of the old one and k, as a UUID);
- persons: a new unique blind index `id_number_index` = hex SHA-256 of the old index, ':' and
  k (64 hex digits, the format of the HMAC-SHA-256 blind index);
- households: a village of the same kind (urban 社区 / rural 村) shifted k × n/(copies+1)
  places along the city's villages ordered by code, so the copies spread over the city's real
  villages, townships and counties; `urban` from that village; its own 户号 (the old 13-digit
  number followed by k on two digits);
- memberships, household and member statuses, the benefit history (registry tables), and the
  department records of the committed snapshots (`verification_sourcerecord`): the records
  are re-keyed to the copied persons' new blind indexes (the same function), stay in the SAME
  snapshots (snapshot id unchanged; `row_number` + k × the largest original one keeps file
  order), and the snapshots' `rows_total`/`rows_accepted` grow by the rows added.
Entitlements, requests, cases, leads and audit events are not copied: the tool refuses to run
when the original city has entitlements or open requests (the bench city has none).

What a copy shares with its original, and why it does not change what is measured:
- the encrypted ID number (`id_number_ciphertext`, `id_ciphertext` of records), the masked ID
  and the name, birth date and sex, the encrypted bank account and the address text. The scan
  and the what-if never read the ciphertexts nor the address (the export reads names and birth
  dates, which a real city also repeats); the blind indexes they join on are all new;
- the facts (JSON on households and memberships) and the records' data: each copy is the same
  families placed in other villages, so the rules give them the same outcomes and a scan finds
  leads in the same proportion as in the small city (checked: see docs/discovery.md). A real
  city's households are more varied, but the scan's cost per household does not depend on
  which facts a household has: every household goes through the same statements;
- the 公安 population lookup table (`registry_populationrecord`) is not copied: neither the
  scan nor the what-if reads it (the export reads the population *snapshot records*).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time

import psycopg

# (table, {column: SQL expression over the original row `x`, copy number %(k)s and the
# offsets}); columns not named are copied as they are. Order matters for foreign keys.
PERSON, HOUSEHOLD = "registry_person", "registry_household"
UUID = "md5(x.public_id::text || ':' || %(k)s)::uuid"
TABLES: list[tuple[str, dict[str, str], str]] = [
    (
        PERSON,
        {
            "id": "x.id + %(k)s::bigint * %(off_registry_person)s",
            "public_id": UUID,
            "id_number_index": "encode(sha256(convert_to(x.id_number_index || ':' || %(k)s, 'UTF8')), 'hex')",
        },
        "",
    ),
    (
        HOUSEHOLD,
        {
            "id": "x.id + %(k)s::bigint * %(off_registry_household)s",
            "public_id": UUID,
            "division_id": "v.new_id",
            "urban": "v.urban",
            "hukou_number": "x.hukou_number || lpad(%(k)s::text, 2, '0')",
            "account_holder_id": "x.account_holder_id + %(k)s::bigint * %(off_registry_person)s",
        },
        "JOIN bench_scale_villages v ON v.old_id = x.division_id",
    ),
    (
        "registry_membership",
        {
            "id": "x.id + %(k)s::bigint * %(off_registry_membership)s",
            "public_id": UUID,
            "household_id": "x.household_id + %(k)s::bigint * %(off_registry_household)s",
            "person_id": "x.person_id + %(k)s::bigint * %(off_registry_person)s",
        },
        "",
    ),
    (
        "registry_householdstatus",
        {
            "id": "x.id + %(k)s::bigint * %(off_registry_householdstatus)s",
            "public_id": UUID,
            "household_id": "x.household_id + %(k)s::bigint * %(off_registry_household)s",
        },
        "",
    ),
    (
        "registry_memberstatus",
        {
            "id": "x.id + %(k)s::bigint * %(off_registry_memberstatus)s",
            "public_id": UUID,
            "household_id": "x.household_id + %(k)s::bigint * %(off_registry_household)s",
            "person_id": "x.person_id + %(k)s::bigint * %(off_registry_person)s",
        },
        "",
    ),
    (
        "registry_benefitrecord",
        {
            "id": "x.id + %(k)s::bigint * %(off_registry_benefitrecord)s",
            "public_id": UUID,
            "household_id": "x.household_id + %(k)s::bigint * %(off_registry_household)s",
            "person_id": "x.person_id + %(k)s::bigint * %(off_registry_person)s",
        },
        "",
    ),
    (
        "verification_sourcerecord",
        {
            "id": "x.id + %(k)s::bigint * %(off_verification_sourcerecord)s",
            "person_index": "encode(sha256(convert_to(x.person_index || ':' || %(k)s, 'UTF8')), 'hex')",
            "row_number": "x.row_number + %(k)s::bigint * %(max_row_number)s",
        },
        # Only the records of committed snapshots: the ones the scan reads.
        "JOIN verification_sourcesnapshot s ON s.id = x.snapshot_id AND s.status = 'committed'",
    ),
]
# Tables the copies do not carry; the tool refuses when the original city has rows in them
# that the scan would read (a copy without them would hold less than its original).
NOT_COPIED = ("disbursement_entitlement", "cases_programmerequest")


def columns(cur, table: str) -> list[str]:
    cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        [table],
    )
    return [r[0] for r in cur.fetchall()]


def base(con) -> dict[str, int]:
    """The original rows' largest ids (recorded once, before the first copy) and counts."""
    with con.cursor() as cur:
        cur.execute(
            "CREATE TABLE IF NOT EXISTS bench_scale_base (name text PRIMARY KEY, value bigint NOT NULL);"
            "CREATE TABLE IF NOT EXISTS bench_scale_copy (copy int PRIMARY KEY, seconds float NOT NULL,"
            " made_at timestamptz NOT NULL DEFAULT now())"
        )
        cur.execute("SELECT name, value FROM bench_scale_base")
        found = dict(cur.fetchall())
        if found:
            return found
        values: dict[str, int] = {}
        for table, _, _ in TABLES:
            cur.execute(f"SELECT coalesce(max(id), 0), count(*) FROM {table}")
            values[f"off_{table}"], values[f"rows_{table}"] = cur.fetchone()
        cur.execute("SELECT coalesce(max(row_number), 0) FROM verification_sourcerecord")
        values["max_row_number"] = cur.fetchone()[0]
        if not values[f"rows_{HOUSEHOLD}"]:
            sys.exit("数据库中没有家庭：请先用 bench_scan.py --persons N --repeat 0 建立小城市。")
        for table in NOT_COPIED:
            cur.execute(f"SELECT count(*) FROM {table}")
            if cur.fetchone()[0]:
                sys.exit(f"{table} 中已有数据，本工具不复制它：请在未办理业务的基准城市上运行。")
        cur.executemany("INSERT INTO bench_scale_base VALUES (%s, %s)", list(values.items()))
    con.commit()
    return values


def villages(cur, k: int, copies: int) -> None:
    """bench_scale_villages(old_id, new_id, urban): each village to the village of the same
    kind k × n/(copies+1) places further along the city's villages ordered by code."""
    cur.execute("DROP TABLE IF EXISTS bench_scale_villages")
    cur.execute(
        "CREATE TEMP TABLE bench_scale_villages AS"
        " WITH v AS (SELECT id, urban, row_number() OVER (PARTITION BY urban ORDER BY code) - 1 AS r,"
        " count(*) OVER (PARTITION BY urban) AS n FROM accounts_division WHERE level = 'village')"
        " SELECT a.id AS old_id, b.id AS new_id, b.urban FROM v a JOIN v b ON b.urban = a.urban"
        " AND b.r = (a.r + %(k)s::bigint * greatest(1, a.n / %(parts)s)) %% a.n",
        {"k": k, "parts": copies + 1},
    )


def copy(con, k: int, copies: int, offsets: dict[str, int]) -> None:
    params = {"k": k, **offsets}
    with con.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")
        villages(cur, k, copies)
        for table, overrides, join in TABLES:
            names = columns(cur, table)
            select = ", ".join(overrides.get(c, f'x."{c}"') for c in names)
            limit = f"x.id <= %(off_{table})s"
            quoted = ", ".join(f'"{c}"' for c in names)
            cur.execute(
                f"INSERT INTO {table} ({quoted}) SELECT {select} FROM {table} x {join} WHERE {limit}",
                params,
            )
            if cur.rowcount != offsets[f"rows_{table}"] and table != "verification_sourcerecord":
                raise RuntimeError(f"copy {k} of {table}: {cur.rowcount} rows, {offsets[f'rows_{table}']} expected")
        # The snapshots hold what was added: rows_total = rows_accepted + rows_rejected still.
        cur.execute(
            "UPDATE verification_sourcesnapshot s SET rows_total = s.rows_total + c.n,"
            " rows_accepted = s.rows_accepted + c.n FROM (SELECT snapshot_id, count(*) AS n"
            " FROM verification_sourcerecord WHERE id <= %(off_verification_sourcerecord)s GROUP BY snapshot_id) c"
            " WHERE c.snapshot_id = s.id AND s.status = 'committed'",
            params,
        )
        cur.execute("INSERT INTO bench_scale_copy (copy, seconds) VALUES (%s, 0)", [k])


def reset_sequences(con) -> None:
    with con.cursor() as cur:
        for table, _, _ in TABLES:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT max(id) FROM {table}))",
                [table],
            )
    con.commit()


CHECKS = [
    ("households", "SELECT count(*) FROM registry_household"),
    ("persons", "SELECT count(*) FROM registry_person"),
    ("open memberships", "SELECT count(*) FROM registry_membership WHERE date_out IS NULL"),
    ("household statuses", "SELECT count(*) FROM registry_householdstatus"),
    ("member statuses", "SELECT count(*) FROM registry_memberstatus"),
    ("benefit records", "SELECT count(*) FROM registry_benefitrecord"),
    (
        "records of committed snapshots",
        "SELECT count(*) FROM verification_sourcerecord r JOIN verification_sourcesnapshot s"
        " ON s.id = r.snapshot_id AND s.status = 'committed'",
    ),
    (
        "… of which match a person",
        "SELECT count(*) FROM verification_sourcerecord r JOIN verification_sourcesnapshot s"
        " ON s.id = r.snapshot_id AND s.status = 'committed'"
        " WHERE EXISTS (SELECT 1 FROM registry_person p WHERE p.id_number_index = r.person_index)",
    ),
    ("villages with households", "SELECT count(DISTINCT division_id) FROM registry_household"),
    (
        "townships with households",
        "SELECT count(DISTINCT d.parent_id) FROM registry_household h JOIN accounts_division d ON d.id = h.division_id",
    ),
    (
        "counties with households",
        "SELECT count(DISTINCT t.parent_id) FROM registry_household h JOIN accounts_division d"
        " ON d.id = h.division_id JOIN accounts_division t ON t.id = d.parent_id",
    ),
    (
        "households per county (min–max)",
        "SELECT min(n)::text || '–' || max(n)::text FROM (SELECT count(*) AS n FROM registry_household h"
        " JOIN accounts_division d ON d.id = h.division_id JOIN accounts_division t ON t.id = d.parent_id"
        " GROUP BY t.parent_id) c",
    ),
    # Each of these must be 0.
    (
        "households not in a village, or urban unlike it (0)",
        "SELECT count(*) FROM registry_household h LEFT JOIN accounts_division d ON d.id = h.division_id"
        " WHERE d.id IS NULL OR d.level <> 'village' OR d.urban <> h.urban",
    ),
    (
        "memberships without person or household (0)",
        "SELECT count(*) FROM registry_membership m LEFT JOIN registry_person p ON p.id = m.person_id"
        " LEFT JOIN registry_household h ON h.id = m.household_id WHERE p.id IS NULL OR h.id IS NULL",
    ),
    (
        "statuses without household or person (0)",
        "SELECT (SELECT count(*) FROM registry_householdstatus s LEFT JOIN registry_household h"
        " ON h.id = s.household_id WHERE h.id IS NULL) + (SELECT count(*) FROM registry_memberstatus s"
        " LEFT JOIN registry_person p ON p.id = s.person_id WHERE p.id IS NULL)",
    ),
    (
        "persons in two open households (0)",
        "SELECT count(*) FROM (SELECT person_id FROM registry_membership WHERE date_out IS NULL"
        " GROUP BY person_id HAVING count(*) > 1) x",
    ),
    (
        "duplicate blind indexes (0)",
        "SELECT count(*) - count(DISTINCT id_number_index) FROM registry_person",
    ),
    (
        "members whose household is in another city copy (0)",
        "SELECT count(*) FROM registry_membership m JOIN bench_scale_base b ON b.name = 'off_registry_person'"
        " JOIN bench_scale_base c ON c.name = 'off_registry_household'"
        " WHERE (m.person_id - 1) / b.value <> (m.household_id - 1) / c.value",
    ),
    (
        "duplicate 户号 among households (0)",
        "SELECT count(*) - count(DISTINCT hukou_number) FROM registry_household",
    ),
    (
        "committed snapshots whose rows_accepted ≠ their records (0)",
        "SELECT count(*) FROM verification_sourcesnapshot s WHERE s.status = 'committed'"
        " AND s.rows_accepted <> (SELECT count(*) FROM verification_sourcerecord r WHERE r.snapshot_id = s.id)",
    ),
]


def check(con) -> None:
    with con.cursor() as cur:
        for label, sql in CHECKS:
            t = time.perf_counter()
            cur.execute(sql)
            value = cur.fetchone()[0]
            shown = f"{value:,}" if isinstance(value, int) else value
            print(f"  {label}: {shown} ({time.perf_counter() - t:.1f} s)", flush=True)
        cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"  database size: {cur.fetchone()[0]}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", ""))
    parser.add_argument("--households", type=int, default=1_300_000, help="grow until at least this many")
    parser.add_argument("--check-only", action="store_true")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        sys.exit("bench_city_scale 只用于 PostgreSQL：请给出 --database-url postgres://…")
    with psycopg.connect(args.database_url) as con:
        offsets = base(con)
        households = offsets[f"rows_{HOUSEHOLD}"]
        copies = max(0, math.ceil(args.households / households) - 1)
        with con.cursor() as cur:
            cur.execute("SELECT copy FROM bench_scale_copy")
            done = {r[0] for r in cur.fetchall()}
        con.commit()
        todo = [k for k in range(1, copies + 1) if k not in done]
        print(
            f"original city: {households:,} households, {offsets[f'rows_{PERSON}']:,} persons, "
            f"{offsets['rows_verification_sourcerecord']:,} department records; {copies} copies wanted, "
            f"{len(done)} made, {0 if args.check_only else len(todo)} to make",
            flush=True,
        )
        started, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        if not args.check_only:
            for k in todo:
                t = time.perf_counter()
                copy(con, k, copies, offsets)
                with con.cursor() as cur:
                    cur.execute(
                        "UPDATE bench_scale_copy SET seconds = %s WHERE copy = %s", [time.perf_counter() - t, k]
                    )
                con.commit()
                print(f"copy {k}/{copies}: {time.perf_counter() - t:.1f} s (load {os.getloadavg()[0]:.1f})", flush=True)
            if todo:
                reset_sequences(con)
                t = time.perf_counter()
                con.autocommit = True
                con.execute("VACUUM ANALYZE")
                print(f"VACUUM ANALYZE: {time.perf_counter() - t:.1f} s", flush=True)
            print(
                f"copies: {time.perf_counter() - started:.0f} s wall, "
                f"{resource.getrusage(resource.RUSAGE_SELF).ru_utime - cpu.ru_utime:.1f} CPU s in this process "
                f"(the work is PostgreSQL's), load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        print("checks:", flush=True)
        check(con)


if __name__ == "__main__":
    main()
