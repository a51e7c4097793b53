"""Dashboards part "data" at city scale: how long the refresh of checks, department files and
discovery takes for twelve months, and how long the two sections take to read.

On an empty, migrated PostgreSQL database with the organisation and the data sources seeded
(`organisation_ensure`, `sources_seed`), `--fill` writes synthetic raw rows straight in SQL
(generate_series; no personal data): households spread over every village, finished checks with
one answer per source (a share with differences naming a source, a share partial), grid workers'
leads (some visited, some applied), 动态管理 alerts (some confirmed) and a committed file per
source and month. Then the part is refreshed month by month and each section is built for the
city and for one county, several times, and the timings are printed.

    DATABASE_URL=postgres://… python bench/bench_dash_data.py --fill
    DATABASE_URL=postgres://… python bench/bench_dash_data.py            # timings only
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


FILL = """
INSERT INTO registry_household (public_id, created_at, updated_at, address, urban, hukou_number, bank_name,
    account_ciphertext, account_masked, facts, source, division_id)
SELECT gen_random_uuid(), now(), now(), '', false, '', '', '', '', '{{}}'::jsonb, 'bench',
    v.ids[1 + g % array_length(v.ids, 1)]
FROM generate_series(1, {households}) g
CROSS JOIN (SELECT array_agg(id ORDER BY code) AS ids FROM accounts_division WHERE level = 'village') v;

CREATE TEMP TABLE bench_months AS
SELECT m::date AS month, row_number() OVER (ORDER BY m) - 1 AS i
FROM generate_series(date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai') - interval '11 months',
                     date_trunc('month', now() AT TIME ZONE 'Asia/Shanghai'), interval '1 month') m;

INSERT INTO verification_verificationcheck (public_id, created_at, updated_at, purpose, reference, reason, status,
    members, declared, facts, differences, finished_at, household_id)
SELECT gen_random_uuid(), t, t, 'application', '', 'bench',
    CASE WHEN g % 10 = 0 THEN 'partial' ELSE 'complete' END, '[]', '{{}}', '{{}}',
    CASE WHEN g % 10 < 3 THEN jsonb_build_array(jsonb_build_object('fact', 'vehicles',
        'sources', jsonb_build_array((SELECT name FROM verification_datasource ORDER BY code
                                      OFFSET g % 12 LIMIT 1)))) ELSE '[]'::jsonb END,
    t, (SELECT min(id) FROM registry_household) + (g::bigint * 7919) % {households}
FROM generate_series(1, {checks}) g
CROSS JOIN LATERAL (SELECT (month + ((g % 27) || ' days')::interval + interval '10 hours')
                           AT TIME ZONE 'Asia/Shanghai' AS t
                    FROM bench_months WHERE i = g % 12) m;

INSERT INTO verification_checksource (status, mode, findings, error, attempts, runs, elapsed_ms, source_id,
    verification_id, finished_at)
SELECT CASE WHEN c.status = 'partial' AND s.sort_order = c.id % 12 THEN 'failed' ELSE 'done' END,
    'snapshot', '{{}}', '', 1, 1, 5, s.id, c.id, c.finished_at
FROM verification_verificationcheck c CROSS JOIN verification_datasource s;

INSERT INTO discovery_lead (public_id, created_at, updated_at, source, status, likelihood, persons, reasons, facts,
    unknown_labels, reported_name, reported_address, reported_seen, closed_at, close_reason, division_id)
SELECT gen_random_uuid(), t, t, 'report',
    CASE WHEN g % 20 < 3 THEN 'applied' WHEN g % 20 < 6 THEN 'declined' WHEN g % 20 < 8 THEN 'not_eligible'
         WHEN g % 20 < 9 THEN 'lapsed' ELSE 'open' END,
    '', '[]', '[]', '[]', '[]', '某', '', 'bench',
    CASE WHEN g % 20 < 9 THEN t + interval '9 days' END, '',
    (SELECT division_id FROM registry_household WHERE id = (SELECT min(id) FROM registry_household)
        + (g::bigint * 104729) % {households})
FROM generate_series(1, {leads}) g
CROSS JOIN LATERAL (SELECT (month + ((g % 20) || ' days')::interval) AT TIME ZONE 'Asia/Shanghai' AS t
                    FROM bench_months WHERE i = g % 12) m;

