"""影响测算 (what-if): a draft version of a programme against the version in force, on the live
caseload, before it is published.

The caseload is the discovery export (`export.py`): the registry and the latest committed
department snapshots of the whole city, as Parquet, with the facts a window would see. An
export is kept and reused while it describes the same day and the same committed snapshots
(`shared_export`); the result page says when it was written, so a registry edit made since
is visibly not included. The editor's live count reads the same export (`latest_export`).

The version in force and the draft (under another code) are compiled into one statement and
evaluated in one DuckDB pass over the same files; the per-household diff (eligible before and
after, the monthly amount before and after) is taken in the same connection, and only the
households that change are summed by county and township.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import logging
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.catalogue.models import Programme, ProgrammeVersion
from ejia.core.audit import audit_record
from ejia.discovery.export import Reader, exporter, sources_committed
from ejia.discovery.models import WhatIfRun
from ejia.registry.models import Household
from ejia.rules.spec import ProgrammeSpec

logger = logging.getLogger(__name__)

DRAFT_CODE = "whatif_draft"
# Exports kept on disk besides the newest (a run still reading one is not pulled away).
KEEP_EXPORTS = 2


class WhatIfRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# ---------------------------------------------------------------- the shared export


@dataclass(frozen=True)
class SharedExport:
    folder: Path
    written_at: dt.datetime
    households: int
    members: int
    snapshots: list[dict]
    reused: bool = False

    @property
    def households_path(self) -> Path:
        return self.folder / "households.parquet"

    @property
    def members_path(self) -> Path:
        return self.folder / "members.parquet"

    @property
    def standards_path(self) -> Path:
        return self.folder / "standards.parquet"


def _exports_root() -> Path:
    root = Path(settings.VAR_DIR) / "discovery" / "exports"
    root.mkdir(parents=True, exist_ok=True)
    return root


def city_area() -> Division | None:
    return Division.objects.filter(level=Division.Level.CITY).order_by("code").first()


def _read_meta(folder: Path) -> SharedExport | None:
    meta = folder / "meta.json"
    if not meta.exists():
        return None
    data = json.loads(meta.read_text("utf-8"))
    return SharedExport(
        folder=folder,
        written_at=dt.datetime.fromisoformat(data["written_at"]),
        households=data["households"],
        members=data["members"],
        snapshots=data["snapshots"],
    )


def latest_export() -> SharedExport | None:
    """The newest complete export of the city, if any."""
    found = [e for e in (_read_meta(f) for f in _exports_root().iterdir() if f.is_dir()) if e is not None]
    return max(found, key=lambda e: e.written_at) if found else None


def shared_export(on: dt.date) -> SharedExport:
    """The city's export for `on` and the snapshots committed now: reused when one was written
    for the same day and the same snapshots, written (under a file lock, so two runs never
    export twice at once) otherwise."""
    area = city_area()
    if area is None:
        raise WhatIfRefused("尚未导入行政区划，无法测算。")
    sources = sources_committed()
    stamp = ",".join(f"{s.code}:{s.snapshot_id}" for s in sources.found)
    key = f"{area.code}-{on.isoformat()}-{hashlib.sha256(stamp.encode()).hexdigest()[:12]}"
    root = _exports_root()
    folder = root / key
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            found = _read_meta(folder)
            if found is not None:
                return SharedExport(**{**found.__dict__, "reused": True})
            shutil.rmtree(folder, ignore_errors=True)
            reader = Reader.for_area(area, on, sources)
            written = exporter()(reader, area, folder)
            snapshots = [{"code": s.code, "name": s.name, "as_of": s.as_of} for s in sources.found]
            now = timezone.now()
            (folder / "meta.json").write_text(
                json.dumps(
                    {
                        "written_at": now.isoformat(),
                        "households": written.households,
                        "members": written.members,
                        "snapshots": snapshots,
                    },
                    ensure_ascii=False,
                ),
                "utf-8",
            )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _prune(root, keep=folder)
    return SharedExport(folder, now, written.households, written.members, snapshots)


def _prune(root: Path, *, keep: Path) -> None:
    exports = sorted(
        (e for e in (_read_meta(f) for f in root.iterdir() if f.is_dir() and f != keep) if e is not None),
        key=lambda e: e.written_at,
        reverse=True,
    )
    for old in exports[KEEP_EXPORTS:]:
        shutil.rmtree(old.folder, ignore_errors=True)
        (root / f"{old.folder.name}.lock").unlink(missing_ok=True)


# ---------------------------------------------------------------- start and run


def whatif_start(*, actor, version: ProgrammeVersion, on: dt.date | None = None, run: bool = True) -> WhatIfRun:
    """Record a what-if of a saved draft and queue it. The caller has decided that `actor`
    maintains the programme (catalogue policy)."""
    if version.is_published:
        raise WhatIfRefused("只能测算尚未发布的草稿。")
    with transaction.atomic():
        item = WhatIfRun.objects.create(
            programme=version.programme,
            version=version,
            version_updated_at=version.updated_at,
            on=on or timezone.localdate(),
            requested_by=actor,
        )
        audit_record(
            actor=actor,
            action="catalogue.whatif_start",
            obj=item,
            reason="草稿发布前影响测算",
            data={"programme": version.programme.code, "version": version.number, "on": item.on.isoformat()},
        )
    if run:
        from ejia.discovery.tasks import run_whatif

        run_whatif.enqueue(item.pk)
    return item


def whatif_run(*, run_id: int) -> WhatIfRun:
    """Run a recorded what-if (the task calls this); a run already started is left alone."""
    with transaction.atomic():
        item = WhatIfRun.objects.select_for_update(of=("self",)).get(pk=run_id)
        if item.status != WhatIfRun.Status.QUEUED:
            return item
        item.status = WhatIfRun.Status.RUNNING
        item.started_at = timezone.now()
        item.save(update_fields=["status", "started_at", "updated_at"])
    try:
        return _run(item)
    except Exception as exc:
        logger.exception("what-if %s failed", item.pk)
        message = exc.message if isinstance(exc, WhatIfRefused) else f"测算时出错（{type(exc).__name__}），请重试。"
        WhatIfRun.objects.filter(pk=item.pk).update(
            status=WhatIfRun.Status.FAILED, finished_at=timezone.now(), error=message[:300], updated_at=timezone.now()
        )
        if isinstance(exc, WhatIfRefused):
            item.refresh_from_db()
            return item
        raise


def _run(item: WhatIfRun) -> WhatIfRun:
    from ejia.catalogue.selectors import programme_current_version, version_spec

    started = time.perf_counter()
    programme = Programme.objects.select_related("department").get(pk=item.programme_id)
    version = ProgrammeVersion.objects.get(pk=item.version_id)
    current = programme_current_version(programme, on=item.on)
    export = shared_export(item.on)
    t_export = time.perf_counter() - started
    t = time.perf_counter()
    changes, totals = diff_export(
        export,
        published=version_spec(programme, current) if current else None,
        draft=version_spec(programme, version),
        on=item.on,
    )
    t_evaluate = time.perf_counter() - t
    t = time.perf_counter()
    counties = by_area(changes)
    item.result = {
        "households": export.households,
        "before": totals["before"],
        "after": totals["after"],
        "totals": _sum(counties),
        "counties": counties,
        "snapshots": export.snapshots,
        "published_version": current.number if current else None,
    }
    item.status = WhatIfRun.Status.FINISHED
    item.finished_at = timezone.now()
    item.export_at = export.written_at
    item.export_reused = export.reused
    item.timings = {
        "export": round(t_export, 3),
        "evaluate": round(t_evaluate, 3),
        "diff": round(time.perf_counter() - t, 3),
        "total": round(time.perf_counter() - started, 3),
    }
    with transaction.atomic():
        item.save()
        audit_record(
            actor=item.requested_by,
            action="catalogue.whatif_finish",
            obj=item,
            data={"programme": programme.code, "version": version.number, "totals": item.result["totals"]},
        )
    return item


# ---------------------------------------------------------------- the evaluation and the diff


@dataclass(frozen=True)
class Change:
    household_id: int
    before: bool
    after: bool
    before_fen: int
    after_fen: int

    @property
    def delta_fen(self) -> int:
        return self.after_fen - self.before_fen


def diff_export(
    export,
    *,
    published: ProgrammeSpec | None,
    draft: ProgrammeSpec,
    on: dt.date,
    in_force: list[ProgrammeSpec] | None = None,
) -> tuple[list[Change], dict[str, int]]:
    """The households whose eligibility or monthly amount differs between the version in force
    and the draft, over an export; and the eligible households before and after. One statement,
    one pass: the draft runs under DRAFT_CODE beside the published version and its dependencies.
    `in_force` replaces the catalogue's programmes in force (the benchmark, without a database)."""
    import duckdb

    from ejia.catalogue.selectors import published_specs, with_dependencies
    from ejia.rules import Engine

    specs = {s.code: s for s in (in_force if in_force is not None else published_specs(on))}
    renamed = ProgrammeSpec(
        code=DRAFT_CODE,
        name=draft.name,
        target=draft.target,
        criteria=draft.criteria,
        amount=draft.amount,
        department=draft.department,
    )
    wanted = {s.code: s for s in with_dependencies(renamed, specs)}
    if published is not None:
        wanted.update({s.code: s for s in with_dependencies(published, specs)})
    engine = Engine(list(wanted.values()))
    con = duckdb.connect()
    try:
        con.execute("SET threads TO ?", [int(getattr(settings, "EJIA_DISCOVERY_THREADS", 2))])
        con.read_parquet(str(export.households_path)).create_view("households")
        con.read_parquet(str(export.members_path)).create_view("members")
        con.read_parquet(str(export.standards_path)).create_view("standards")
        compared = [DRAFT_CODE] + ([published.code] if published is not None else [])
        result = engine.evaluate_bulk(con, on=on, amounts=compared)
        con.register("outcomes", result)

        def side(code: str | None) -> tuple[str, str]:
            if code is None:
                return "FALSE", "0"
            ok = f"coalesce(\"{code}__outcome\" = 'eligible', FALSE)"
            return ok, f'CASE WHEN {ok} THEN coalesce("{code}__amount_fen", 0) ELSE 0 END'

        b_ok, b_fen = side(published.code if published else None)
        a_ok, a_fen = side(DRAFT_CODE)
        before, after = con.execute(
            f"SELECT count(*) FILTER ({b_ok}), count(*) FILTER ({a_ok}) FROM outcomes"  # noqa: S608
        ).fetchone()
        rows = con.execute(
            f"SELECT household_id, b_ok, a_ok, b_fen, a_fen FROM ("  # noqa: S608
            f"SELECT household_id, {b_ok} AS b_ok, {a_ok} AS a_ok, {b_fen} AS b_fen, {a_fen} AS a_fen FROM outcomes"
            ") WHERE b_ok <> a_ok OR b_fen <> a_fen ORDER BY household_id"
        ).fetchall()
    finally:
        con.close()
    return [Change(int(h), bool(b), bool(a), int(bf), int(af)) for h, b, a, bf, af in rows], {
        "before": int(before),
        "after": int(after),
    }


