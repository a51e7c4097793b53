"""Benchmark: the dashboards at full-city scale on PostgreSQL (issue #19, "Performance").

Usage:
  .venv/bin/python bench/bench_dashboards.py [--rebuild] [--requests 30] [--warmups 3]
      [--database-url postgres://postgres@127.0.0.1:5432/ejia_dash_bench] [--skip-refresh]

1. Data (built once, reused on later runs; `--rebuild` drops the database and builds again).
   THIS IS A BENCH GENERATOR, NOT THE REAL SERVICES: the bulk rows are written by set-based SQL
   (INSERT … SELECT over generate_series) so that a full city takes minutes, not hours. Only
   the reference data goes through the project's services: the real Binzhou city, counties and
   townships (read_base_divisions / divisions_upsert) plus 50 synthetic villages per township,
   departments, units, the programme catalogue (catalogue_seed), procedure templates
   (procedures_seed) and data sources (sources_seed). The rows are shaped like the services'
   (same states, same keys, same constraints) but skip their side effects (audit events,
   benefit history, outbox). Every person is synthetic ("基准居民N"); ID numbers are dummy
   ciphertexts and blind indexes, unique per person.
   - 1.3 M households, 3.9 M persons, one membership each (a few moved in or out this year);
   - ~40,000 recipient households: 低保, 特困 (a member), 低保边缘, 支出型, and member or
     household top-ups (困难残疾人生活补贴, 高龄津贴, 租赁补贴, 失业保险金), some starting or
     ending inside the twelve months;
   - twelve months × seven counties of released payment batches, a line per household and
     kind (regular; arrears — 补发 — in the month after an entitlement started) and an item
     per entitlement and month, bank answers mixed (paid, mismatch, failed, returned, held;
     this month's still pending);
   - ~5,000 cases a month (four channels) with a programme request, a procedure on the
     programme's seeded template and step records up to now (approved, refused, withdrawn or
     still open at a step); a one-click check with every data source's answer for each
     低保/特困 case (some with differences, some partial); department files (committed,
     superseded, refused); ~2,000 discovery leads and ~500 动态管理 alerts a month.
   ANALYZE at the end; the row counts and the generation time are printed.
2. The nightly refresh: `refresh(months=recent_months(), trigger="bench")`, wall seconds and
   rows written; then each part's queries and roll-up alone (Part.build, not written) for last
   month (`--per-part all`: the twelve months), one month of every part written, and the peak
   RSS of this process. Target ≤ 120 s.
3. The pages' server time through the Django test Client in this process, signed in as a city
   centre director (second factor passed): the city, a county, a township and a village page,
   `--requests` requests each after `--warmups` warm-ups: p50, p95, max (ms) and the number of
   SQL queries of one request. Target p95 ≤ 300 ms. Also the CPU time a request costs (this
   process plus its PostgreSQL backend, read from /proc): on a machine shared with other work
   the wall time includes waiting for a core, the CPU time does not.

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ejia_dash_bench"
SOURCE = "dashbench"  # Household.source of the bench's households
HOUSEHOLDS = 1_300_000
PERSONS_PER_HOUSEHOLD = 3
VILLAGES_PER_TOWNSHIP = 50
RECIPIENT_EVERY = 32  # one household in 32 receives help: ~40,600
CASES_PER_MONTH = 5_000
LEADS_PER_MONTH = 2_000
ALERTS_PER_MONTH = 500
DIRECTOR = "bench_dash_director"


def scale(households: int) -> None:
    """A smaller data set of the same shape (for trying the generator out)."""
    global HOUSEHOLDS, CASES_PER_MONTH, LEADS_PER_MONTH, ALERTS_PER_MONTH
    factor = households / HOUSEHOLDS
    HOUSEHOLDS = households
    CASES_PER_MONTH = max(10, round(CASES_PER_MONTH * factor))
    LEADS_PER_MONTH = max(10, round(LEADS_PER_MONTH * factor))
    ALERTS_PER_MONTH = max(10, round(ALERTS_PER_MONTH * factor))


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ensure_database(url: str, *, rebuild: bool) -> None:
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(base + "/postgres", autocommit=True) as con:
        exists = con.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and rebuild:
            con.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            con.execute(f'CREATE DATABASE "{name}"')


# ---------------------------------------------------------------- reference data (services)


def reference_data() -> None:
    """Divisions (the real city, counties and townships; synthetic villages), departments,
    units, catalogue, procedure templates, data sources and the bench's staff."""
    from ejia.accounts.models import Division, OrgUnit, Role, User
    from ejia.accounts.services import (
        DivisionRow,
        departments_ensure,
        divisions_upsert,
        orgunits_ensure,
        read_base_divisions,
    )
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.catalogue.seed import catalogue_seed
    from ejia.verification.sources import sources_seed

    base = read_base_divisions()
    villages = [
        DivisionRow(
            f"{t.code}{n:03d}",
            f"基准{'社区' if t.kind == 'street' else '村'}{n}",
            "village",
            t.code,
            "community" if t.kind == "street" else "village",
        )
        for t in base
        if t.level == "township"
        for n in range(1, VILLAGES_PER_TOWNSHIP + 1)
    ]
    divisions_upsert([*base, *villages])
    departments_ensure()
    orgunits_ensure()
    catalogue_seed()
    procedures_seed()
    sources_seed()
    city_centre = OrgUnit.objects.get(division__code="371600", kind="centre")
    director, _ = User.objects.get_or_create(
        username=DIRECTOR, defaults={"unit": city_centre, "display_name": "基准测试中心主任"}
    )
    director.roles.get_or_create(role=Role.CENTRE_DIRECTOR)
    for county in Division.objects.filter(level="county"):
        centre = OrgUnit.objects.get(division=county, kind="centre")
        for name in ("preparer", "releaser"):
            user, _ = User.objects.get_or_create(
                username=f"bench_dash_{name}_{county.code}", defaults={"unit": centre, "display_name": name}
            )
            user.roles.get_or_create(role=Role.COUNTY_REVIEWER)


