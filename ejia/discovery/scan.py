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
import logging
import resource
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.catalogue.models import Programme
from ejia.catalogue.plan import PlanMember, PlanOutcome
from ejia.core.audit import audit_record
from ejia.discovery.export import Reader, engine_inputs, exporter, sources_committed
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus, ScanRun
from ejia.registry.models import Household, HouseholdStatus, MemberStatus
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
    try:
        t = time.perf_counter()
        export = exporter()(reader, scan.area, scratch, fingerprints=True)
        tally.timings["export"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        outcomes = evaluate_export(export.folder, on=scan.on)
        tally.timings["evaluate"] = round(time.perf_counter() - t, 3)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    t = time.perf_counter()
    candidates = _subtract(outcomes, scan.area, scan.on)
    findings, unchanged = _explain(reader, candidates, fingerprints=export.fingerprints)
    export.fingerprints.clear()
    tally.timings["explain"] = round(time.perf_counter() - t, 3)
    tally.timings["explained_households"] = len(candidates) - len({h for _, h, _ in unchanged})
    t = time.perf_counter()
    _upsert(scan, findings, unchanged, tally)
    tally.timings["upsert"] = round(time.perf_counter() - t, 3)
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
    scan.candidates = len(candidates)
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


def _scratch_root() -> Path:
    root = Path(settings.VAR_DIR) / "discovery"
    root.mkdir(parents=True, exist_ok=True)
    return root


def evaluate_export(folder: Path, *, on: dt.date) -> dict[int, dict[str, str]]:
    """{household pk: {programme code: "eligible" | "possibly_eligible"}} for every programme in
    force on `on`, from the exported Parquet files, on DuckDB (two threads, as the bench)."""
    import duckdb

    from ejia.catalogue.selectors import engine_for

    engine = engine_for(on)
    modes = discovery_modes()
    con = duckdb.connect()
    try:
        con.execute("SET threads TO ?", [int(getattr(settings, "EJIA_DISCOVERY_THREADS", 2))])
        for table in ("households", "members", "standards"):
            con.read_parquet(str(folder / f"{table}.parquet")).create_view(table)
        result = engine.evaluate_bulk(con, on=on, amounts=())  # leads need outcomes only
    finally:
        con.close()
    return outcomes_of(result, {code: modes.get(code, Mode.LIKELY) for code in engine.programmes})


def discovery_modes() -> dict[str, str]:
    """{programme code: discovery mode} as the catalogue has them now."""
    return dict(Programme.objects.values_list("code", "discovery_mode"))


def outcomes_of(result, modes: dict[str, str]) -> dict[int, dict[str, str]]:
    """The outcomes of a bulk result (a pyarrow Table) worth a lead, by household: for each
    programme of `modes` (code → discovery mode), "eligible" unless the programme is never a
    lead, "possibly_eligible" only where possible outcomes are leads too."""
    ids = result.column("household_id").to_pylist()
    out: dict[int, dict[str, str]] = defaultdict(dict)
    for code, mode in modes.items():
        if mode == Mode.NEVER:
            continue
        wanted = {"eligible", "possibly_eligible"} if mode == Mode.LIKELY_AND_POSSIBLE else {"eligible"}
        for household_id, outcome in zip(ids, result.column(f"{code}__outcome").to_pylist(), strict=True):
            if outcome in wanted:
                out[household_id][code] = outcome
    return dict(out)


def held_and_applied(
    household_ids: list[int] | None, on: dt.date, *, area: Division | None = None
) -> dict[int, set[str]]:
    """The programme codes each household receives (registry statuses, live entitlements) or
    has an open request for: of `household_ids`, or (None) of every household of `area`, read
    set-based for the whole area."""
    from ejia.cases.matching import STATUS_PROGRAMMES
    from ejia.cases.models import ProgrammeRequest
    from ejia.disbursement.models import Entitlement

    if household_ids is None:
        scope = Q(household__division__path__startswith=area.path)
    else:
        scope = Q(household_id__in=household_ids)
    current = Q(start__lte=on) & (Q(end__isnull=True) | Q(end__gte=on))
    out: dict[int, set[str]] = defaultdict(set)
    for model in (HouseholdStatus, MemberStatus):
        for household_id, kind in model.objects.filter(current, scope).values_list("household_id", "kind"):
            if kind in STATUS_PROGRAMMES:
                out[household_id].add(STATUS_PROGRAMMES[kind])
    month = on.replace(day=1)
    for household_id, code in (
        Entitlement.objects.filter(scope, status__in=LIVE_ENTITLEMENT, start_month__lte=month)
        .filter(Q(end_month__isnull=True) | Q(end_month__gte=month))
        .values_list("household_id", "programme__code")
    ):
        out[household_id].add(code)
    for household_id, code in ProgrammeRequest.objects.filter(scope, is_open=True).values_list(
        "household_id", "programme__code"
    ):
        out[household_id].add(code)
    return out


def _subtract(outcomes: dict[int, dict[str, str]], area: Division, on: dt.date) -> dict[int, set[str]]:
    taken = held_and_applied(None, on, area=area)
    out = {}
    for household_id, codes in outcomes.items():
        left = set(codes) - taken.get(household_id, set())
        if left:
            out[household_id] = left
    return out


def _explain(
    reader: Reader, candidates: dict[int, set[str]], *, fingerprints: dict[int, bytes] | None = None, chunk: int = 500
) -> tuple[list[Finding], list[tuple[int, int, int]]]:
    """Each candidate household through the plan builder. The plan is built on the candidate
    programmes and those the combination rules tie them to (what the family holds included):
    the same verdicts as the window's full plan for these programmes, without explaining the
    other sixty.

    Incremental: a household whose open leads were all explained from the same stamp (its
    export fingerprint, what it holds and applied for, its candidate programmes, the catalogue
    and snapshots in force) and name exactly the programmes that explanation found would come
    out identical, so it is not explained again. Returns the findings of the households
    explained, and (lead pk, household pk, programme pk) of the open leads left as they are."""
    from ejia.cases.matching import holdings_by_household
    from ejia.catalogue.planning import build_plan
    from ejia.catalogue.selectors import combinations_in_force, engine_for
    from ejia.rules.errors import RuleError

    engine = engine_for(reader.on)
    combinations = combinations_in_force()
    partners: dict[str, set[str]] = defaultdict(set)
    for rule in combinations:
        partners[rule.programme].add(rule.other)
        partners[rule.other].add(rule.programme)
    programmes = {p.code: p for p in Programme.objects.select_related("department")}
    base = catalogue_fingerprint(reader, engine, combinations)
    fingerprints = fingerprints or {}
    ids = sorted(candidates)
    findings: list[Finding] = []
    unchanged: list[tuple[int, int, int]] = []
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        taken = held_and_applied(part, reader.on)
        holdings = holdings_by_household(part, reader.on)
        stamps = {
            h: household_stamp(base, fingerprints[h], holdings[h], taken.get(h, set()), candidates[h])
            for h in part
            if h in fingerprints
        }
        open_leads: dict[int, list[tuple[int, int, str, str]]] = defaultdict(list)
        for pk, household_id, programme_id, code, stored in Lead.objects.filter(
            source=Lead.Source.SCAN, status__in=OPEN_STATUSES, household_id__in=part
        ).values_list("pk", "household_id", "programme_id", "programme__code", "fingerprint"):
            open_leads[household_id].append((pk, programme_id, code, stored))
        todo = []
        for household_id in part:
            leads, stamp = open_leads.get(household_id), stamps.get(household_id)
            if leads and stamp is not None:
                expected = lead_fingerprint(stamp, [code for _, _, code, _ in leads])
                if all(stored == expected for *_, stored in leads):
                    unchanged.extend((pk, household_id, programme_id) for pk, programme_id, _, _ in leads)
                    continue
            todo.append(household_id)
        if not todo:
            continue
        inputs = engine_inputs(reader, todo)
        households = Household.objects.in_bulk(todo)
        for household_id in todo:
            item = inputs.get(household_id)
            if item is None:
                continue
            household = households[household_id]
            held = holdings[household_id]
            wanted = set(candidates[household_id]) | {h.code for h in held}
            for code in list(wanted):
                wanted |= partners.get(code, set())
            try:
                results = engine.evaluate(item.input, on=reader.on, only=wanted)
            except RuleError:
                continue
            members = [PlanMember(ref, name) for ref, name in zip(item.refs, item.names, strict=True)]
            plan = build_plan(
                results={code: r for code, r in results.items() if code in wanted},
                on=reader.on,
                members=members,
                held=held,
                combinations=combinations,
                programmes=programmes,
            )
            by_code: dict[str, list] = defaultdict(list)
            for entry in plan.entries:
                if (
                    entry.code in candidates[household_id]
                    and entry.outcome in OFFERED
                    and entry.code not in taken.get(household_id, set())
                    and worth_a_visit(entry, programmes.get(entry.code))
                ):
                    by_code[entry.code].append(entry)
            found = [
                _finding(household, item, programmes[code], engine.programmes[code], entries, plan.members)
                for code, entries in by_code.items()
                if code in programmes and code in engine.programmes
            ]
            stamp = stamps.get(household_id)
            if stamp is not None:
                fingerprint = lead_fingerprint(stamp, [f.programme.code for f in found])
                for f in found:
                    f.fingerprint = fingerprint
            findings.extend(found)
    return findings, unchanged


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


def household_stamp(base: bytes, fingerprint: bytes, held: list, taken: set[str], codes: set[str]) -> bytes:
    """One household's stamp: the catalogue's, its export fingerprint (`input_fingerprint`),
    what it holds and applied for, and its candidate programmes."""
    payload = (sorted(map(repr, held)), sorted(taken), sorted(codes))
    return hashlib.blake2b(base + fingerprint + repr(payload).encode(), digest_size=16).digest()


def lead_fingerprint(stamp: bytes, codes) -> str:
    """What a household's open leads remember: the stamp they were explained from and every
    programme that explanation found (a lead closed by a visit since then no longer matches)."""
    return hashlib.blake2b(stamp + "|".join(sorted(codes)).encode(), digest_size=16).hexdigest()


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


def _finding(household: Household, item, programme: Programme, compiled, entries: list, members) -> Finding:
    best = min(entries, key=lambda e: 0 if e.outcome == PlanOutcome.LIKELY else 1)
    amounts = [e.amount_fen for e in entries if e.outcome == best.outcome]
    amount = None if any(a is None for a in amounts) else sum(amounts)
    persons = [{"ref": e.person, "name": e.person_name} for e in entries if e.person]
    reasons = [{"label": c.label, "result": c.result, "explanation": c.explanation or c.sentence} for c in best.reasons]
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


def _upsert(scan: ScanRun, findings: list[Finding], unchanged: list[tuple[int, int, int]], tally: Tally) -> None:
    now = timezone.now()
    seen: set[tuple[int, int]] = set()
    # Leads whose household was not explained again: only stamped with this run, in SQL (a lead
    # a visit closed meanwhile is left as the visit left it).
    for start in range(0, len(unchanged), 900):
        part = unchanged[start : start + 900]
        seen.update((household_id, programme_id) for _, household_id, programme_id in part)
        touched = Lead.objects.filter(pk__in=[pk for pk, _, _ in part], status__in=OPEN_STATUSES).update(
            last_run=scan, updated_at=now
        )
        tally.updated += touched
        tally.unchanged += touched
    for start in range(0, len(findings), 500):
        part = findings[start : start + 500]
        keys = {(f.household_id, f.programme.pk) for f in part}
        household_ids = {h for h, _ in keys}
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
                seen.add(key)
                lead = current.get(key)
                if lead is None:
                    if key in cooling:
                        continue
                    new.append(
                        Lead(
                            source=Lead.Source.SCAN,
                            division_id=f.division_id,
                            household_id=f.household_id,
                            programme=f.programme,
                            first_run=scan,
                            last_run=scan,
                            **_fields(f),
                        )
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
            Lead.objects.bulk_create(new)
            _rewrite(changed, [*_FIELDS, "last_run", "updated_at"])
            Lead.objects.filter(pk__in=same).update(last_run=scan, updated_at=now)
            tally.new += len(new)
            tally.updated += len(changed) + len(same)
            tally.unchanged += len(same)
    _close_vanished(scan, seen, tally)


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


def _close_vanished(scan: ScanRun, seen: set[tuple[int, int]], tally: Tally) -> None:
    """Close the area's open scan leads this run did not find again: the reason went away (the
    family now receives it, applied for it, or the facts changed)."""
    stale = [
        pk
        for pk, household_id, programme_id in Lead.objects.filter(
            source=Lead.Source.SCAN, status__in=OPEN_STATUSES, division__path__startswith=scan.area.path
        ).values_list("pk", "household_id", "programme_id")
        if (household_id, programme_id) not in seen
    ]
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
