"""The registry and the departments' latest committed snapshots as the bulk back-end's tables.

Households are read in chunks with their members, statuses and every source's records for the
chunk (`person_index IN …`, one query per source and chunk); each household goes through the
same `findings.derive` and `build_engine_input` as a one-click check, so the facts the scan
evaluates are the facts a window would see. The rows are written to Parquet (one file per
table, row groups per chunk) with the fact columns of `ejia.rules.facts`, typed as the SQL
back-end expects: DuckDB reads them, and the same files feed Spark.

The files hold facts but never an ID number or a name: households by their database key,
members by position. They live in a scratch folder of the run and are deleted with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Q
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.registry.models import Household, HouseholdStatus, Membership, MemberStatus
from ejia.rules.errors import RuleError
from ejia.rules.facts import HOUSEHOLD_FACTS, MEMBER_FACTS
from ejia.rules.household import age_on, birth_date_from_id, coerce
from ejia.verification import findings as fnd
from ejia.verification.engine_input import EngineInput, MemberSource, build_engine_input
from ejia.verification.models import DataSource, SourceSnapshot
from ejia.verification.reviews import records_by_person

CHUNK = 2000
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
H_COLUMNS = [n for n, f in HOUSEHOLD_FACTS.items() if not f.derived]
M_COLUMNS = [n for n, f in MEMBER_FACTS.items() if not f.derived]
_ARROW = {
    "int": pa.int64(),
    "money": pa.int64(),
    "float": pa.float64(),
    "bool": pa.bool_(),
    "str": pa.string(),
    "enum": pa.string(),
    "date": pa.date32(),
}
HOUSEHOLD_SCHEMA = pa.schema(
    [("household_id", pa.int64()), ("county_code", pa.string())]
    + [(n, _ARROW[HOUSEHOLD_FACTS[n].type]) for n in H_COLUMNS]
)
MEMBER_SCHEMA = pa.schema(
    [("household_id", pa.int64()), ("member_index", pa.int64()), ("county_code", pa.string())]
    + [(n, _ARROW[MEMBER_FACTS[n].type]) for n in M_COLUMNS]
)
STANDARD_SCHEMA = pa.schema(
    [("region_code", pa.string()), ("urban", pa.bool_()), ("kind", pa.string()), ("amount_fen", pa.int64())]
)


@dataclass(frozen=True)
class Source:
    code: str
    kind: str
    name: str
    snapshot_id: int
    as_of: str | None


@dataclass
class Sources:
    """The committed snapshot of every source, fixed when the scan starts (a commit during the
    run must not mix two batches), and the sources that have none."""

    found: list[Source]
    failed: list[fnd.Answer]

    @property
    def failed_rows(self) -> list[dict]:
        return [{"code": a.code, "name": a.name, "why": f"{a.name}尚未导入任何数据"} for a in self.failed]


def sources_committed() -> Sources:
    committed = {
        s.source_id: s
        for s in SourceSnapshot.objects.filter(status=SourceSnapshot.Status.COMMITTED).only(
            "pk", "source_id", "committed_at"
        )
    }
    found, failed = [], []
    for source in DataSource.objects.order_by("code"):
        snapshot = committed.get(source.pk)
        if snapshot is None:
            failed.append(fnd.Answer(code=source.code, kind=source.kind, name=source.name, status="failed"))
            continue
        as_of = timezone.localtime(snapshot.committed_at).date().isoformat() if snapshot.committed_at else None
        found.append(Source(source.code, source.kind, source.name, snapshot.pk, as_of))
    return Sources(found, failed)


@dataclass
class Reader:
    """What a scan reads households with: the date, the sources, the divisions and a shared
    standards cache (villages under the same standard-setting divisions share one lookup)."""

    on: dt.date
    sources: Sources
    divisions: dict[int, Division] = field(default_factory=dict)
    standards: dict = field(default_factory=dict)
    standard_divisions: set[str] = field(default_factory=set)

    @classmethod
    def for_area(cls, area: Division, on: dt.date, sources: Sources) -> Reader:
        from ejia.catalogue.models import Standard

        return cls(
            on=on,
            sources=sources,
            divisions={d.pk: d for d in Division.objects.filter(path__startswith=area.path)},
            standard_divisions=set(Standard.objects.values_list("division__code", flat=True).distinct()),
        )


def area_households(area: Division) -> dict[int, int]:
    """{household pk: village pk} of every household of `area`, in pk order."""
    return dict(
        Household.objects.filter(division__path__startswith=area.path).order_by("pk").values_list("pk", "division_id")
    )


def engine_inputs(reader: Reader, household_ids: list[int]) -> dict[int, EngineInput]:
    """The engine input of each household (registry, statuses, snapshots) on the reader's date;
    households without a living member, or with a registered fact the rules cannot read, are
    left out (the window sees the latter when it opens the household)."""
    on = reader.on
    current = Q(start__lte=on) & (Q(end__isnull=True) | Q(end__gte=on))
    households = {
        row["pk"]: row for row in Household.objects.filter(pk__in=household_ids).values("pk", "division_id", "facts")
    }
    statuses: dict[int, set[str]] = defaultdict(set)
    for household_id, kind in HouseholdStatus.objects.filter(current, household_id__in=household_ids).values_list(
        "household_id", "kind"
    ):
        statuses[household_id].add(kind)
    for household_id, kind in MemberStatus.objects.filter(current, household_id__in=household_ids).values_list(
        "household_id", "kind"
    ):
        statuses[household_id].add(kind)
    members: dict[int, list[tuple]] = defaultdict(list)
    for row in (
        Membership.objects.filter(household_id__in=household_ids, date_out__isnull=True)
        .filter(Q(person__deceased_on__isnull=True) | Q(person__deceased_on__gt=on))
        .order_by("household_id", "relation", "pk")
        .values_list(
            "household_id",
            "person__public_id",
            "person__id_number_index",
            "person__name",
            "relation",
            "person__birth_date",
            "person__sex",
            "facts",
        )
    ):
        members[row[0]].append(row[1:])
    key_of = {index: str(public_id) for ms in members.values() for public_id, index, *_ in ms}
    # Only the sources `derive` reads, and of their records only the keys it reads: another
    # source's answer counts as given, its records unused.
    used = [s for s in reader.sources.found if s.kind in fnd.READS]
    found = records_by_person(used, key_of, keys={s.code: fnd.READS[s.kind] for s in used})
    out: dict[int, EngineInput] = {}
    for household_id in household_ids:
        household = households.get(household_id)
        rows = members.get(household_id)
        if household is None or not rows:
            continue
        keys = [str(r[0]) for r in rows]
        answers = [
            fnd.Answer(
                code=s.code,
                kind=s.kind,
                name=s.name,
                status="done",
                as_of=s.as_of,
                findings={k: records[k] for k in keys if k in records},
            )
            for s in reader.sources.found
            for records in [found.get(s.code, {})]
        ] + list(reader.sources.failed)
        derived = fnd.derive(answers, keys, on=on)
        try:
            out[household_id] = build_engine_input(
                division=reader.divisions[household["division_id"]],
                on=on,
                members=[
                    MemberSource(
                        ref=str(public_id),
                        name=name,
                        birth_date=birth,
                        sex=sex,
                        relation=relation,
                        registry=facts or {},
                    )
                    for public_id, _index, name, relation, birth, sex, facts in rows
                ],
                registry=dict(household["facts"] or {}),
                verified=derived,
                statuses=statuses.get(household_id, set()),
                standards_cache=reader.standards,
                standard_divisions=reader.standard_divisions,
            )
        except RuleError:
            continue
    return out


def _typed(facts: dict[str, Any], names: list[str], catalogue: dict) -> dict[str, Any] | None:
    """The row of `names` typed as the SQL back-end reads them (unknown: None); None when a
    value cannot be read. Only the facts given are coerced: most of a row is unknown."""
    row = dict.fromkeys(names)
    for name, value in facts.items():
        if value is not None and name in row:
            try:
                row[name] = coerce(catalogue[name], value)
            except RuleError:
                return None
            # The Parquet column holds 64 bits: a larger integer is a value the scan cannot read.
            if isinstance(row[name], int) and not INT64_MIN <= row[name] <= INT64_MAX:
                return None
    return row


def input_fingerprint(item: EngineInput, division_id: int, on: dt.date) -> bytes:
    """A digest of everything a household's engine input holds that the explain step reads: its
    village, place and standards, every household and member fact as given (with the members'
    ages on `on`, the only way the date reaches the rules), the members' keys and names, and
    where each fact came from (registry, declared, or the department and date of a snapshot).
    Two inputs with the same digest give the same evaluation, plan and facts behind a lead."""
    ages = []
    for member in item.members:
        birth = member.get("birth_date")
        try:
            birth = dt.date.fromisoformat(birth) if isinstance(birth, str) else birth
        except ValueError:
            birth = None
        birth = birth or birth_date_from_id(member.get("id_number"))
        ages.append(age_on(birth, on) if isinstance(birth, dt.date) else None)
    # Dicts in their insertion order, which the same rows give again (the registry's JSON, the
    # sources' and the builder's fixed order): sorting them would cost more than the digest.
    payload = (
        division_id,
        item.region_code,
        item.urban,
        item.household,
        item.members,
        ages,
        item.refs,
        item.names,
        item.provenance,
        item.input.standards,
    )
    return hashlib.blake2b(repr(payload).encode(), digest_size=16).digest()


@dataclass
class Export:
    folder: Path
    households: int = 0
    members: int = 0
    skipped: int = 0
    # {household pk: input_fingerprint} when the caller asked for them (the scan does).
    fingerprints: dict[int, bytes] = field(default_factory=dict)
    # {phase: [wall s, CPU s of this process]} of the set-based export's phases (pull, facts,
    # build, write, fingerprints): where a large area's export spends its time.
    phases: dict[str, list[float]] = field(default_factory=dict)

    @property
    def households_path(self) -> Path:
        return self.folder / "households.parquet"

    @property
    def members_path(self) -> Path:
        return self.folder / "members.parquet"

    @property
    def standards_path(self) -> Path:
        return self.folder / "standards.parquet"


def exporter() -> Callable[..., Export]:
    """The export the scan and the what-if use (settings.EJIA_DISCOVERY_EXPORT): the set-based
    `bulk_export.export_area_sql` ("sql", the default) or `export_area` ("python"); both take
    (reader, area, folder, *, fingerprints) and write the same files."""
    from django.conf import settings

    choice = getattr(settings, "EJIA_DISCOVERY_EXPORT", "sql")
    if choice == "python":
        return export_area
    if choice == "sql":
        from ejia.discovery.bulk_export import export_area_sql

        return export_area_sql
    raise ImproperlyConfigured(f"EJIA_DISCOVERY_EXPORT: “{choice}” is neither sql nor python")


def export_area(
    reader: Reader,
    area: Division,
    folder: Path,
    *,
    chunk: int = CHUNK,
    fingerprints: bool = False,
    select: Callable[[Path, Any], Any] | None = None,
    meanwhile: Callable[[], Any] | None = None,
) -> Export:
    """Write households.parquet, members.parquet and standards.parquet of `area` into `folder`;
    with `fingerprints`, also keep each exported household's `input_fingerprint` (with `select`,
    called as `select(folder, None)` once the files are written, only of the household ids it
    returns, as `bulk_export.export_area_sql` does). `meanwhile()` is called once, first (the
    set-based export calls it beside its own work)."""
    from ejia.catalogue.selectors import standards_table_rows

    if meanwhile is not None:
        meanwhile()
    folder.mkdir(parents=True, exist_ok=True)
    result = Export(folder)
    county_of = {d.pk: d.county_code for d in reader.divisions.values()}
    h_writer = pq.ParquetWriter(result.households_path, HOUSEHOLD_SCHEMA)
    m_writer = pq.ParquetWriter(result.members_path, MEMBER_SCHEMA)
    try:
        divisions = area_households(area)
        ids = list(divisions)
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            h_rows: list[dict] = []
            m_rows: list[dict] = []
            for household_id, item in engine_inputs(reader, part).items():
                county = county_of.get(divisions.get(household_id), "")
                h = _typed(item.household, H_COLUMNS, HOUSEHOLD_FACTS)
                ms = [_typed(m, M_COLUMNS, MEMBER_FACTS) for m in item.members]
                if h is None or any(m is None for m in ms):
                    result.skipped += 1
                    continue
                h_rows.append({"household_id": household_id, "county_code": county, **h})
                if fingerprints:
                    division_id = divisions.get(household_id)
                    result.fingerprints[household_id] = input_fingerprint(item, division_id, reader.on)
                for i, m in enumerate(ms):
                    m_rows.append({"household_id": household_id, "member_index": i, "county_code": county, **m})
            if h_rows:
                h_writer.write_table(pa.Table.from_pylist(h_rows, schema=HOUSEHOLD_SCHEMA))
                m_writer.write_table(pa.Table.from_pylist(m_rows, schema=MEMBER_SCHEMA))
            result.households += len(h_rows)
            result.members += len(m_rows)
    finally:
        h_writer.close()
        m_writer.close()
    pq.write_table(pa.Table.from_pylist(standards_table_rows(reader.on), schema=STANDARD_SCHEMA), result.standards_path)
    if fingerprints and select is not None:
        wanted = set(pa.array(select(folder, None), pa.int64()).to_pylist())
        result.fingerprints = {h: v for h, v in result.fingerprints.items() if h in wanted}
    return result