# ---------------------------------------------------------------- bulk rows (set-based SQL)


def _months(today: dt.date | None = None) -> list[dt.date]:
    from ejia.dashboards.refresh import recent_months

    return recent_months(today=today)


def _step(cur, label: str, sql: str, params=None) -> None:
    """Run one statement and print how many rows it wrote and how long it took."""
    t = time.perf_counter()
    if params is not None:
        sql = sql.replace(" % ", " %% ")  # a literal modulo next to placeholders
    cur.execute(sql, params)
    print(f"  {label}: {cur.rowcount:,} rows in {time.perf_counter() - t:.1f} s", flush=True)


def _next_id(cur, table: str) -> int:
    cur.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
    return cur.fetchone()[0]


def _reset_identity(cur, table: str) -> None:
    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 1) FROM {table}))")


def bulk_rows() -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    months = _months()
    first, last = months[0], months[-1]
    now = timezone.now()
    H, P = HOUSEHOLDS, HOUSEHOLDS * PERSONS_PER_HOUSEHOLD
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute(
            """CREATE TEMP TABLE bench_village ON COMMIT DROP AS
               SELECT (ROW_NUMBER() OVER (ORDER BY d.code) - 1)::int AS idx, d.id, d.code, d.urban,
                      t.id AS township_id, t.parent_id AS county_id
               FROM accounts_division d JOIN accounts_division t ON t.id = d.parent_id
               WHERE d.level = 'village'"""
        )
        cur.execute("SELECT COUNT(*) FROM bench_village")
        nv = cur.fetchone()[0]
        base_p, base_h = _next_id(cur, "registry_person"), _next_id(cur, "registry_household")

        # Registry: person n (1…P) lives in household (n - 1) / 3 + 1; the first is the head.
        _step(
            cur,
            "persons",
            """INSERT INTO registry_person (id, public_id, created_at, updated_at, id_number_ciphertext,
                   id_number_index, id_number_masked, name, sex, birth_date, phone, ethnicity)
               SELECT %s + n, gen_random_uuid(), %s, %s, 'bench:' || n, 'dashbench-' || n,
                      '371602********' || LPAD((n %% 10000)::text, 4, '0'), '基准居民' || n,
                      (n %% 2 + 1)::text, DATE '1935-01-01' + (n * 7 %% 30000)::int, '', ''
               FROM generate_series(1, %s) n""",
            [base_p, now, now, P],
        )
        _reset_identity(cur, "registry_person")
        # Villages of different sizes: a household goes to village (h * h) mod nv (quadratic
        # residues make some villages two or three times as large as others, some empty-ish).
        _step(
            cur,
            "households",
            """INSERT INTO registry_household (id, public_id, created_at, updated_at, division_id, address,
                   urban, hukou_number, bank_name, account_ciphertext, account_masked, facts, source,
                   account_holder_id)
               SELECT %s + h, gen_random_uuid(), %s, %s, v.id, '基准路' || h || '号', v.urban, 'DB' || h,
                      '滨州农商银行', 'bench:acct' || h, '6228***********' || LPAD((h %% 10000)::text, 4, '0'),
                      '{}'::jsonb, %s, %s + 3 * (h - 1) + 1
               FROM generate_series(1, %s) h JOIN bench_village v ON v.idx = ((h::bigint * 7 + (h %% 13) * (h %% 13)) %% %s)""",
            [base_h, now, now, SOURCE, base_p, H, nv],
        )
        _reset_identity(cur, "registry_household")
        # One in 97 moved in during the year; one in 89 (of the others) moved out.
        _step(
            cur,
            "memberships",
            """INSERT INTO registry_membership (public_id, created_at, updated_at, relation, date_in, date_out,
                   facts, household_id, person_id)
               SELECT gen_random_uuid(), %s, %s, (ARRAY['02', '10', '20'])[(n - 1) %% 3 + 1],
                      CASE WHEN n %% 97 = 0 THEN %s::date + (n %% 330)::int ELSE DATE '2015-01-01' END,
                      CASE WHEN n %% 89 = 0 AND n %% 97 <> 0 THEN %s::date + (n %% 330)::int END,
                      '{}'::jsonb, %s + (n - 1) / 3 + 1, %s + n
               FROM generate_series(1, %s) n""",
            [now, now, first, first, base_h, base_p, P],
        )

        # Entitlements of the recipient households (h % 32 = 0), by r = h / 32.
        cur.execute("SELECT code, id FROM catalogue_programme")
        prog = dict(cur.fetchall())
        recipients = f"""SELECT h, h / {RECIPIENT_EVERY} AS r, {base_h} + h AS hid, {base_p} + 3 * (h - 1) + 1 AS head,
                                {base_p} + 3 * (h - 1) + 2 AS second
                         FROM generate_series({RECIPIENT_EVERY}, {H}, {RECIPIENT_EVERY}) h"""
        # start: most before the window; r % 12 = 0 starts inside it (month r / 12 % 12); r % 17 = 0 ends inside it.
        start = """CASE WHEN r % 12 = 0 THEN (%(first)s::date + ((r / 12 % 12) || ' months')::interval)::date
                         ELSE (DATE '2022-01-01' + ((r % 40) || ' months')::interval)::date END"""
        end = """CASE WHEN r % 17 = 0 AND r % 12 <> 0
                      THEN (%(first)s::date + ((r / 17 % 11) || ' months')::interval)::date END"""
        main_programme = (
            "CASE WHEN r % 100 < 70 THEN %(dibao)s WHEN r % 100 < 85 THEN %(tekun)s "
            "WHEN r % 100 < 95 THEN %(dibao_edge)s ELSE %(expense_hardship)s END"
        )
        _step(
            cur,
            "entitlements",
            f"""INSERT INTO disbursement_entitlement (public_id, created_at, updated_at, county_code, amount_fen,
                    facts, rule_version, start_month, end_month, status, exit_reason, household_id, person_id,
                    programme_id)
                SELECT gen_random_uuid(), %(now)s, %(now)s, LEFT(v.code, 6), x.amount, '{{}}'::jsonb, 'bench',
                       x.start_month, x.end_month,
                       CASE WHEN x.end_month IS NULL THEN 'active' ELSE 'ended' END,
                       CASE WHEN x.end_month IS NULL THEN '' ELSE '收入超过标准' END, x.hid, x.person, x.programme
                FROM (
                    SELECT hid, r, {main_programme} AS programme,
                           CASE WHEN r % 100 BETWEEN 70 AND 84 THEN head END AS person,
                           CASE WHEN r % 100 < 70 THEN 30000 + (r % 500) * 100
                                WHEN r % 100 < 85 THEN 112000 ELSE 0 END AS amount,
                           {start} AS start_month, {end} AS end_month
                    FROM ({recipients}) rr
                    UNION ALL  -- 困难残疾人生活补贴 for the second member of one in five
                    SELECT hid, r, %(disability_living_subsidy)s, second, 10000, {start}, {end}
                    FROM ({recipients}) rr WHERE r % 5 = 1
                    UNION ALL  -- 高龄津贴 for the head of one in seven
                    SELECT hid, r, %(elderly_allowance)s, head, 10000, {start}, NULL
                    FROM ({recipients}) rr WHERE r % 7 = 2
                    UNION ALL  -- 租赁补贴 (住建) for one in nine households
                    SELECT hid, r, %(rent_subsidy)s, NULL, 50000, {start}, {end}
                    FROM ({recipients}) rr WHERE r % 9 = 3
                    UNION ALL  -- 失业保险金 (人社) for the second member of one in eleven
                    SELECT hid, r, %(unemployment_benefit)s, second, 150000, {start}, {end}
                    FROM ({recipients}) rr WHERE r % 11 = 4
                ) x
                JOIN registry_household h ON h.id = x.hid JOIN accounts_division v ON v.id = h.division_id""",
            {"now": now, "first": first, **prog},
        )

        # Payment batches: one per county and month, released by a second person; this month's
        # bank answer is still to come.
        _step(
            cur,
            "payment batches",
            """INSERT INTO disbursement_paymentbatch (public_id, created_at, updated_at, period, status, build_cursor,
                   line_count, total_fen, held_count, checksum, built_at, released_at, exported_at,
                   return_imported_at, reconciled_at, county_id, prepared_by_id, released_by_id, build_done,
                   build_error, build_total)
               SELECT gen_random_uuid(), m, m, m::date, CASE WHEN m::date = %(last)s THEN 'exported' ELSE 'reconciled' END,
                      0, 0, 0, 0, '', m + interval '5 days', m + interval '6 days', m + interval '6 days',
                      CASE WHEN m::date < %(last)s THEN m + interval '9 days' END,
                      CASE WHEN m::date < %(last)s THEN m + interval '10 days' END,
                      c.id, p.id, r.id, 0, '', 0
               FROM generate_series(%(first)s::timestamptz, %(last)s::timestamptz, interval '1 month') m
               CROSS JOIN accounts_division c
               JOIN accounts_user p ON p.username = 'bench_dash_preparer_' || c.code
               JOIN accounts_user r ON r.username = 'bench_dash_releaser_' || c.code
               WHERE c.level = 'county'""",
            {"first": first, "last": last},
        )
        # The month's items: every monthly cash entitlement in force and started before the month
        # (regular); an entitlement that started in month s is paid for s in s + 1's batch (arrears).
        _step(
            cur,
            "payment items (staging)",
            """CREATE TEMP TABLE bench_item ON COMMIT DROP AS
               SELECT e.id AS entitlement_id, e.household_id, m::date AS period, m::date AS batch_period,
                      'regular' AS kind, e.amount_fen, e.county_code
               FROM disbursement_entitlement e
               JOIN catalogue_programme p ON p.id = e.programme_id AND p.benefit_form = 'monthly_cash'
               JOIN generate_series(%(first)s::timestamptz, %(last)s::timestamptz, interval '1 month') m
                 ON e.start_month < m::date AND (e.end_month IS NULL OR e.end_month >= m::date)
               WHERE e.rule_version = 'bench'
               UNION ALL
               SELECT e.id, e.household_id, e.start_month, (e.start_month + interval '1 month')::date, 'arrears',
                      e.amount_fen, e.county_code
               FROM disbursement_entitlement e
               JOIN catalogue_programme p ON p.id = e.programme_id AND p.benefit_form = 'monthly_cash'
               WHERE e.rule_version = 'bench' AND e.start_month >= %(first)s AND e.start_month < %(last)s""",
            {"first": first, "last": last},
        )
        cur.execute(
            """ALTER TABLE bench_item ADD COLUMN batch_id bigint;
               UPDATE bench_item i SET batch_id = b.id FROM disbursement_paymentbatch b
               JOIN accounts_division c ON c.id = b.county_id
               WHERE c.code = i.county_code AND b.period = i.batch_period"""
        )
        # Bank answers by a hash of household and month: ~0.5 % held (no holder), 0.7 % failed,
        # 0.3 % returned, 0.1 % paid a different amount; this month's pending.
        _step(
            cur,
            "payment lines",
            """INSERT INTO disbursement_paymentline (bank_name, account_ciphertext, account_masked, holder_name,
                   amount_fen, status, bank_amount_fen, bank_reference, failure_reason, reissue_requested,
                   batch_id, household_id, accept_reason, hold_reason, kind)
               SELECT '滨州农商银行', 'bench:acct', '6228***********0000', '基准居民', g.amount,
                      g.status, CASE WHEN g.status = 'paid' THEN g.amount WHEN g.status = 'mismatch' THEN g.amount - 100 END,
                      CASE WHEN g.status IN ('paid', 'mismatch') THEN 'B' || g.batch_id || '-' || g.household_id ELSE '' END,
                      CASE g.status WHEN 'failed' THEN '账户冻结' WHEN 'returned' THEN '户名不符' ELSE '' END,
                      FALSE, g.batch_id, g.household_id, '', CASE WHEN g.status = 'held' THEN 'no_holder' ELSE '' END,
                      g.kind
               FROM (
                   SELECT batch_id, household_id, kind, SUM(amount_fen) AS amount,
                          CASE WHEN (household_id * 31 + EXTRACT(MONTH FROM batch_period)::int * 7) %% 1000 < 5 THEN 'held'
                               WHEN batch_period = %s THEN 'pending'
                               WHEN (household_id * 31 + EXTRACT(MONTH FROM batch_period)::int * 7) %% 1000 < 12 THEN 'failed'
                               WHEN (household_id * 31 + EXTRACT(MONTH FROM batch_period)::int * 7) %% 1000 < 15 THEN 'returned'
                               WHEN (household_id * 31 + EXTRACT(MONTH FROM batch_period)::int * 7) %% 1000 < 16 THEN 'mismatch'
                               ELSE 'paid' END AS status
                   FROM bench_item GROUP BY batch_id, household_id, kind, batch_period
               ) g""",
            [last],
        )
        _step(
            cur,
            "payment items",
            """INSERT INTO disbursement_paymentitem (period, amount_fen, entitlement_id, line_id)
               SELECT i.period, i.amount_fen, i.entitlement_id, l.id
               FROM bench_item i JOIN disbursement_paymentline l
                 ON l.batch_id = i.batch_id AND l.household_id = i.household_id AND l.kind = i.kind""",
        )
        cur.execute(
            """UPDATE disbursement_paymentbatch b SET line_count = s.lines, total_fen = s.total, held_count = s.held,
                      build_done = s.lines, build_total = s.lines
               FROM (SELECT batch_id, COUNT(*) FILTER (WHERE status <> 'held') AS lines,
                            SUM(amount_fen) FILTER (WHERE status <> 'held') AS total,
                            COUNT(*) FILTER (WHERE status = 'held') AS held
                     FROM disbursement_paymentline GROUP BY batch_id) s
               WHERE s.batch_id = b.id"""
        )
        _cases(cur, months=months, now=now, base_h=base_h, base_p=base_p, H=H, prog=prog)
        _checks_files_leads(cur, months=months, now=now, base_h=base_h, H=H, prog=prog)