INSERT INTO disbursement_dynamicalert (public_id, created_at, updated_at, person_key, reason, facts, effective_on,
    source_name, status, due_on, dismiss_reason, handled_at, household_id)
SELECT gen_random_uuid(), t, t, g::text, 'vehicle', '{{}}', t::date, 'bench',
    CASE WHEN g % 10 < 3 THEN 'confirmed' WHEN g % 10 < 5 THEN 'dismissed' ELSE 'open' END,
    t::date + 14, '', CASE WHEN g % 10 < 5 THEN t + interval '5 days' END,
    (SELECT min(id) FROM registry_household) + (g::bigint * 15485863) % {households}
FROM generate_series(1, {alerts}) g
CROSS JOIN LATERAL (SELECT (month + ((g % 20) || ' days')::interval) AT TIME ZONE 'Asia/Shanghai' AS t
                    FROM bench_months WHERE i = g % 12) m;

INSERT INTO verification_sourcesnapshot (public_id, created_at, updated_at, status, file_name, file_format, file_size,
    sha256, encoding, rows_total, rows_accepted, rows_rejected, rows_blank, file_header, ignored_columns,
    staged_path, error, override_reason, committed_at, source_id)
SELECT gen_random_uuid(), t, t, CASE WHEN m.i = 11 THEN 'committed' ELSE 'superseded' END, 'bench.csv', 'csv', 0,
    '', 'utf-8', 100000 + s.id, 100000 + s.id - (m.i * 37 + s.id) % 500, (m.i * 37 + s.id) % 500, 0, '[]', '[]',
    '', '', '', t, s.id
FROM verification_datasource s CROSS JOIN bench_months m
CROSS JOIN LATERAL (SELECT (m.month + interval '3 days') AT TIME ZONE 'Asia/Shanghai' AS t) tt;
ANALYZE;
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fill", action="store_true", help="write the synthetic raw rows first")
    parser.add_argument("--households", type=int, default=1_300_000)
    parser.add_argument("--checks", type=int, default=60_000, help="finished checks over twelve months")
    parser.add_argument("--leads", type=int, default=120_000)
    parser.add_argument("--alerts", type=int, default=24_000)
    parser.add_argument("--repeat", type=int, default=20, help="section builds per area")
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.utils import timezone

    from ejia.dashboards.refresh import recent_months, refresh
    from ejia.dashboards.sections import data, discovery
    from ejia.dashboards.selectors import Query
    from ejia.dashboards.types import Crumb

    if args.fill:
        t = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(FILL.format(**vars(args)))
        print(f"filled in {time.perf_counter() - t:.0f} s")
    with connection.cursor() as cursor:
        for table in (
            "registry_household",
            "verification_verificationcheck",
            "verification_checksource",
            "discovery_lead",
            "disbursement_dynamicalert",
        ):
            cursor.execute(f"SELECT count(*) FROM {table}")
            print(f"{table}: {cursor.fetchone()[0]:,}")

    months = recent_months(today=timezone.localdate())
    t = time.perf_counter()
    runs = refresh(months=months, trigger="bench", parts=["data"])
    total = time.perf_counter() - t
    assert all(r.status == "done" for r in runs), [r.error for r in runs if r.error]
    per_month = [(r.finished_at - r.started_at).total_seconds() for r in runs]
    print(
        f"refresh part data, 12 months: {total:.1f} s (per month median {statistics.median(per_month):.2f} s, "
        f"max {max(per_month):.2f} s; {sum(r.rows for r in runs):,} summary rows)"
    )

    from ejia.accounts.models import Division

    for code in ("371600", "371602"):
        area = Division.objects.get(code=code)
        children = tuple(
            Crumb(c, n) for c, n in Division.objects.filter(parent=area).order_by("code").values_list("code", "name")
        )
        q = Query(
            area=Crumb(area.code, area.full_name),
            level=area.level,
            child_level="county" if area.level == "city" else "township",
            children=children,
            months=tuple(months),
        )
        for name, module in (("data", data), ("discovery", discovery)):
            took = []
            for _ in range(args.repeat):
                t = time.perf_counter()
                module.build(q)
                took.append((time.perf_counter() - t) * 1000)
            took.sort()
            p95 = took[max(0, int(len(took) * 0.95) - 1)]
            print(f"section {name} for {area.name}: median {statistics.median(took):.1f} ms, p95 {p95:.1f} ms")


if __name__ == "__main__":
    main()
