"""年度复核批量核对: re-verify every current recipient household of a county in one job.

`review_batch_start` records a batch (one open batch per county: a second click joins the
running one) and queues `review_batch_run` on the "bulk" queue. The run is set-based: the
county's recipient households are read in chunks with their members, each source's committed
snapshot is asked once per chunk (`person_index IN …`), and every household goes through the
same `findings.derive` / `findings.merged` as a one-click check, then through the rule engine
for the programmes its statuses stand for. Households that the verified facts no longer
qualify become `ReverificationFlag`s for a reviewer; progress is written after each chunk.

A source without a committed snapshot is recorded on the batch and its facts stay as
registered: a household is never flagged on what a missing source would have said.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.accounts.policies import Capability, require
from ejia.accounts.scope import require_division, scope_for
from ejia.core.audit import audit_record
from ejia.registry.models import (
    STATUS_BY_PROGRAMME,
    Household,
    HouseholdStatus,
    Membership,
    MemberStatus,
    Relation,
)
from ejia.rules import Engine
from ejia.rules.errors import RuleError
from ejia.rules.facts import DERIVED_FROM, FACTS
from ejia.rules.spec import Outcome
from ejia.verification import findings as fnd
from ejia.verification.engine_input import MemberSource, build_engine_input
from ejia.verification.models import (
    DataSource,
    ReverificationBatch,
    ReverificationFlag,
    SourceRecord,
    SourceSnapshot,
)

# The statuses a means test stands behind, and the programme whose rule it is.
STATUS_PROGRAMMES: dict[str, str] = {kind: code for code, kind in STATUS_BY_PROGRAMME.items()}
CHUNK = 2000
# A running batch that has not moved for this long lost its worker (a restart, a crash).
STALE_AFTER = dt.timedelta(minutes=30)
OPEN = (ReverificationBatch.Status.QUEUED, ReverificationBatch.Status.RUNNING)


class ReviewRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- reads, scoped to the user


def review_counties_for_user(user) -> list[Division]:
    """The counties whose recipients the user may re-verify: the user's own county, or every
    county of the city for the city centre. Raises PermissionDenied."""
    require(user, Capability.REVERIFICATION_MANAGE)
    scope = scope_for(user)
    if scope.empty:
        return []
    return list(Division.objects.filter(level=Division.Level.COUNTY, path__startswith=scope.division_path))


def review_batches_for_user(user, *, limit: int = 50) -> list[ReverificationBatch]:
    counties = review_counties_for_user(user)
    return list(ReverificationBatch.objects.filter(county__in=counties).select_related("county", "started_by")[:limit])


def review_batch_get_for_user(*, user, public_id) -> ReverificationBatch:
    require(user, Capability.REVERIFICATION_MANAGE)
    batch = ReverificationBatch.objects.select_related("county", "started_by").filter(public_id=public_id).first()
    if batch is None:
        raise Http404("没有这个复核批次。")
    require_division(user, batch.county)
    return batch


def review_flags(batch: ReverificationBatch) -> QuerySet:
    return ReverificationFlag.objects.filter(batch=batch).select_related(
        "household", "household__division", "household__division__parent"
    )


def heads_of(household_ids: list[int]) -> dict[int, tuple[str, str]]:
    """{household pk: (head's name, masked ID number)} in one query."""
    rows = Membership.objects.filter(
        household_id__in=household_ids, date_out__isnull=True, relation=Relation.HEAD
    ).values_list("household_id", "person__name", "person__id_number_masked")
    return {hh: (name, masked) for hh, name, masked in rows}


# ---------------------------------------------------------------- start


def review_batch_start(*, actor, county: Division, on: dt.date | None = None, run: bool = True) -> ReverificationBatch:
    """Record a batch for `county` and queue it; while one is open, return that one instead."""
    if county.level != Division.Level.COUNTY:
        raise ReviewRefused("批量复核按县（市、区）进行，请选择一个县（市、区）。")
    now = timezone.now()
    with transaction.atomic():
        # Starts for one county queue up behind this lock (the partial unique index holds too).
        Division.objects.select_for_update().get(pk=county.pk)
        current = ReverificationBatch.objects.select_for_update().filter(county=county, status__in=OPEN).first()
        if current is not None and not _stale(current, now):
            return current
        if current is not None:
            current.status = ReverificationBatch.Status.FAILED
            current.error = "后台任务中断（长时间无进展），已由新的批次接替。"
            current.finished_at = now
            current.save(update_fields=["status", "error", "finished_at", "updated_at"])
            audit_record(
                actor=actor, action="verification.review_batch_abandon", obj=current, data={"done": current.done}
            )
        batch = ReverificationBatch.objects.create(
            county=county, on=on or timezone.localdate(), started_by=actor, status=ReverificationBatch.Status.QUEUED
        )
        audit_record(
            actor=actor,
            action="verification.review_batch_start",
            obj=batch,
            reason="年度复核批量核对",
            data={"county": county.code, "on": batch.on.isoformat()},
        )
    if run:
        from ejia.verification.tasks import run_review_batch

        run_review_batch.enqueue(batch.pk)
    return batch


def _stale(batch: ReverificationBatch, now: dt.datetime) -> bool:
    return batch.status == ReverificationBatch.Status.RUNNING and batch.updated_at < now - STALE_AFTER


# ---------------------------------------------------------------- the run


@dataclass
class _Source:
    code: str
    kind: str
    name: str
    snapshot_id: int
    as_of: str | None


@dataclass
class _Member:
    key: str  # person public id, as one-click checks key members
    person_id: int
    index: str
    name: str
    masked_id: str
    relation: str
    birth_date: dt.date
    sex: str
    facts: dict


@dataclass
class _Run:
    batch: ReverificationBatch
    engine: Engine
    sources: list[_Source]
    failed: list[fnd.Answer]
    divisions: dict[int, Division]
    standard_divisions: set[str] = field(default_factory=set)
    standards: dict[tuple[tuple[str, ...], bool], dict[str, int]] = field(default_factory=dict)
    persons: int = 0


def recipients(county: Division, on: dt.date) -> QuerySet:
    """Active household statuses of the programme-backed kinds in the county on `on`."""
    return HouseholdStatus.objects.filter(
        kind__in=list(STATUS_PROGRAMMES),
        start__lte=on,
        household__division__path__startswith=county.path,
    ).filter(Q(end__isnull=True) | Q(end__gte=on))


def review_batch_run(*, batch_id: int, chunk_size: int = CHUNK) -> ReverificationBatch:
    """The task body: claim the queued batch, check every recipient household, finish."""
    claimed = _claim(batch_id)
    if claimed is None:
        return ReverificationBatch.objects.get(pk=batch_id)
    batch, households = claimed
    try:
        run = _prepare(batch)
        for start in range(0, len(households), chunk_size):
            ids = households[start : start + chunk_size]
            flags = _review_chunk(run, ids)
            with transaction.atomic():
                ReverificationFlag.objects.bulk_create(flags, batch_size=1000)
                ReverificationBatch.objects.filter(pk=batch.pk).update(
                    done=F("done") + len(ids), flagged=F("flagged") + len(flags), updated_at=timezone.now()
                )
    except Exception as exc:
        _fail(batch, exc)
        raise
    return _finish(batch, run)


def _claim(batch_id: int) -> tuple[ReverificationBatch, list[int]] | None:
    """queued → running, with the list of households and one audit event per source asked."""
    with transaction.atomic():
        batch = ReverificationBatch.objects.select_for_update().select_related("county").get(pk=batch_id)
        if batch.status != ReverificationBatch.Status.QUEUED:
            return None  # another worker took it, or it is over
        statuses = recipients(batch.county, batch.on)
        households = sorted(set(statuses.values_list("household_id", flat=True)))
        persons = Membership.objects.filter(
            date_out__isnull=True, household_id__in=statuses.values("household_id")
        ).count()
        sources, failed = _sources()
        batch.status = ReverificationBatch.Status.RUNNING
        batch.started_at = timezone.now()
        batch.total = len(households)
        batch.persons = persons
        batch.failed_sources = failed
        batch.save(update_fields=["status", "started_at", "total", "persons", "failed_sources", "updated_at"])
        # Written before any record is read: the reads are on the record even if the worker dies.
        for source in sources:
            audit_record(
                actor=batch.started_by,
                action="verification.review_source_query",
                obj=batch,
                reason="年度复核批量核对",
                data={
                    "source": source.code,
                    "snapshot_id": source.snapshot_id,
                    "persons": persons,
                    "households": len(households),
                },
            )
    return batch, households


def _sources() -> tuple[list[_Source], list[dict]]:
    committed = {
        s.source_id: s
        for s in SourceSnapshot.objects.filter(status=SourceSnapshot.Status.COMMITTED).only(
            "pk", "source_id", "committed_at"
        )
    }
    sources, failed = [], []
    for source in DataSource.objects.all():
        snapshot = committed.get(source.pk)
        if snapshot is None:
            failed.append(
                {"code": source.code, "kind": source.kind, "name": source.name, "why": f"{source.name}尚未导入任何数据"}
            )
            continue
        as_of = timezone.localtime(snapshot.committed_at).date().isoformat() if snapshot.committed_at else None
        sources.append(_Source(source.code, source.kind, source.name, snapshot.pk, as_of))
    return sources, failed


def _prepare(batch: ReverificationBatch) -> _Run:
    sources, _ = _sources()
    by_code = {s.code for s in sources}
    failed = [
        fnd.Answer(code=f["code"], kind=f["kind"], name=f["name"], status="failed")
        for f in batch.failed_sources
        if f["code"] not in by_code
    ]
    # Keep the snapshots fixed at claim time: a commit during the run must not mix two batches.
    sources = [s for s in sources if s.code not in {f["code"] for f in batch.failed_sources}]
    divisions = {d.pk: d for d in Division.objects.filter(path__startswith=batch.county.path)}
    from ejia.catalogue.models import Standard

    return _Run(
        batch=batch,
        engine=review_engine(batch.on),
        sources=sources,
        failed=failed,
        divisions=divisions,
        standard_divisions=set(Standard.objects.values_list("division__code", flat=True).distinct()),
    )


def review_engine(on: dt.date) -> Engine:
    """An engine over the status programmes and the programmes they depend on only: compiled
    once per batch, and a household is evaluated on a handful of programmes, not all of them."""
    from ejia.catalogue.selectors import engine_for

    full = engine_for(on)
    wanted: set[str] = set()
    stack = [code for code in STATUS_PROGRAMMES.values() if code in full.programmes]
    while stack:
        code = stack.pop()
        if code not in wanted:
            wanted.add(code)
            stack.extend(full.programmes[code].deps)
    return Engine([full.programmes[code].spec for code in full.order if code in wanted])


def _slices(values: list, size: int | None = None) -> Iterator[list]:
    # SQLite caps bound parameters per statement; PostgreSQL takes the chunk in one query.
    size = size or (900 if connection.vendor == "sqlite" else 10_000)
    for i in range(0, len(values), size):
        yield values[i : i + size]


def records_by_person(
    sources, key_of: dict[int, str], *, keys: dict[str, tuple[str, ...]] | None = None
) -> dict[str, dict[str, list[dict]]]:
    """The committed department records of many people at once: {source code: {person key:
    [record, ...]}} in file order. `sources` are the snapshots to read (each with `code` and
    `snapshot_id`); `key_of` maps a person's blind index to the key the caller uses. Shared by
    the annual review and the 主动发现 export, so both read department data the same way.
    One query per slice of people for all the sources together. With `keys` ({source code:
    record keys}), PostgreSQL hands back only those keys of each record (a missing one as
    null), so that only what the caller reads is sent and decoded."""
    code_of = {source.snapshot_id: source.code for source in sources}
    found: dict[str, dict[str, list[dict]]] = {code: defaultdict(list) for code in code_of.values()}
    if not code_of:
        return found
    if keys is not None and connection.vendor == "postgresql":
        cases, params = [], []
        for snapshot_id, code in code_of.items():
            pairs = [part for key in keys[code] for part in (key, key)]
            cases.append("WHEN %s THEN jsonb_build_object(" + ", ".join(["%s, data->%s"] * len(keys[code])) + ")")
            params += [snapshot_id, *pairs]
        sql = (
            "SELECT snapshot_id, person_index, (CASE snapshot_id " + " ".join(cases) + " END)::text"  # noqa: S608
            f" FROM {SourceRecord._meta.db_table} WHERE snapshot_id = ANY(%s) AND person_index = ANY(%s)"
            " ORDER BY snapshot_id, row_number"
        )
        with connection.cursor() as cursor:
            for part in _slices(list(key_of)):
                cursor.execute(sql, [*params, list(code_of), part])
                for snapshot_id, index, data in cursor.fetchall():
                    found[code_of[snapshot_id]][key_of[index]].append(json.loads(data))
        return found
    for part in _slices(list(key_of)):
        rows = (
            SourceRecord.objects.filter(snapshot_id__in=list(code_of), person_index__in=part)
            .order_by("snapshot_id", "row_number")
            .values_list("snapshot_id", "person_index", "data")
        )
        for snapshot_id, index, data in rows:
            found[code_of[snapshot_id]][key_of[index]].append(data if isinstance(data, dict) else json.loads(data))
    return found


def _review_chunk(run: _Run, household_ids: list[int]) -> list[ReverificationFlag]:
    on = run.batch.on
    households = {
        row["pk"]: row for row in Household.objects.filter(pk__in=household_ids).values("pk", "division_id", "facts")
    }
    kinds: dict[int, list[str]] = defaultdict(list)
    for household_id, kind in (
        recipients(run.batch.county, on).filter(household_id__in=household_ids).values_list("household_id", "kind")
    ):
        if kind not in kinds[household_id]:
            kinds[household_id].append(kind)
    status_persons: dict[tuple[int, str], set[int]] = defaultdict(set)
    for household_id, person_id, kind in (
        MemberStatus.objects.filter(household_id__in=household_ids, kind__in=list(STATUS_PROGRAMMES), start__lte=on)
        .filter(Q(end__isnull=True) | Q(end__gte=on))
        .values_list("household_id", "person_id", "kind")
    ):
        status_persons[(household_id, kind)].add(person_id)
    members: dict[int, list[_Member]] = defaultdict(list)
    for row in (
        Membership.objects.filter(household_id__in=household_ids, date_out__isnull=True)
        .filter(Q(person__deceased_on__isnull=True) | Q(person__deceased_on__gt=on))
        .order_by("household_id", "relation", "pk")
        .values_list(
            "household_id",
            "person_id",
            "person__public_id",
            "person__id_number_index",
            "person__name",
            "person__id_number_masked",
            "relation",
            "person__birth_date",
            "person__sex",
            "facts",
        )
    ):
        members[row[0]].append(_Member(str(row[2]), row[1], row[3], row[4], row[5], row[6], row[7], row[8], row[9]))
    key_of = {m.index: m.key for ms in members.values() for m in ms}
    run.persons += len(key_of)
    found = records_by_person(run.sources, key_of)
    flags: list[ReverificationFlag] = []
    for household_id in household_ids:
        household = households.get(household_id)
        if household is None or not members.get(household_id):
            continue
        flags.extend(
            _review_household(run, household, members[household_id], kinds[household_id], status_persons, found)
        )
    return flags


def _review_household(
    run: _Run,
    household: dict,
    members: list[_Member],
    kinds: list[str],
    status_persons: dict[tuple[int, str], set[int]],
    found: dict[str, dict[str, list[dict]]],
) -> list[ReverificationFlag]:
    on = run.batch.on
    keys = [m.key for m in members]
    answers = []
    for s in run.sources:
        findings = {k: found[s.code][k] for k in keys if k in found[s.code]}
        answers.append(
            fnd.Answer(
                code=s.code, kind=s.kind, name=s.name, status="done", as_of=_as_of(findings, s.as_of), findings=findings
            )
        )
    answers += run.failed
    derived = fnd.derive(answers, keys, on=on)
    declared = {"household": dict(household["facts"] or {}), "members": {m.key: dict(m.facts or {}) for m in members}}
    division = run.divisions[household["division_id"]]
    failed_facts = {u["fact"] for u in derived["unverified"]}
    names = {m.key: m.name for m in members}
    try:
        engine_input = build_engine_input(
            division=division,
            on=on,
            members=[
                MemberSource(
                    ref=m.key,
                    name=m.name,
                    birth_date=m.birth_date,
                    sex=m.sex,
                    relation=m.relation,
                    registry=m.facts or {},
                )
                for m in members
            ],
            registry=declared["household"],
            verified=derived,
            standards_cache=run.standards,
            standard_divisions=run.standard_divisions,
        )
        results = run.engine.evaluate(engine_input.input, on=on)
    except RuleError as exc:
        # A registered fact of the wrong type: the household needs a look, not a crashed batch.
        results, broken = {}, f"登记的家庭信息有误，无法按规则判断：{exc}"
    else:
        broken = ""
    flags = []
    for kind in kinds:
        code = STATUS_PROGRAMMES[kind]
        compiled = run.engine.programmes.get(code)
        if compiled is None:
            continue  # the programme is not in force on the batch's date
        if broken:
            outcome, reasons = ReverificationFlag.Outcome.POSSIBLY, [broken]
        else:
            result = results[code]
            if result.outcome == Outcome.ELIGIBLE:
                continue
            if result.outcome == Outcome.NOT:
                holders = status_persons.get((household["pk"], kind), set())
                reasons = _failing(compiled, result, members, holders, failed_facts)
                outcome = ReverificationFlag.Outcome.NOT_ELIGIBLE
            else:
                missing = [f for f in result.unknown_facts if f not in failed_facts]
                reasons = [f"缺少“{FACTS[f].label if f in FACTS else f}”，无法判断是否仍符合条件" for f in missing]
                outcome = ReverificationFlag.Outcome.POSSIBLY
            if not reasons:
                continue  # only facts of sources that could not be asked speak against it
        flags.append(
            ReverificationFlag(
                batch_id=run.batch.pk,
                household_id=household["pk"],
                programme_code=code,
                programme_name=compiled.spec.name,
                status_kind=kind,
                outcome=outcome,
                reasons=reasons,
                differences=fnd.differences(declared, derived, names),
            )
        )
    return flags


def _as_of(findings: dict[str, list[dict]], loaded: str | None) -> str | None:
    """As a one-click check dates an answer: the earliest date the rows speak for (余额日期,
    数据日期) where they carry one, else the day the snapshot was loaded."""
    dated = [str(r["as_of"])[:10] for records in findings.values() for r in records if r.get("as_of")]
    dated = [d for d in dated if _is_date(d)]
    return min(dated) if dated else loaded


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _rests_on_failed(refs, failed_facts: set[str]) -> bool:
    """True when every fact a criterion reads would have come from a source that was not asked."""
    bases: set[str] = set()
    for ref in refs:
        if ref.kind == "eligible":
            return False
        if ref.kind == "fact":
            bases.update(DERIVED_FROM.get(ref.name, (ref.name,)))
    return bool(bases) and bases <= failed_facts


def _failing(compiled, result, members: list[_Member], holders: set[int], failed_facts: set[str]) -> list[str]:
    """The explanations of the criteria no longer met (for a member programme: those of the
    members who hold the status, named), leaving out criteria that rest on missing sources."""
    refs = [c.refs for c in compiled.criteria]
    if compiled.target == "household":
        return [
            c.explanation
            for c, r in zip(result.criteria, refs, strict=True)
            if c.result == "fail" and not _rests_on_failed(r, failed_facts)
        ]
    chosen = [m for m in result.members if m.index < len(members) and members[m.index].person_id in holders]
    reasons = []
    for member in chosen or result.members:
        if member.outcome != Outcome.NOT:
            continue
        own = [
            c.explanation
            for c, r in zip(member.criteria, refs, strict=True)
            if c.result == "fail" and not _rests_on_failed(r, failed_facts)
        ]
        if not own:
            return []  # this member would still qualify but for the missing sources
        reasons.extend(f"{members[member.index].name}：{text}" for text in own)
    return reasons


def _finish(batch: ReverificationBatch, run: _Run) -> ReverificationBatch:
    with transaction.atomic():
        batch = ReverificationBatch.objects.select_for_update().get(pk=batch.pk)
        batch.status = ReverificationBatch.Status.FINISHED
        batch.finished_at = timezone.now()
        batch.persons = run.persons
        batch.save(update_fields=["status", "finished_at", "persons", "updated_at"])
        audit_record(
            actor=batch.started_by,
            action="verification.review_batch_finish",
            obj=batch,
            reason="年度复核批量核对",
            data={
                "households": batch.done,
                "persons": run.persons,
                "flagged": batch.flagged,
                "failed_sources": [f["code"] for f in batch.failed_sources],
            },
        )
    return batch


def _fail(batch: ReverificationBatch, exc: Exception) -> None:
    with transaction.atomic():
        batch = ReverificationBatch.objects.select_for_update().get(pk=batch.pk)
        batch.status = ReverificationBatch.Status.FAILED
        batch.finished_at = timezone.now()
        batch.error = f"批量核对出错：{type(exc).__name__}"[:300]
        batch.save(update_fields=["status", "finished_at", "error", "updated_at"])
        audit_record(
            actor=batch.started_by,
            action="verification.review_batch_fail",
            obj=batch,
            data={"done": batch.done, "error": batch.error},
        )