def _cases(cur, *, months, now, base_h, base_p, H, prog) -> None:
    """Cases spread evenly from the window's first day to now, each on a distinct household
    (i × 7919 mod H is a bijection), one request and one procedure each, step records up to now."""
    first = months[0]
    n = CASES_PER_MONTH * len(months)
    cur.execute("SELECT COALESCE(MAX(id), 0) FROM cases_case")
    base_c = cur.fetchone()[0]
    # Programme by i % 10: 低保 ×6, 特困 ×2, 临时救助 (urgent, one step), 租赁补贴 (住建, department steps).
    programme = "(ARRAY[%(dibao)s, %(dibao)s, %(dibao)s, %(dibao)s, %(dibao)s, %(dibao)s, %(tekun)s, %(tekun)s, %(linshi)s, %(rent_subsidy)s])[i %% 10 + 1]"
    _step(
        cur,
        "cases",
        """INSERT INTO cases_case (id, public_id, created_at, updated_at, reference, channel, status, phone, needs,
                needs_note, declared_facts, plan, rule_date, materials, idempotency_key, submitted_at, proxy_consent,
                proxy_consent_signature, applicant_id, division_id, household_id)
            SELECT %(base_c)s + i, gen_random_uuid(), s.at, s.at, 'DB' || LPAD(i::text, 8, '0'),
                   (ARRAY['window', 'window', 'window', 'window', 'window', 'station', 'station', 'grid_proxy',
                          'grid_proxy', 'self_service'])[(i * 3) %% 10 + 1],
                   'submitted', '', '["daily_living"]'::jsonb, '', '{}'::jsonb, '{}'::jsonb, s.at::date, '[]'::jsonb,
                   'dashbench-' || i, s.at, FALSE, '', %(base_p)s + 3 * (s.h - 1) + 1, hh.division_id, hh.id
            FROM (SELECT i, ((i::bigint * 7919) %% %(H)s) + 1 AS h,
                         %(first)s::timestamptz + (%(now)s::timestamptz - %(first)s::timestamptz) * ((i - 1)::float / %(n)s) AS at
                  FROM generate_series(1, %(n)s) i) s
            JOIN registry_household hh ON hh.id = %(base_h)s + s.h""",
        {"base_c": base_c, "base_p": base_p, "base_h": base_h, "H": H, "first": first, "now": now, "n": n},
    )
    _reset_identity(cur, "cases_case")
    _step(
        cur,
        "programme requests",
        f"""INSERT INTO cases_programmerequest (public_id, created_at, updated_at, status, is_open, outcome_at_intake,
                case_id, household_id, programme_id, person_id)
            SELECT gen_random_uuid(), c.created_at, c.created_at, 'submitted', TRUE, '', c.id, c.household_id,
                   {programme}, NULL
            FROM cases_case c, LATERAL (SELECT c.id - %(base_c)s AS i) k
            WHERE c.id > %(base_c)s""",
        {"base_c": base_c, **prog},
    )
    # The plan of every procedure: its template's steps with a finishing time each (one to nine
    # days a step), the outcome at the deciding step (one in five refused) and a withdrawal at
    # the third step for one in 25.
    _step(
        cur,
        "step plans (staging)",
        """CREATE TEMP TABLE bench_plan ON COMMIT DROP AS
           SELECT r.id AS request_id, r.case_id, c.submitted_at, c.division_id, t.id AS template_id,
                  p.department_id, s.id AS step_id, s."order" AS ord, s.unit_level, s.deadline_days,
                  s.needs_public_notice AS notice, s.decides,
                  c.submitted_at + SUM(interval '1 day' * (1 + (r.id * 31 + s."order" * 17) % 9) + interval '3 hours')
                      OVER (PARTITION BY r.id ORDER BY s."order") AS finish_at,
                  CASE WHEN r.id % 25 = 0 AND s."order" = 3 THEN 'withdraw'
                       WHEN s.decides AND r.id % 5 = 0 THEN 'refuse'
                       WHEN s.decides THEN 'approve'
                       WHEN s.needs_public_notice THEN 'close_notice'
                       ELSE 'complete' END AS action
           FROM cases_programmerequest r
           JOIN cases_case c ON c.id = r.case_id
           JOIN catalogue_programme p ON p.id = r.programme_id
           JOIN workflow_proceduretemplate t ON t.programme_id = p.id AND t.version = 1
           JOIN workflow_procedurestep s ON s.template_id = t.id
           WHERE c.idempotency_key LIKE 'dashbench-%'""",
    )
    # Steps never reached: after a withdrawal, or not finished by now (the first unfinished one
    # is where the procedure waits).
    cur.execute(
        """DELETE FROM bench_plan b USING bench_plan w
           WHERE w.request_id = b.request_id AND w.action = 'withdraw' AND b.ord > w.ord;
           ALTER TABLE bench_plan ADD COLUMN done boolean;
           UPDATE bench_plan SET done = finish_at <= %s;
           CREATE INDEX ON bench_plan (request_id, ord);
           ANALYZE bench_plan""",
        [now],
    )
    _step(
        cur,
        "procedures",
        """INSERT INTO workflow_requestprocedure (public_id, created_at, updated_at, state, step_started, step_due,
               version, acting_unit_id, case_id, department_id, division_id, request_id, step_id, template_id)
           SELECT gen_random_uuid(), w.submitted_at, w.submitted_at,
                  CASE WHEN w.finished THEN (CASE w.action WHEN 'approve' THEN 'approved' WHEN 'refuse' THEN 'refused'
                                             ELSE 'withdrawn' END)
                       WHEN w.notice THEN 'in_notice' ELSE 'pending' END,
                  w.started::date, w.started::date + (w.deadline_days * 7 / 5 + 1), w.ord, u.id, w.case_id,
                  w.department_id, w.division_id, w.request_id, w.step_id, w.template_id
           FROM (
               SELECT DISTINCT ON (b.request_id) b.*,
                      (b.done AND b.action IN ('approve', 'refuse', 'withdraw')) AS finished,
                      COALESCE(LAG(b.finish_at) OVER (PARTITION BY b.request_id ORDER BY b.ord), b.submitted_at) AS started
               FROM bench_plan b
               ORDER BY b.request_id, (b.done AND b.action NOT IN ('approve', 'refuse', 'withdraw')), b.ord
           ) w
           JOIN accounts_division v ON v.id = w.division_id
           JOIN accounts_division t ON t.id = v.parent_id
           JOIN accounts_orgunit u ON u.kind = CASE WHEN w.unit_level = 'township' THEN 'window'
                                                    WHEN w.unit_level = 'county_centre' THEN 'centre' ELSE 'department' END
                AND u.division_id = CASE WHEN w.unit_level = 'township' THEN t.id ELSE t.parent_id END
                AND (w.unit_level <> 'department' OR u.department_id = w.department_id)""",
    )
    # The records: start at submission, a publish_notice when a notice step starts, then each
    # finished step's move.
    _step(
        cur,
        "step records",
        """INSERT INTO workflow_steprecord (action, from_state, to_state, comment, at, procedure_id, step_id)
           SELECT action, from_state, to_state, '', at, procedure_id, step_id FROM (
               SELECT 'start' AS action, '' AS from_state, 'pending' AS to_state, b.submitted_at AS at,
                      p.id AS procedure_id, b.step_id, 0 AS seq
               FROM bench_plan b JOIN workflow_requestprocedure p ON p.request_id = b.request_id WHERE b.ord = 1
               UNION ALL
               SELECT 'publish_notice', 'pending', 'in_notice',
                      b.finish_at - interval '1 day' * (1 + (b.request_id * 31 + b.ord * 17) % 9) + interval '2 hours',
                      p.id, b.step_id, b.ord * 2 - 1
               FROM bench_plan b JOIN workflow_requestprocedure p ON p.request_id = b.request_id
               WHERE b.notice AND (b.done OR p.state = 'in_notice')
               UNION ALL
               SELECT b.action, CASE WHEN b.notice THEN 'in_notice' ELSE 'pending' END,
                      CASE b.action WHEN 'approve' THEN 'approved' WHEN 'refuse' THEN 'refused'
                                    WHEN 'withdraw' THEN 'withdrawn' ELSE 'pending' END,
                      b.finish_at, p.id, b.step_id, b.ord * 2
               FROM bench_plan b JOIN workflow_requestprocedure p ON p.request_id = b.request_id WHERE b.done
           ) x ORDER BY procedure_id, seq""",
    )
    cur.execute(
        """UPDATE cases_programmerequest r SET is_open = FALSE,
                  status = CASE p.state WHEN 'approved' THEN 'approved' WHEN 'refused' THEN 'rejected' ELSE 'withdrawn' END
           FROM workflow_requestprocedure p WHERE p.request_id = r.id AND p.state IN ('approved', 'refused', 'withdrawn');
           UPDATE cases_case c SET status = CASE WHEN r.status = 'withdrawn' THEN 'withdrawn' ELSE 'closed' END
           FROM cases_programmerequest r WHERE r.case_id = c.id AND NOT r.is_open AND c.idempotency_key LIKE 'dashbench-%'"""
    )


