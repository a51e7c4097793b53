"""The scan: every programme over every household of an area, leads for what they do not get.

1. export — the registry and the latest committed snapshots to Parquet (`export.py`);
2. evaluate — all programmes in force at once on DuckDB (the rule engine's bulk back-end);
3. subtract — what each household holds (statuses, live entitlements) and has applied for
   (open requests); what is left are the candidates;
4. explain — each candidate household through the intake plan builder (the same engine input,
   what it holds, the combination rules): only programmes the plan still offers as likely or
   possible become leads, with the plan's reasons and the facts behind them;
5. upsert — one open lead per (household, programme): updated in place on every run, created
   when new (unless the family declined it within the cool-off), closed when its reason went
   away. Every close is under a row lock with an audit event.

`scan_start` records a run (one open run per area: a second click joins it) and queues
`run_scan`; the nightly `manage.py ejia_discovery_scan` runs the city.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import resource
import shutil
import tempfile
import time
import uuid
from array import array
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from django.conf import settings
from django.db import connection, models, transaction
from django.db.models import Count, Q
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.catalogue.models import Programme
from ejia.catalogue.plan import PlanMember, PlanOutcome
from ejia.core.audit import audit_record
from ejia.discovery.export import Reader, engine_inputs, exporter, sources_committed
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus, ScanRun
from ejia.discovery.sets import (
    Compared,
    ScanSets,
    held_tables,
    lead_fingerprint,
    open_leads_table,
    taken_querysets,
    taken_table,
    wanted_pairs,
)
from ejia.registry.models import Household
from ejia.rules.facts import FACTS

logger = logging.getLogger(__name__)

# A family that said no, or that a visit found not eligible, is not visited again about the
# same programme for half a year; an application started from a lead has a month to be
# submitted (its open request then keeps the family off the list) before the scan asks again.
COOL_OFF = {
    LeadStatus.DECLINED: dt.timedelta(days=182),
    LeadStatus.NOT_ELIGIBLE: dt.timedelta(days=182),
    LeadStatus.APPLIED: dt.timedelta(days=30),
}
# A running scan that has not finished for this long lost its worker.
STALE_AFTER = dt.timedelta(hours=2)
OFFERED = {PlanOutcome.LIKELY: Lead.Likelihood.LIKELY, PlanOutcome.POSSIBLE: Lead.Likelihood.POSSIBLE}
# Which outcomes of a programme are worth a visit is the programme's `discovery_mode`, kept
# in the catalogue editor (项目维护): "possible" for the means-tested core, where what is
# missing is what a visit establishes (income, assets, care needs); "likely" only for most;
# never for programmes delivered from the recipients list, asked for at the point of need, or
# insured (docs/discovery.md).
Mode = Programme.DiscoveryMode
LIVE_ENTITLEMENT = ("active", "suspended", "gradual_exit")


class ScanRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def scan_start(*, actor, area: Division, on: dt.date | None = None, run: bool = True) -> ScanRun:
    """Record a scan of `area` and queue it; while one is open for the area, return that one."""
    if area.level not in (Division.Level.CITY, Division.Level.COUNTY):
        raise ScanRefused("主动发现按县（市、区）或全市进行比对。")
    now = timezone.now()
    with transaction.atomic():
        Division.objects.select_for_update().get(pk=area.pk)
        current = ScanRun.objects.select_for_update().filter(area=area, status__in=["queued", "running"]).first()
        if current is not None and not (
            current.status == ScanRun.Status.RUNNING and current.updated_at < now - STALE_AFTER
        ):
            return current
        if current is not None:
            current.status = ScanRun.Status.FAILED
            current.error = "后台任务中断（长时间无进展），已由新的比对接替。"
            current.finished_at = now
            current.save(update_fields=["status", "error", "finished_at", "updated_at"])
            audit_record(actor=actor, action="discovery.scan_abandon", obj=current)
        scan = ScanRun.objects.create(area=area, on=on or timezone.localdate(), started_by=actor)
        audit_record(
            actor=actor,
            action="discovery.scan_start",
            obj=scan,
            reason="主动发现数据比对",
            data={"area": area.code, "on": scan.on.isoformat()},
        )
    if run:
        from ejia.discovery.tasks import run_scan

        run_scan.enqueue(scan.pk)
    return scan


@dataclass
class Finding:
    """One lead as this run sees it."""

    household_id: int
    division_id: int
    programme: Programme
    likelihood: str
    amount_fen: int | None
    persons: list[dict]
    reasons: list[dict]
    facts: list[dict]
    unknown_labels: list[str]
    # lead_fingerprint of the household's explanation ("" when the scan kept no fingerprints).
    fingerprint: str = ""


@dataclass
class Tally:
    new: int = 0
    updated: int = 0  # found again: rewritten, or (of which `unchanged`) only stamped with the run
    unchanged: int = 0
    closed: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # the steps' sums, unrounded


def scan_run(*, scan_id: int) -> ScanRun:
    """Run a recorded scan (the task calls this); safe to call twice: a finished run is left."""
    with transaction.atomic():
        scan = ScanRun.objects.select_for_update(of=("self",)).select_related("area", "started_by").get(pk=scan_id)
        if scan.status != ScanRun.Status.QUEUED:
            return scan
        scan.status = ScanRun.Status.RUNNING
        scan.started_at = timezone.now()
        scan.save(update_fields=["status", "started_at", "updated_at"])
    try:
        return _run(scan)
    except Exception as exc:
        logger.exception("discovery scan %s failed", scan.pk)
        ScanRun.objects.filter(pk=scan.pk).update(
            status=ScanRun.Status.FAILED,
            finished_at=timezone.now(),
            error=f"比对时出错（{type(exc).__name__}），请重试或联系管理员。",
            updated_at=timezone.now(),
        )
        raise


def _run(scan: ScanRun) -> ScanRun:
    started, cpu = time.perf_counter(), time.process_time()
    tally = Tally()
    sources = sources_committed()
    reader = Reader.for_area(scan.area, scan.on, sources)
    # Written before any record is read: the reads are on the record even if the worker dies.
    audit_record(
        actor=scan.started_by,
        action="discovery.scan_source_query",
        obj=scan,
        reason="主动发现数据比对",
        data={"sources": [s.code for s in sources.found], "area": scan.area.code},
    )
    scratch = Path(tempfile.mkdtemp(prefix="scan-", dir=_scratch_root()))
    evaluated: list[pa.Table] = []
    read: dict = {}

    def meanwhile() -> None:
        # While DuckDB builds the export's rows: what households receive or applied for, what
        # they hold, the open leads and the catalogue, read from the database (the subtraction's
        # inputs). Leads and holdings are read again under their row locks when written.
        t, c = time.perf_counter(), time.thread_time()
        read["taken"] = taken_table(scan.area, scan.on)
        read["held"] = held_tables(scan.area, scan.on)
        read["leads"] = open_leads_table(scan.area)
        read["catalogue"] = Catalogue.read(reader)
        # Wall seconds, and the CPU seconds of this thread alone: the process's CPU over the
        # same time includes the export's DuckDB threads working beside it.
        tally.timings["read"] = round(time.perf_counter() - t, 3)
        tally.timings["cpu_read"] = round(time.thread_time() - c, 3)

    def evaluate(folder: Path, con) -> pa.Array:
        # Called by the export once its files are written, on its DuckDB connection: only the
        # households some programme finds need a fingerprint (the stamp of a candidate).
        t, c = time.perf_counter(), time.process_time()
        evaluated.append(evaluate_export(folder, on=scan.on, con=con))
        _step(tally, "evaluate", t, c)
        return pc.unique(evaluated[0].column("household_id"))

    try:
        t, c = time.perf_counter(), time.process_time()
        export = exporter()(reader, scan.area, scratch, fingerprints=True, select=evaluate, meanwhile=meanwhile)
        _step(tally, "export", t, c)
        # The export's time without the evaluation it called (the reads ran beside it and are
        # inside both its wall and its CPU seconds).
        for name in ("export", "cpu_export"):
            tally.timings[name] = round(tally.timings[name] - tally.timings[name.replace("export", "evaluate")], 3)
        for phase, (wall, cpu) in export.phases.items():
            tally.timings[f"export_{phase}"] = round(wall, 3)
            tally.timings[f"cpu_export_{phase}"] = round(cpu, 3)
        (wanted,) = evaluated
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    t, c = time.perf_counter(), time.process_time()
    catalogue = read["catalogue"]
    with ScanSets(int(getattr(settings, "EJIA_DISCOVERY_THREADS", 2))) as sets:
        compared = sets.compare(
            wanted=wanted,
            taken=read.pop("taken"),
            held=read.pop("held"),
            fingerprints=_fingerprint_table(export.fingerprints),
            leads=read.pop("leads"),
            base=catalogue.base,
        )
        export.fingerprints.clear()
        del wanted
        _step(tally, "subtract", t, c)
        tally.timings["explained_households"] = compared.todo.num_rows
        # Explain a chunk of households, write its findings, drop them, go on: a first run
        # never holds every finding (at full city 1.3 M leads, 4–5.5 GB as Python objects).
        # Each step's wall and CPU seconds are summed over the chunks. The vanished leads are
        # closed once every finding is written.
        writer = _Upsert(scan, compared.unchanged, tally, sets)
        chunks = _explain(reader, compared, catalogue)
        while True:
            t, c = time.perf_counter(), time.process_time()
            findings = next(chunks, None)
            _step(tally, "explain", t, c)
            if findings is None:
                break
            t, c = time.perf_counter(), time.process_time()
            writer.write(findings)
            del findings
            _step(tally, "upsert", t, c)
        t, c = time.perf_counter(), time.process_time()
        writer.finish()
        _step(tally, "upsert", t, c)
    tally.timings["total"] = round(time.perf_counter() - started, 3)
    # CPU seconds of this process (DuckDB's threads included): the wall time on a shared machine lies.
    tally.timings["cpu"] = round(time.process_time() - cpu, 3)
    tally.timings["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    by_programme = dict(
        Lead.objects.filter(
            status__in=OPEN_STATUSES, source=Lead.Source.SCAN, division__path__startswith=scan.area.path
        )
        .values_list("programme__code")
        .annotate(n=Count("pk"))
        .order_by("programme__code")
    )
    scan.status = ScanRun.Status.FINISHED
    scan.finished_at = timezone.now()
    scan.households = export.households
    scan.members = export.members
    scan.candidates = compared.candidates
    scan.leads_new, scan.leads_updated, scan.leads_closed = tally.new, tally.updated, tally.closed
    scan.leads_unchanged = tally.unchanged
    scan.timings = tally.timings
    scan.by_programme = by_programme
    scan.failed_sources = sources.failed_rows
    scan.save()
    audit_record(
        actor=scan.started_by,
        action="discovery.scan_finish",
        obj=scan,
        data={
            "households": scan.households,
            "new": tally.new,
            "updated": tally.updated,
            "unchanged": tally.unchanged,
            "closed": tally.closed,
        },
    )
    return scan


def _step(tally: Tally, name: str, wall: float, cpu: float) -> None:
    """A step's wall seconds (`name`) and this process's CPU seconds (`cpu_<name>`, DuckDB's
    threads included), from the perf_counter and process_time read when it (or this part of
    it) began; a step done in parts (explain and upsert, a chunk at a time) sums its parts."""
    for key, seconds in ((name, time.perf_counter() - wall), (f"cpu_{name}", time.process_time() - cpu)):
        tally.seconds[key] = tally.seconds.get(key, 0.0) + seconds
        tally.timings[key] = round(tally.seconds[key], 3)


def _scratch_root() -> Path:
    root = Path(settings.VAR_DIR) / "discovery"
    root.mkdir(parents=True, exist_ok=True)
    return root


def evaluate_export(folder: Path, *, on: dt.date, con=None) -> pa.Table:
    """(household_id, code, outcome) of every outcome worth a lead (`wanted_pairs`: "eligible"
    or "possibly_eligible" as the programme's discovery mode admits) of every programme in
    force on `on`, from the exported Parquet files, on DuckDB (two threads, as the bench): on
    `con` when given (the export's connection, under its memory cap), else its own."""
    import duckdb

    from ejia.catalogue.selectors import engine_for

    engine = engine_for(on)
    modes = discovery_modes()
    own = con is None
    if own:
        con = duckdb.connect()
        con.execute("SET threads TO ?", [int(getattr(settings, "EJIA_DISCOVERY_THREADS", 2))])
    tables = ("households", "members", "standards")
    try:
        for table in tables:
            con.read_parquet(str(folder / f"{table}.parquet")).create_view(table)
        result = engine.evaluate_bulk(con, on=on, amounts=())  # leads need outcomes only
    finally:
        if own:
            con.close()
        else:
            for table in tables:
                con.execute(f"DROP VIEW {table}")
    return wanted_pairs(result, {code: modes.get(code, Mode.LIKELY) for code in engine.programmes})


def discovery_modes() -> dict[str, str]:
    """{programme code: discovery mode} as the catalogue has them now."""
    return dict(Programme.objects.values_list("code", "discovery_mode"))


def outcomes_of(result, modes: dict[str, str]) -> dict[int, dict[str, str]]:
    """`wanted_pairs` of a bulk result (a pyarrow Table) by household, as Python objects (for a
    small result: the Spark parity check compares two)."""
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for row in wanted_pairs(result, modes).to_pylist():
        out[row["household_id"]][row["code"]] = row["outcome"]
    return dict(out)


def held_and_applied(
    household_ids: list[int] | None, on: dt.date, *, area: Division | None = None
) -> dict[int, set[str]]:
    """The programme codes each household receives (registry statuses, live entitlements) or
    has an open request for: of `household_ids`, or (None) of every household of `area` (the
    scan reads the same rows as one Arrow table, `sets.taken_table`)."""
    from ejia.cases.matching import STATUS_PROGRAMMES

    if household_ids is None:
        scope = Q(household__division__path__startswith=area.path)
    else:
        scope = Q(household_id__in=household_ids)
    out: dict[int, set[str]] = defaultdict(set)
    for i, queryset in enumerate(taken_querysets(scope, on)):
        for household_id, code in queryset:
            out[household_id].add(STATUS_PROGRAMMES[code] if i < 2 else code)
    return out


def _fingerprint_table(fingerprints: dict[int, bytes]) -> pa.Table:
    """(household_id, fingerprint) of the export's input fingerprints."""
    return pa.table(
        {
            "household_id": pa.array(list(fingerprints), pa.int64()),
            "fingerprint": pa.array(list(fingerprints.values()), pa.binary()),
        }
    )


@dataclass
class Catalogue:
    """What every household's explanation shares, read once a run."""

    engine: object
    combinations: list
    partners: dict[str, set[str]]
    programmes: dict[str, Programme]
    base: str  # catalogue_fingerprint, hex

    @classmethod
    def read(cls, reader: Reader) -> Catalogue:
        from ejia.catalogue.selectors import combinations_in_force, engine_for

        engine = engine_for(reader.on)
        combinations = combinations_in_force()
        partners: dict[str, set[str]] = defaultdict(set)
        for rule in combinations:
            partners[rule.programme].add(rule.other)
            partners[rule.other].add(rule.programme)
        return cls(
            engine=engine,
            combinations=combinations,
            partners=partners,
            programmes={p.code: p for p in Programme.objects.select_related("department")},
            base=catalogue_fingerprint(reader, engine, combinations).hex(),
        )


# Candidate households explained at a time: the reads of a chunk (engine inputs, holdings)
# are made together, and its findings are written before the next chunk is explained.
EXPLAIN_CHUNK = 2000
# The explain step's memo of criterion texts is emptied when it holds more texts than this:
# its keys include the values read (incomes, ages), so it grows with the households explained.
MEMO_TEXTS = 100_000


def _explain(reader: Reader, compared: Compared, catalogue: Catalogue) -> Iterator[list[Finding]]:
    """The findings of each candidate household to explain (`compared.todo`: those whose stamp
    or open leads changed, `ScanSets.compare`) through the plan builder, EXPLAIN_CHUNK
    households at a time: one list of findings per chunk. The plan is built on the candidate
    programmes and those the combination rules tie them to (what the family holds included):
    the same verdicts as the window's full plan for these programmes, without explaining the
    other sixty. Each finding carries `lead_fingerprint` of the household's stamp and of every
    programme its explanation found."""
    from ejia.cases.matching import holdings_by_household
    from ejia.catalogue.planning import build_plan
    from ejia.rules.errors import RuleError

    engine, programmes = catalogue.engine, catalogue.programmes
    # The criteria's texts, written once per criterion, result and values read (most
    # households share them: "年龄 82 岁 ≥ 80 ✔"), for this run's engine only.
    memo: dict = {}
    for todo in compared.chunks(EXPLAIN_CHUNK):
        part = [household_id for household_id, _, _ in todo]
        holdings = holdings_by_household(part, reader.on)
        inputs = engine_inputs(reader, part)
        households = Household.objects.only("pk", "division_id").in_bulk(part)  # all a finding reads
        findings: list[Finding] = []
        for household_id, stamp, codes in todo:
            item = inputs.get(household_id)
            if item is None:
                continue
            household = households[household_id]
            held = holdings[household_id]
            wanted = set(codes) | {h.code for h in held}
            for code in list(wanted):
                wanted |= catalogue.partners.get(code, set())
            try:
                results = engine.evaluate(item.input, on=reader.on, only=wanted, memo=memo)
            except RuleError:
                continue
            members = [PlanMember(ref, name) for ref, name in zip(item.refs, item.names, strict=True)]
            plan = build_plan(
                results={code: r for code, r in results.items() if code in wanted},
                on=reader.on,
                members=members,
                held=held,
                combinations=catalogue.combinations,
                programmes=programmes,
                # Labels and results only: a lead's reasons are those of its best entry, written
                # from the engine's criteria below (`_finding`), not every entry's.
                explained=(),
            )
            by_code: dict[str, list] = defaultdict(list)
            for entry in plan.entries:
                # The candidate programmes are already those it neither holds nor applied for.
                if (
                    entry.code in codes
                    and entry.outcome in OFFERED
                    and worth_a_visit(entry, programmes.get(entry.code))
                ):
                    by_code[entry.code].append(entry)
            found = [
                _finding(
                    household, item, programmes[code], engine.programmes[code], entries, plan.members, results[code]
                )
                for code, entries in by_code.items()
                if code in programmes and code in engine.programmes
            ]
            if stamp is not None:
                fingerprint = lead_fingerprint(stamp, [f.programme.code for f in found])
                for f in found:
                    f.fingerprint = fingerprint
            findings.extend(found)
        del todo, part, holdings, inputs, households
        if len(memo) > MEMO_TEXTS:
            memo.clear()
        yield findings


# Part of every stamp: a change to what the explain step writes into a lead (a new reason
# text, another fact shown) is a new value here, so the next scan explains every household again.
EXPLAIN_VERSION = "1"


def catalogue_fingerprint(reader: Reader, engine, combinations) -> bytes:
    """What every household's explanation shares: the fact catalogue, the rules in force (the
    engine's specs), the combination rules, the programmes as the plan and the discovery modes read them, the
    committed snapshots (their dates are in the facts' sources) and the standards table."""
    from ejia.catalogue.selectors import standards_table_rows

    rows = [
        sorted((k, v) for k, v in row.items() if k not in ("created_at", "updated_at"))
        for row in Programme.objects.order_by("code").values()
    ]
    payload = (
        EXPLAIN_VERSION,
        FACTS,  # the facts' labels, units and choices are shown in the reasons and facts
        engine.specs,
        sorted(combinations, key=repr),
        rows,
        [(s.code, s.kind, s.name, s.snapshot_id, s.as_of) for s in reader.sources.found],
        [a.code for a in reader.sources.failed],
        standards_table_rows(reader.on),
    )
    return hashlib.blake2b(repr(payload).encode(), digest_size=16).digest()


def worth_a_visit(entry, programme: Programme | None) -> bool:
    """Whether a plan entry is worth a visit under its programme's discovery mode: a likely
    entry unless the programme is never a lead; a possible one only where possible outcomes
    are leads, and only when some criterion is positively met (not merely "nothing is known")."""
    mode = programme.discovery_mode if programme is not None else Mode.NEVER
    if mode == Mode.NEVER:
        return False
    if entry.outcome == PlanOutcome.LIKELY:
        return True
    return mode == Mode.LIKELY_AND_POSSIBLE and any(c.result is True for c in entry.reasons)


def _finding(
    household: Household, item, programme: Programme, compiled, entries: list, members, result=None
) -> Finding:
    """The lead of one programme from its plan entries worth a visit. The reasons are the best
    entry's; given the engine's `result` of the programme they are written from its criteria
    (the entry's own when it is a member's), so a plan built without explanations will do."""
    best = min(entries, key=lambda e: 0 if e.outcome == PlanOutcome.LIKELY else 1)
    amounts = [e.amount_fen for e in entries if e.outcome == best.outcome]
    amount = None if any(a is None for a in amounts) else sum(amounts)
    persons = [{"ref": e.person, "name": e.person_name} for e in entries if e.person]
    if result is None:
        reasons = [
            {"label": c.label, "result": c.result, "explanation": c.explanation or c.sentence} for c in best.reasons
        ]
    else:
        reasons = [
            {
                "label": c.label,
                "result": _PASSED.get(c.result),
                "explanation": c.explanation or getattr(c, "sentence", ""),
            }
            for c in _criteria_of(best, result, members)
        ]
    return Finding(
        household_id=household.pk,
        division_id=household.division_id,
        programme=programme,
        likelihood=OFFERED[best.outcome],
        amount_fen=amount,
        persons=persons,
        reasons=reasons,
        facts=facts_behind(item, compiled, [p["ref"] for p in persons], members),
        unknown_labels=list(best.unknown_labels),
    )


_PASSED = {"pass": True, "fail": False}  # the engine's criterion result as the plan has it


def _criteria_of(entry, result, members) -> list:
    """The engine's criteria behind a plan entry worth a visit (`entries_from_result`): a
    member's entry has that member's, a household's the programme's."""
    if entry.person and result.members:
        index = next(i for i, m in enumerate(members) if m.ref == entry.person)
        return next(m for m in result.members if m.index == index).criteria
    return result.criteria


def facts_behind(item, programme, person_refs: list[str], members: tuple[PlanMember, ...]) -> list[dict]:
    """The facts the programme's criteria read (a CompiledProgramme), with their values and
    where each came from; for a member programme, those of the members it is for."""
    from ejia.rules.explain import fmt
    from ejia.rules.facts import is_money

    names: list[tuple[str, str]] = []
    for criterion in programme.criteria:
        for ref in criterion.refs:
            if ref.kind == "fact" and (ref.scope, ref.name) not in names:
                names.append((ref.scope, ref.name))
    names_by_ref = {m.ref: m.name for m in members}

    def row(name: str, who: str, value, provenance: str | None) -> dict:
        fact = FACTS[name]
        if value is None:
            shown = "未知"
        elif fact.type == "enum":
            shown = dict(fact.choices).get(value, str(value))
        else:
            shown = fmt(value, is_money=is_money(fact))
        return {"label": fact.label, "who": who, "value": shown, "source": _source_label(provenance)}

    rows = []
    for scope, name in names:
        fact = FACTS.get(name)
        if fact is None or fact.derived:
            continue
        if scope == "member":
            for ref in person_refs or list(item.refs):
                if ref in item.refs:
                    value = item.members[item.refs.index(ref)].get(name)
                    rows.append(row(name, names_by_ref.get(ref, ""), value, item.provenance.get((ref, name))))
        else:
            rows.append(row(name, "", item.household.get(name), item.provenance.get(("", name))))
    return rows


def _source_label(provenance: str | None) -> str:
    if not provenance:
        return "无数据"
    if provenance == "registry":
        return "救助对象库登记"
    if provenance == "declared":
        return "申报"
    return "部门数据：" + provenance.removeprefix("verified:").strip()


# Findings written per transaction (their households' open leads locked, the new ones copied in).
UPSERT_BATCH = 500


class _Upsert:
    """Writes a run's findings as the explain step hands them over, UPSERT_BATCH per
    transaction (a remainder waits for the next findings), and closes the vanished leads once
    every finding is written (`finish`). Of the findings it keeps only the (household,
    programme) pairs the closes need, as two integer arrays."""

    def __init__(self, scan: ScanRun, unchanged: pa.Table, tally: Tally, sets: ScanSets) -> None:
        self.scan, self.tally, self.sets = scan, tally, sets
        self.now = timezone.now()
        self.pending: list[Finding] = []
        self.households, self.programmes = array("q"), array("q")
        # Leads whose household was not explained again are not written at all: they keep the
        # run that explained them (`last_run`), and that this run found them again follows from
        # their staying open after it finished (`selectors.lead_last_found`). A row write per
        # lead cost PostgreSQL 56 µs a lead, 7 minutes for the full city's leads.
        tally.updated += len(unchanged)
        tally.unchanged += len(unchanged)

    def write(self, findings: list[Finding]) -> None:
        """Write `findings` in batches of UPSERT_BATCH; keep the remainder for the next call."""
        for f in findings:
            self.households.append(f.household_id)
            self.programmes.append(f.programme.pk)
        pending = self.pending + findings if self.pending else findings
        full = len(pending) - len(pending) % UPSERT_BATCH
        for start in range(0, full, UPSERT_BATCH):
            self._batch(pending[start : start + UPSERT_BATCH])
        self.pending = pending[full:]

    def finish(self) -> None:
        """Write what is left, then close the open leads this run did not find again."""
        if self.pending:
            self._batch(self.pending)
            self.pending = []
        found = pa.table(
            {
                "household_id": pa.array(np.frombuffer(self.households, dtype=np.int64), pa.int64()),
                "programme_id": pa.array(np.frombuffer(self.programmes, dtype=np.int64), pa.int64()),
            }
        )
        _close_vanished(self.scan, self.sets.vanished(found), self.tally)

    def _batch(self, part: list[Finding]) -> None:
        scan, tally, now = self.scan, self.tally, self.now
        household_ids = {f.household_id for f in part}
        with transaction.atomic():
            current = {
                (lead.household_id, lead.programme_id): lead
                for lead in Lead.objects.select_for_update()
                .filter(household_id__in=household_ids, status__in=OPEN_STATUSES)
                .order_by("pk")
            }
            recent = Q()
            for status, days in COOL_OFF.items():
                recent |= Q(status=status, closed_at__gte=now - days)
            cooling = set(
                Lead.objects.filter(recent, household_id__in=household_ids).values_list("household_id", "programme_id")
            )
            new, changed, same = [], [], []
            for f in part:
                key = (f.household_id, f.programme.pk)
                lead = current.get(key)
                if lead is None:
                    if key in cooling:
                        continue
                    new.append(
                        {
                            "source": Lead.Source.SCAN,
                            "division_id": f.division_id,
                            "household_id": f.household_id,
                            "programme_id": f.programme.pk,
                            "first_run_id": scan.pk,
                            "last_run_id": scan.pk,
                            **_fields(f),
                        }
                    )
                    continue
                fields = _fields(f)
                if all(getattr(lead, name) == value for name, value in fields.items()):
                    same.append(lead.pk)
                    continue
                for name, value in fields.items():
                    setattr(lead, name, value)
                lead.last_run = scan
                lead.updated_at = now
                changed.append(lead)
            _insert(new, now)
            _rewrite(changed, [*_FIELDS, "last_run", "updated_at"])
            Lead.objects.filter(pk__in=same).update(last_run=scan, updated_at=now)
            tally.new += len(new)
            tally.updated += len(changed) + len(same)
            tally.unchanged += len(same)


def _insert(rows: list[dict], now: dt.datetime) -> None:
    """Create the new leads (`rows`: {field attname: value}; every other field takes its
    default). On PostgreSQL one `COPY … FROM STDIN` of the rows in text format: Django's
    `bulk_create` sends each column as an array (UNNEST), and psycopg escaped every JSON text
    of the arrays by a regular expression per character — 70 % of the upsert's CPU on a first
    run. Elsewhere (SQLite) `bulk_create`. The partial unique index still refuses a second open
    lead of a (household, programme), so a concurrent writer fails the batch either way."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        Lead.objects.bulk_create([Lead(**row) for row in rows])
        return
    fields = [f for f in Lead._meta.concrete_fields if not f.primary_key]
    fixed: dict[str, str] = {}
    for f in fields:
        if f.attname in ("public_id",) or f.attname in rows[0]:
            continue
        fixed[f.attname] = _copy_text(f, now if f.attname in ("created_at", "updated_at") else f.get_default())
    lines = []
    for row in rows:
        cells = []
        for f in fields:
            name = f.attname
            if name == "public_id":
                cells.append(str(uuid.uuid4()))
            elif name in fixed:
                cells.append(fixed[name])
            else:
                cells.append(_copy_text(f, row[name]))
        lines.append("\t".join(cells))
    quote = connection.ops.quote_name
    # Only the model's own table and column names go into the statement; the rows are data.
    sql = f"COPY {quote(Lead._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        copy.write("\n".join(lines) + "\n")


# COPY's text format: a backslash, tab, newline or carriage return inside a value is escaped.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(field, value) -> str:
    """One value of a Lead column in COPY's text format (\\N for NULL)."""
    if value is None:
        return "\\N"
    if isinstance(field, models.JSONField):
        # JSON text holds no raw tab, newline or carriage return (they are escaped as \\t …),
        # only backslashes to double.
        return json.dumps(value, ensure_ascii=False, cls=field.encoder).replace("\\", "\\\\")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dt.datetime):
        text = value.isoformat()
    elif isinstance(value, bool):
        text = "t" if value else "f"
    else:
        text = str(value)
    return text.translate(_COPY_ESCAPES)


def _rewrite(leads: list[Lead], names: list[str]) -> None:
    """Write `names` of each lead, one plain UPDATE per row sent as one batch (psycopg pipelines
    it); Django's bulk_update builds a CASE per field and row, which costs more than the write."""
    if not leads:
        return
    quote = connection.ops.quote_name
    fields = [Lead._meta.get_field(name) for name in names]
    # Only the model's own table and column names go into the text; every value is a parameter.
    table, sets, pk = quote(Lead._meta.db_table), ", ".join(f"{quote(f.column)} = %s" for f in fields), quote("id")
    sql = f"UPDATE {table} SET {sets} WHERE {pk} = %s"  # noqa: S608
    rows = [[f.get_db_prep_save(getattr(lead, f.attname), connection) for f in fields] + [lead.pk] for lead in leads]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


_FIELDS = ("likelihood", "amount_fen", "persons", "reasons", "facts", "unknown_labels", "fingerprint")


def _fields(f: Finding) -> dict:
    return {
        "likelihood": f.likelihood,
        "amount_fen": f.amount_fen,
        "persons": f.persons,
        "reasons": f.reasons,
        "facts": f.facts,
        "unknown_labels": f.unknown_labels,
        "fingerprint": f.fingerprint,
    }


def _close_vanished(scan: ScanRun, stale: list[int], tally: Tally) -> None:
    """Close the area's open scan leads this run did not find again (`stale`, `ScanSets.vanished`:
    neither left as they were nor found by an explanation): the reason went away (the family
    now receives it, applied for it, or the facts changed). Only the closes do work per lead."""
    now = timezone.now()
    for start in range(0, len(stale), 500):
        with transaction.atomic():
            locked = (
                Lead.objects.select_for_update(of=("self",))
                .select_related("programme")
                .filter(pk__in=stale[start : start + 500])
                .order_by("pk")
            )
            for lead in locked:
                if not lead.is_open:
                    continue  # a visit closed it meanwhile
                why = _lapse_reason(lead)
                lead.status = LeadStatus.LAPSED
                lead.closed_at = now
                lead.close_reason = why
                lead.save(update_fields=["status", "closed_at", "close_reason", "updated_at"])
                audit_record(
                    actor=scan.started_by,
                    action="discovery.lead_lapse",
                    obj=lead,
                    reason="主动发现比对：线索原因已消失",
                    data={"scan": str(scan.public_id), "why": why},
                )
                tally.closed += 1


def _lapse_reason(lead: Lead) -> str:
    """Why the scan closed the lead: the programme's discovery mode no longer admits it (set in
    the catalogue editor), or the family's situation changed."""
    mode = lead.programme.discovery_mode if lead.programme_id else Mode.LIKELY
    if mode == Mode.NEVER:
        return "该项目已设为不列主动发现线索（项目维护），本线索自动关闭。"
    if mode == Mode.LIKELY and lead.likelihood == Lead.Likelihood.POSSIBLE:
        return "该项目已改为只列“可能符合”的家庭，需要核实的线索自动关闭。"
    return "再次比对时已不再符合发现条件（已享受、已申请或情况变化）。"