def _empty() -> dict[str, int]:
    return {"gained": 0, "lost": 0, "changed": 0, "gained_fen": 0, "lost_fen": 0}


def _add(row: dict, change: Change) -> None:
    if change.after and not change.before:
        row["gained"] += 1
    elif change.before and not change.after:
        row["lost"] += 1
    else:
        row["changed"] += 1
    if change.delta_fen > 0:
        row["gained_fen"] += change.delta_fen
    else:
        row["lost_fen"] += -change.delta_fen


def _sum(rows: list[dict]) -> dict[str, int]:
    out = _empty()
    for row in rows:
        for name in out:
            out[name] += row[name]
    return out


def by_area(changes: list[Change]) -> list[dict]:
    """The changes summed by township, townships under their county: households gained (now
    eligible), lost (no longer eligible), changed (eligible both times, another amount), and
    the monthly money gained and lost in fen."""
    village_of: dict[int, int] = {}
    ids = [c.household_id for c in changes]
    for start in range(0, len(ids), 5000):
        village_of.update(Household.objects.filter(pk__in=ids[start : start + 5000]).values_list("pk", "division_id"))
    divisions = {
        d.pk: d
        for d in Division.objects.filter(
            level__in=[Division.Level.COUNTY, Division.Level.TOWNSHIP, Division.Level.VILLAGE]
        )
    }
    townships: dict[int, dict] = defaultdict(_empty)
    for change in changes:
        village = divisions.get(village_of.get(change.household_id))
        township_id = (
            village.parent_id if village and village.level == Division.Level.VILLAGE else (village.pk if village else 0)
        )
        _add(townships[township_id], change)
    counties: dict[int, list[dict]] = defaultdict(list)
    for township_id, row in townships.items():
        township = divisions.get(township_id)
        county_id = township.parent_id if township else 0
        counties[county_id].append(
            {"code": township.code if township else "", "name": township.name if township else "（未知）", **row}
        )
    out = []
    for county_id, rows in counties.items():
        county = divisions.get(county_id)
        rows.sort(key=lambda r: r["code"])
        out.append(
            {
                "code": county.code if county else "",
                "name": county.name if county else "（未知）",
                **_sum(rows),
                "townships": rows,
            }
        )
    out.sort(key=lambda r: r["code"])
    return out