def _checks_files_leads(cur, *, months, now, base_h, H, prog) -> None:
    first = months[0]
    # A one-click check for each 低保/特困 request whose verification step is done, finished when
    # the step was; one in five with a difference proved by one source, one in 20 partial.
    _step(
        cur,
        "verification checks",
        """INSERT INTO verification_verificationcheck (public_id, created_at, updated_at, purpose, reference, reason,
               status, members, declared, facts, differences, finished_at, household_id)
           SELECT gen_random_uuid(), b.finish_at - interval '1 day', b.finish_at, 'application', c.reference,
                  '社会救助申请家庭经济状况核对', CASE WHEN b.request_id % 20 = 0 THEN 'partial' ELSE 'complete' END,
                  '[]'::jsonb, '{}'::jsonb, '{}'::jsonb,
                  CASE WHEN b.request_id % 5 = 0 THEN
                      jsonb_build_array(jsonb_build_object('fact', 'deposits', 'declared', 0, 'verified', 1,
                          'sources', jsonb_build_array(ds.names[1 + (b.request_id / 5) % cardinality(ds.names)])))
                  ELSE '[]'::jsonb END,
                  b.finish_at, c.household_id
           FROM bench_plan b JOIN cases_case c ON c.id = b.case_id
           JOIN workflow_procedurestep s ON s.id = b.step_id
           CROSS JOIN (SELECT array_agg(name ORDER BY sort_order, id) AS names FROM verification_datasource) ds
           WHERE s.needs_verification AND b.done""",
    )
    _step(
        cur,
        "check sources",
        """INSERT INTO verification_checksource (status, mode, as_of, findings, error, attempts, runs, started_at,
               finished_at, elapsed_ms, source_id, verification_id)
           SELECT CASE WHEN k.status = 'partial' AND d.sort_order = (k.id % 12) THEN 'failed' ELSE 'done' END,
                  'snapshot', k.finished_at::date, '{}'::jsonb,
                  CASE WHEN k.status = 'partial' AND d.sort_order = (k.id % 12) THEN '数据源超时' ELSE '' END,
                  1, 1, k.created_at, k.finished_at, 40 + (k.id + d.id) % 400, d.id, k.id
           FROM verification_verificationcheck k CROSS JOIN verification_datasource d
           WHERE k.reason = '社会救助申请家庭经济状况核对'""",
    )
    cur.execute(
        """UPDATE verification_verificationcheck k SET status = 'complete'
           WHERE k.status = 'partial' AND NOT EXISTS
             (SELECT 1 FROM verification_checksource s WHERE s.verification_id = k.id AND s.status = 'failed')"""
    )
    # Department files: one a source and month, superseded by the next month's; one in six
    # months a refused file before it.
    _step(
        cur,
        "department files",
        """INSERT INTO verification_sourcesnapshot (public_id, created_at, updated_at, committed_at, status, file_name,
               file_format, file_size, sha256, encoding, rows_total, rows_accepted, rows_rejected, rows_blank,
               file_header, ignored_columns, staged_path, source_id, error, override_reason)
           SELECT gen_random_uuid(), m + interval '3 days', m + interval '3 days',
                  CASE WHEN refused THEN NULL ELSE m + interval '3 days' END,
                  CASE WHEN refused THEN 'refused' WHEN m::date = %(last)s THEN 'committed' ELSE 'superseded' END,
                  d.code || '-' || to_char(m, 'YYYYMM') || '.csv', 'csv', 4000000, md5(d.code || m::text) || md5(m::text),
                  'utf-8', CASE WHEN refused THEN 0 ELSE 60000 END,
                  CASE WHEN refused THEN 0 ELSE 60000 - (d.id * 37 + EXTRACT(MONTH FROM m)::int * 11) % 300 END,
                  CASE WHEN refused THEN 0 ELSE (d.id * 37 + EXTRACT(MONTH FROM m)::int * 11) % 300 END, 0,
                  '[]'::jsonb, '[]'::jsonb, '', d.id, CASE WHEN refused THEN '缺少必填列“身份证号码”' ELSE '' END, ''
           FROM generate_series(%(first)s::timestamptz, %(last)s::timestamptz, interval '1 month') m
           CROSS JOIN verification_datasource d
           CROSS JOIN (VALUES (FALSE), (TRUE)) f(refused)
           WHERE NOT f.refused OR (d.id + EXTRACT(MONTH FROM m)::int) % 6 = 0""",
        {"first": first, "last": months[-1]},
    )
    # Leads: scan leads on distinct households (j × 104729 mod H), one in ten a grid worker's
    # report; visited within 3–20 days unless recent (three outcomes), a few lapsed.
    n = LEADS_PER_MONTH * len(months)
    _step(
        cur,
        "discovery leads",
        """INSERT INTO discovery_lead (public_id, created_at, updated_at, source, status, likelihood, persons, reasons,
               facts, unknown_labels, reported_name, reported_address, reported_seen, closed_at, close_reason,
               division_id, household_id, programme_id, assigned_at)
           SELECT gen_random_uuid(), s.at, s.at, CASE WHEN s.report THEN 'report' ELSE 'scan' END, s.status,
                  CASE WHEN j % 3 = 0 THEN 'possible' ELSE 'likely' END, '[]'::jsonb, '[]'::jsonb, '{}'::jsonb,
                  '[]'::jsonb, CASE WHEN s.report THEN '基准居民' || s.h ELSE '' END,
                  CASE WHEN s.report THEN '基准路' || s.h || '号' ELSE '' END, '', s.closed_at,
                  CASE WHEN s.closed_at IS NULL THEN '' ELSE '走访完成' END, hh.division_id,
                  CASE WHEN s.report THEN NULL ELSE hh.id END,
                  CASE WHEN s.report THEN NULL WHEN j % 4 = 0 THEN %(tekun)s ELSE %(dibao)s END,
                  CASE WHEN s.status <> 'open' THEN s.at + interval '1 day' END
           FROM (SELECT j, h, at, report, closed_at,
                        CASE WHEN closed_at IS NULL THEN (CASE WHEN j % 2 = 0 THEN 'assigned' ELSE 'open' END)
                             WHEN j % 10 < 3 THEN 'applied' WHEN j % 10 < 6 THEN 'declined'
                             WHEN j % 10 < 9 THEN 'not_eligible' ELSE 'lapsed' END AS status
                 FROM (SELECT j, ((j::bigint * 104729) % %(H)s) + 1 AS h, j % 10 = 7 AS report,
                              %(first)s::timestamptz + (%(now)s::timestamptz - %(first)s::timestamptz) * ((j - 1)::float / %(n)s) AS at
                       FROM generate_series(1, %(n)s) j) a,
                      LATERAL (SELECT CASE WHEN a.at + interval '1 day' * (3 + j % 18) <= %(now)s
                                           THEN a.at + interval '1 day' * (3 + j % 18) END AS closed_at) c) s
           JOIN registry_household hh ON hh.id = %(base_h)s + s.h""",
        {"first": first, "now": now, "n": n, "H": H, "base_h": base_h, **prog},
    )
    # 动态管理 alerts on recipient households: confirmed, dismissed or still open.
    n = ALERTS_PER_MONTH * len(months)
    _step(
        cur,
        "dynamic alerts",
        """INSERT INTO disbursement_dynamicalert (public_id, created_at, updated_at, person_key, reason, facts,
               effective_on, source_name, status, due_on, dismiss_reason, handled_at, household_id)
           SELECT gen_random_uuid(), s.at, s.at, 'dashbench-alert-' || k,
                  (ARRAY['death', 'vehicle', 'property', 'business', 'income', 'unemployment'])[k % 6 + 1], '{}'::jsonb,
                  s.at::date, '基准数据', s.status, s.at::date + 15,
                  CASE WHEN s.status = 'dismissed' THEN '核实后不影响待遇' ELSE '' END,
                  CASE WHEN s.status <> 'open' THEN s.handled END, %(base_h)s + ((k * %(every)s * 17) % %(H)s) / %(every)s * %(every)s + %(every)s
           FROM (SELECT k, at, at + interval '1 day' * (2 + k % 12) AS handled,
                        CASE WHEN at + interval '1 day' * (2 + k % 12) > %(now)s THEN 'open'
                             WHEN k % 3 = 0 THEN 'dismissed' ELSE 'confirmed' END AS status
                 FROM (SELECT k, %(first)s::timestamptz + (%(now)s::timestamptz - %(first)s::timestamptz) * ((k - 1)::float / %(n)s) AS at
                       FROM generate_series(1, %(n)s) k) a) s""",
        {"first": first, "now": now, "n": n, "H": H - RECIPIENT_EVERY, "base_h": base_h, "every": RECIPIENT_EVERY},
    )


