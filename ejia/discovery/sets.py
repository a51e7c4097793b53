"""The scan's steps between the evaluation and the explanation, set-based (issue #18).

After the evaluation the scan holds one row per household and an outcome per programme. What
follows is done on whole columns, never with a Python object per household:

- `wanted_pairs`: (household, programme) of every outcome worth a lead under the programme's
  discovery mode (Arrow compute over the outcome columns);
- the subtraction of what each household receives or applied for (`taken_table`, read for the
  area in one query per kind of row);
- each candidate household's stamp (DuckDB: a digest of the catalogue's part, its export
  fingerprint, the rows of what it holds, what it holds and applied for, its candidate
  programmes), compared with the fingerprints its open leads remember (`ScanSets.compare`):
  only households whose stamp or leads changed go on to the Python explain step.

Rows come from the database as Arrow tables (`arrow_query`: on PostgreSQL through
`COPY … TO STDOUT`, parsed by Arrow's CSV reader; elsewhere through the cursor).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connection
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.db.models.fields.json import KT

from ejia.accounts.models import Division
from ejia.catalogue.models import Programme
from ejia.registry.models import HouseholdStatus, Membership, MemberStatus

Mode = Programme.DiscoveryMode
LIVE_ENTITLEMENT = ("active", "suspended", "gradual_exit")
WANTED_SCHEMA = pa.schema(
    [("household_id", pa.int64()), ("code", pa.dictionary(pa.int32(), pa.string())), ("outcome", pa.string())]
)


def arrow_query(queryset, schema: pa.Schema) -> pa.Table:
    """The rows of a `values_list` queryset (its fields in `schema`'s order) as an Arrow table:
    on PostgreSQL through `COPY (…) TO STDOUT` as CSV read by Arrow (no Python object per
    row), elsewhere through the cursor."""
    if connection.vendor != "postgresql":
        rows = list(queryset)
        return pa.table([pa.array([r[i] for r in rows], type=f.type) for i, f in enumerate(schema)], schema=schema)
    import pyarrow.csv as pacsv

    sql, params = queryset.query.sql_with_params()
    buffer = io.BytesIO()
    # Django's psycopg cursor binds client-side, which COPY needs for its parameters.
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT csv)", params) as copy:
        for block in copy:
            buffer.write(block)
    if not buffer.tell():
        return schema.empty_table()
    buffer.seek(0)
    return pacsv.read_csv(
        buffer,
        read_options=pacsv.ReadOptions(column_names=schema.names),
        convert_options=pacsv.ConvertOptions(
            column_types=schema,
            # COPY writes NULL unquoted and empty and other strings quoted where needed.
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],
            false_values=["f"],
        ),
    ).select(schema.names)


def wanted_pairs(result: pa.Table, modes: dict[str, str]) -> pa.Table:
    """(household_id, code, outcome) of the bulk result's outcomes worth a lead: for each
    programme of `modes` (code → discovery mode), "eligible" unless the programme is never a
    lead, "possibly_eligible" only where possible outcomes are leads too."""
    ids = result.column("household_id")
    parts = []
    for code, mode in modes.items():
        if mode == Mode.NEVER:
            continue
        wanted = ["eligible", "possibly_eligible"] if mode == Mode.LIKELY_AND_POSSIBLE else ["eligible"]
        outcomes = result.column(f"{code}__outcome")
        mask = pc.fill_null(pc.is_in(outcomes, value_set=pa.array(wanted)), False)
        kept = pc.filter(ids, mask)
        if len(kept):
            parts.append(
                pa.table(
                    {
                        "household_id": kept.cast(pa.int64()),
                        # One dictionary entry for the whole column: nothing per row.
                        "code": pa.DictionaryArray.from_arrays(np.zeros(len(kept), dtype=np.int32), pa.array([code])),
                        "outcome": pc.filter(outcomes, mask).cast(pa.string()),
                    }
                )
            )
    if not parts:
        return WANTED_SCHEMA.empty_table()
    return pa.concat_tables(parts)


def _current(on: dt.date) -> Q:
    return Q(start__lte=on) & (Q(end__isnull=True) | Q(end__gte=on))


def _live(on: dt.date) -> Q:
    month = on.replace(day=1)
    return Q(status__in=LIVE_ENTITLEMENT, start_month__lte=month) & (
        Q(end_month__isnull=True) | Q(end_month__gte=month)
    )


def taken_querysets(scope: Q, on: dt.date) -> list:
    """The rows of what households receive or applied for, each a `values_list` of
    (household_id, kind or programme code): current household and member statuses (their kind,
    to be mapped through STATUS_PROGRAMMES), live entitlements and open requests."""
    from ejia.cases.matching import STATUS_PROGRAMMES
    from ejia.cases.models import ProgrammeRequest
    from ejia.disbursement.models import Entitlement

    kinds = list(STATUS_PROGRAMMES)
    return [
        HouseholdStatus.objects.filter(_current(on), scope, kind__in=kinds)
        .order_by()
        .values_list("household_id", "kind"),
        MemberStatus.objects.filter(_current(on), scope, kind__in=kinds).order_by().values_list("household_id", "kind"),
        Entitlement.objects.filter(_live(on), scope).order_by().values_list("household_id", "programme__code"),
        ProgrammeRequest.objects.filter(scope, is_open=True).order_by().values_list("household_id", "programme__code"),
    ]


PAIR_SCHEMA = pa.schema([("household_id", pa.int64()), ("code", pa.string())])


def taken_table(area: Division, on: dt.date) -> pa.Table:
    """(household_id, code) of every programme a household of `area` receives (registry
    statuses, live entitlements) or has an open request for, read set-based; a pair may repeat."""
    from ejia.cases.matching import STATUS_PROGRAMMES

    scope = Q(household__division__path__startswith=area.path)
    statuses = {str(k): v for k, v in STATUS_PROGRAMMES.items()}
    parts = []
    for i, queryset in enumerate(taken_querysets(scope, on)):
        table = arrow_query(queryset, PAIR_SCHEMA)
        if i < 2:  # status kinds → programme codes
            codes = pc.index_in(table.column("code"), value_set=pa.array(list(statuses)))
            table = table.set_column(1, "code", pc.take(pa.array(list(statuses.values())), codes))
        parts.append(table)
    return pa.concat_tables(parts)


HELD_STATUS_SCHEMA = pa.schema(
    [
        ("household_id", pa.int64()),
        ("kind", pa.string()),
        ("start", pa.date32()),
        ("person_id", pa.int64()),
        ("members", pa.int64()),
        ("first_member", pa.int64()),
    ]
)
HELD_ENTITLEMENT_SCHEMA = pa.schema(
    [
        ("household_id", pa.int64()),
        ("id", pa.int64()),
        ("programme_id", pa.int64()),
        ("person_id", pa.int64()),
        ("member", pa.bool_()),
        ("start_month", pa.date32()),
        ("amount_fen", pa.int64()),
        ("previous_id", pa.int64()),
        ("back_pay_for", pa.string()),
    ]
)


def held_tables(area: Division, on: dt.date) -> tuple[pa.Table, pa.Table]:
    """Everything `cases.matching.holdings_by_household` builds a household's holdings from, as
    rows for the whole area: its current status rows of a catalogue programme (household ones
    with the number of current members and the first one, which name the person of a one-person
    household's 特困 or 孤儿 status; member ones with the person and whether they are still a
    member), and its live entitlements (programme, person and whether a member, first month,
    amount, the entitlement it continues, whether it is a back payment). The same rows give the
    same holdings: the stamp digests them instead of building the holdings."""
    from ejia.cases.matching import STATUS_PROGRAMMES
    from ejia.disbursement.models import Entitlement

    scope = Q(household__division__path__startswith=area.path)
    kinds = list(STATUS_PROGRAMMES)
    is_member = Exists(
        Membership.objects.filter(
            household_id=OuterRef("household_id"), person_id=OuterRef("person_id"), date_out__isnull=True
        )
    )
    holders = HouseholdStatus.objects.filter(_current(on), scope, kind__in=kinds).order_by()
    house = arrow_query(
        holders.values_list("household_id", "kind", "start"),
        pa.schema([HELD_STATUS_SCHEMA.field(n) for n in ("household_id", "kind", "start")]),
    )
    # The current members of those households, counted in one grouped query (the condition on
    # `date_out` inside the aggregates: found by the household index alone, whatever the planner
    # thinks of the partial index on current memberships).
    current = Q(date_out__isnull=True)
    members = arrow_query(
        Membership.objects.filter(household_id__in=holders.values("household_id"))
        .order_by()
        .values("household_id")
        .annotate(members=Count("pk", filter=current), first_member=Min("person_id", filter=current))
        .values_list("household_id", "members", "first_member"),
        pa.schema([HELD_STATUS_SCHEMA.field(n) for n in ("household_id", "members", "first_member")]),
    )
    house = house.join(members, "household_id", join_type="left outer")
    house = house.append_column(HELD_STATUS_SCHEMA.field("person_id"), pa.nulls(len(house), pa.int64()))
    house = house.select(HELD_STATUS_SCHEMA.names).cast(HELD_STATUS_SCHEMA)
    member = arrow_query(
        MemberStatus.objects.filter(_current(on), scope, kind__in=kinds)
        .order_by()
        .annotate(member=is_member)
        .values_list("household_id", "kind", "start", "person_id", "member"),
        pa.schema([*list(HELD_STATUS_SCHEMA)[:4], ("members", pa.bool_())]),
    )
    # A member status counts only while its person is a member: "members" is 1 or 0 there.
    member = member.set_column(4, HELD_STATUS_SCHEMA.field("members"), member.column("members").cast(pa.int64()))
    member = member.append_column(HELD_STATUS_SCHEMA.field("first_member"), pa.nulls(len(member), pa.int64()))
    live = (
        Entitlement.objects.filter(_live(on), scope)
        .order_by()
        .annotate(member=is_member, back_pay_for=KT("facts__back_pay_for"))
        .values_list(*HELD_ENTITLEMENT_SCHEMA.names)
    )
    return pa.concat_tables([house, member]), arrow_query(live, HELD_ENTITLEMENT_SCHEMA)


LEAD_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("household_id", pa.int64()),
        ("programme_id", pa.int64()),
        ("code", pa.string()),
        ("fingerprint", pa.string()),
    ]
)


def open_leads_table(area: Division) -> pa.Table:
    """(id, household_id, programme_id, code, fingerprint) of the area's open scan leads."""
    from ejia.discovery.models import OPEN_STATUSES, Lead

    return arrow_query(
        Lead.objects.filter(source=Lead.Source.SCAN, status__in=OPEN_STATUSES, division__path__startswith=area.path)
        .order_by()
        .values_list("pk", "household_id", "programme_id", "programme__code", "fingerprint"),
        LEAD_SCHEMA,
    )


def lead_fingerprint(stamp: str, codes) -> str:
    """What a household's open leads remember: the stamp they were explained from and every
    programme that explanation found (a lead closed by a visit since then no longer matches).
    The same digest as `ScanSets.compare` computes in DuckDB."""
    text = stamp + "|" + "|".join(sorted(codes))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _text(schema: pa.Schema) -> str:
    """The columns of `schema` after the household as text, an empty string for a null (so
    `concat_ws` keeps every position)."""
    return ", ".join(f"coalesce(CAST({name} AS VARCHAR), '')" for name in schema.names[1:])


TODO_SCHEMA = pa.schema(
    [
        ("household_id", pa.int64()),
        ("stamp", pa.string()),
        ("codes", pa.list_(pa.dictionary(pa.int32(), pa.string()))),
    ]
)


@dataclass
class Compared:
    candidates: int  # households with a programme left after the subtraction
    # (household_id, stamp, codes) of each household to explain, by household: its stamp (null
    # without a fingerprint) and its candidate programmes. Kept as Arrow columns (at full city
    # 419,321 households), turned into Python objects one chunk at a time (`chunks`).
    todo: pa.Table
    unchanged: pa.Table  # (id, household_id, programme_id) of the open leads left as they are

    def chunks(self, size: int) -> Iterator[list[tuple[int, str | None, set[str]]]]:
        """The households to explain, `size` at a time: (household_id, stamp, candidate codes)."""
        for start in range(0, self.todo.num_rows, size):
            part = self.todo.slice(start, size)
            yield list(
                zip(
                    part.column("household_id").to_pylist(),
                    part.column("stamp").to_pylist(),
                    [set(codes) for codes in part.column("codes").to_pylist()],
                    strict=True,
                )
            )


class ScanSets:
    """One DuckDB connection holding the scan's tables from the subtraction to the closes."""

    def __init__(self, threads: int = 2) -> None:
        import duckdb

        self.con = duckdb.connect()
        self.con.execute("SET threads TO ?", [threads])

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> ScanSets:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def compare(
        self,
        *,
        wanted: pa.Table,
        taken: pa.Table,
        held: tuple[pa.Table, pa.Table],
        fingerprints: pa.Table,
        leads: pa.Table,
        base: str,
    ) -> Compared:
        """Subtract `taken` from `wanted`, stamp each candidate household and compare with the
        fingerprints of its open `leads`: a household all of whose open leads carry
        `lead_fingerprint(stamp, their programmes)` is left as it is, every other candidate is
        to be explained. `fingerprints`: (household_id, fingerprint) of the export."""
        con = self.con
        statuses, entitlements = held
        for name, table in (
            ("wanted", wanted),
            ("taken", taken),
            ("held_statuses", statuses),
            ("held_entitlements", entitlements),
            ("fingerprints", fingerprints),
            ("leads", leads),
        ):
            con.register(name, table)
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE candidates AS
            SELECT w.household_id, w.code::VARCHAR AS code FROM wanted w
            WHERE NOT EXISTS (SELECT 1 FROM taken t WHERE t.household_id = w.household_id AND t.code = w.code)
            """
        )
        # What a household holds as rows of text, each kind marked; its digest is over its rows
        # sorted. Only the schemas' own column names go into the text.
        statuses_text, entitlements_text = _text(HELD_STATUS_SCHEMA), _text(HELD_ENTITLEMENT_SCHEMA)
        sql = (
            "CREATE OR REPLACE TEMP VIEW held_rows AS "  # noqa: S608
            f"SELECT household_id, concat_ws(',', 's', {statuses_text}) AS row FROM held_statuses "
            f"UNION ALL SELECT household_id, concat_ws(',', 'e', {entitlements_text}) AS row FROM held_entitlements"
        )
        con.execute(sql)
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE stamps AS
            WITH held AS (
                SELECT household_id, md5(string_agg(row, ';' ORDER BY row)) AS digest FROM held_rows GROUP BY 1
            ),
            taken_codes AS (
                SELECT household_id, string_agg(code, ',' ORDER BY code) AS codes
                FROM (SELECT DISTINCT household_id, code FROM taken) GROUP BY 1
            ),
            candidate_codes AS (
                SELECT household_id, string_agg(code, ',' ORDER BY code) AS codes FROM candidates GROUP BY 1
            )
            SELECT c.household_id,
                   CASE WHEN f.fingerprint IS NOT NULL THEN
                       md5(concat_ws('|', ?, hex(f.fingerprint), coalesce(h.digest, ''),
                                     coalesce(t.codes, ''), c.codes))
                   END AS stamp
            FROM candidate_codes c
            LEFT JOIN fingerprints f USING (household_id)
            LEFT JOIN held h USING (household_id)
            LEFT JOIN taken_codes t USING (household_id)
            """,
            [base],
        )
        con.execute(
            """
            CREATE OR REPLACE TEMP TABLE kept AS
            WITH named AS (
                SELECT household_id, string_agg(code, '|' ORDER BY code) AS codes FROM leads GROUP BY 1
            )
            , expected AS (
                SELECT n.household_id, md5(s.stamp || '|' || n.codes) AS fingerprint
                FROM named n JOIN stamps s USING (household_id) WHERE s.stamp IS NOT NULL
            )
            SELECT l.household_id FROM leads l JOIN expected e USING (household_id)
            GROUP BY 1 HAVING bool_and(coalesce(l.fingerprint = e.fingerprint, false))
            """
        )
        ((candidates,),) = con.execute("SELECT count(*) FROM stamps").fetchall()
        todo = (
            con.sql(
                """
                SELECT s.household_id, s.stamp, list(c.code ORDER BY c.code) AS codes FROM stamps s
                JOIN candidates c USING (household_id)
                WHERE s.household_id NOT IN (SELECT household_id FROM kept)
                GROUP BY ALL ORDER BY 1
                """
            )
            .to_arrow_table()
            # The programme codes as one dictionary: no string per household and code.
            .cast(TODO_SCHEMA)
        )
        unchanged = con.sql(
            "SELECT id, household_id, programme_id FROM leads WHERE household_id IN (SELECT household_id FROM kept)"
        ).to_arrow_table()
        # What the closes still need are `leads` and `kept`; the rest goes (at full city the
        # candidates and stamps are tables of about 1.3 M and 420,000 rows).
        con.execute("DROP VIEW held_rows; DROP TABLE stamps; DROP TABLE candidates")
        for name in ("wanted", "taken", "held_statuses", "held_entitlements", "fingerprints"):
            con.unregister(name)
        return Compared(candidates=candidates, todo=todo, unchanged=unchanged)

    def vanished(self, found: pa.Table) -> list[int]:
        """The ids of the open leads read by `compare` that neither were left as they are nor
        are among `found` (household_id, programme_id) of this run's explanations."""
        self.con.register("found", found)
        return [
            pk
            for (pk,) in self.con.execute(
                """
                SELECT id FROM leads l
                WHERE l.household_id NOT IN (SELECT household_id FROM kept)
                AND NOT EXISTS (SELECT 1 FROM found f
                                WHERE f.household_id = l.household_id AND f.programme_id = l.programme_id)
                ORDER BY id
                """
            ).fetchall()
        ]