COUNTED = (
    ("accounts_division", "divisions"),
    ("registry_household", "households"),
    ("registry_person", "persons"),
    ("registry_membership", "memberships"),
    ("disbursement_entitlement", "entitlements"),
    ("disbursement_paymentbatch", "payment batches"),
    ("disbursement_paymentline", "payment lines"),
    ("disbursement_paymentitem", "payment items"),
    ("cases_case", "cases"),
    ("cases_programmerequest", "programme requests"),
    ("workflow_requestprocedure", "procedures"),
    ("workflow_steprecord", "step records"),
    ("verification_verificationcheck", "checks"),
    ("verification_checksource", "check sources"),
    ("verification_sourcesnapshot", "department files"),
    ("discovery_lead", "leads"),
    ("disbursement_dynamicalert", "alerts"),
)


def build() -> None:
    from django.db import connection

    from ejia.registry.models import Household

    if Household.objects.filter(source=SOURCE).exists():
        print("data: reusing the bench data set (--rebuild to build it again)")
    else:
        print("data: building (bench generator: set-based SQL, not the real services) …", flush=True)
        t0 = time.perf_counter()
        reference_data()
        bulk_rows()
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
        print(f"data: built in {time.perf_counter() - t0:.0f} s")
    with connection.cursor() as cur:
        counts = []
        for table, label in COUNTED:
            cur.execute(f"SELECT COUNT(*) FROM {table}")
            counts.append(f"{label} {cur.fetchone()[0]:,}")
    print("rows: " + ", ".join(counts))


# ---------------------------------------------------------------- the refresh


def time_refresh(*, per_part: str) -> None:
    from django.db import connection, transaction

    from ejia.dashboards.refresh import (
        NIGHTLY_MONTHS,
        PARTS,
        AreaTree,
        _load_parts,
        recent_months,
        refresh,
        refresh_month,
    )

    months = recent_months()
    nightly = recent_months(count=NIGHTLY_MONTHS)
    for label, chosen_months in (("full rebuild (weekly)", months), ("nightly refresh", nightly)):
        t0 = time.perf_counter()
        runs = refresh(months=chosen_months, trigger="bench")
        wall = time.perf_counter() - t0
        failed = [r for r in runs if r.status != "done"]
        rows = sum(r.rows for r in runs)
        print(
            f"{label}, {len(chosen_months)} months ({chosen_months[0]:%Y-%m}…{chosen_months[-1]:%Y-%m}), "
            f"every part: {wall:.1f} s, {rows:,} summary rows written, {len(failed)} failed (target ≤ 120 s)"
        )
        for r in failed:
            print(f"  FAILED {r.month}: {r.error}")
    _load_parts()
    tree = AreaTree.load()
    for part in PARTS:
        chosen = months if per_part == "all" else months[-2:-1]
        t = time.perf_counter()
        with transaction.atomic():
            if part.current_only:
                chosen = months[-1:]
            connection.cursor().execute("SET LOCAL jit = off")
            built = sum(len(part.build(m, tree)) for m in chosen)
        print(
            f"  part {part.name}: queries and roll-up {time.perf_counter() - t:.1f} s for {len(chosen)} month(s), "
            f"{built:,} summary rows (not written)"
        )
    t = time.perf_counter()
    written = refresh_month(month=months[-2], trigger="bench", tree=tree)
    print(f"  one month ({months[-2]:%Y-%m}), every part, written: {time.perf_counter() - t:.1f} s, {written:,} rows")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"peak RSS of this process: {peak_mib():,.0f} MiB")


# ---------------------------------------------------------------- the pages


def _signed_in_client():
    from django.test import Client
    from django.test.utils import setup_test_environment
    from django_otp import login as otp_login
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from ejia.accounts.models import User
    from ejia.accounts.second_factor import TOTP_DEVICE_NAME, is_enrolled, totp_device

    setup_test_environment()
    user = User.objects.get(username=DIRECTOR)
    if not is_enrolled(user):
        TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=True)
    client = Client()
    client.force_login(user)
    # The second factor as the test suite passes it (conftest._login_passing_second_factor).
    from django.http import HttpRequest

    request = HttpRequest()
    request.session = client.session
    request.user = user
    otp_login(request, totp_device(user))
    request.session.save()
    return client


def _backend_cpu_ms(pid: int) -> float:
    """CPU time (user + system) of this connection's PostgreSQL backend, from /proc (same machine)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def time_pages(*, requests: int, warmups: int) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from ejia.accounts.models import Division

    client = _signed_in_client()
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    county = Division.objects.filter(level="county").order_by("code").first()
    township = Division.objects.filter(parent=county).order_by("code").first()
    village = Division.objects.filter(parent=township).order_by("code").first()
    pages = (
        ("city 滨州市", "/staff/dashboards/"),
        (f"county {county.name}", f"/staff/dashboards/{county.code}/"),
        (f"township {township.name}", f"/staff/dashboards/{township.code}/"),
        (f"village {village.name}", f"/staff/dashboards/{village.code}/"),
    )
    worst = 0.0
    for label, url in pages:
        for _ in range(warmups):
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code, response.content[:300])
        times, cpu = [], []
        for _ in range(requests):
            db_before, t, c = _backend_cpu_ms(backend), time.perf_counter(), time.process_time()
            response = client.get(url)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000 + _backend_cpu_ms(backend) - db_before)
            assert response.status_code == 200, (url, response.status_code)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        times.sort()
        p95 = times[max(0, round(len(times) * 0.95) - 1)]
        worst = max(worst, p95)
        print(
            f"page {label} ({url}): n={len(times)} p50 {statistics.median(times):.0f} ms, p95 {p95:.0f} ms, "
            f"max {times[-1]:.0f} ms, {len(queries)} queries, {len(response.content) / 1024:.0f} KiB; "
            f"CPU (this process + its database backend) p50 {statistics.median(cpu):.0f} ms"
        )
    print(f"worst page p95 {worst:.0f} ms (target ≤ 300 ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--rebuild", action="store_true", help="drop the bench database and build the data again")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument(
        "--households", type=int, default=HOUSEHOLDS, help="scale the data set (cases, leads, alerts follow)"
    )
    parser.add_argument(
        "--per-part",
        choices=["one", "all"],
        default="one",
        help="time each part's queries over last month only (default) or all twelve",
    )
    parser.add_argument("--skip-refresh", action="store_true", help="time the pages on the summaries already there")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        sys.exit("bench_dashboards runs on PostgreSQL only")
    ensure_database(args.database_url, rebuild=args.rebuild)
    scale(args.households)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("EJIA_AUDIT_ANCHOR_FILE", "/tmp/ejia-dashbench-audit-anchor.json")  # noqa: S108
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, skip_checks=True)
    build()
    if not args.skip_refresh:
        time_refresh(per_part=args.per_part)
    time_pages(requests=args.requests, warmups=args.warmups)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} (shared with the database server)")


if __name__ == "__main__":
    main()
