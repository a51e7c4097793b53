"""Reads of the catalogue: programmes for the public pages, standards, and the rule engine
built from the versions in force on a date.

The catalogue is public information, so these selectors take no user: staff scoping applies
to households, not to the rules that judge them.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Iterable
from typing import Any

from django.db.models import Count, Max, Q

from ejia.accounts.models import Division
from ejia.catalogue.models import Programme, ProgrammeVersion, Standard
from ejia.rules import Engine, HouseholdInput, ProgrammeResult
from ejia.rules.spec import CriterionSpec, ProgrammeSpec


class DivisionNotFound(LookupError):
    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"未找到行政区划代码“{code}”，请填写村（社区）、乡镇（街道）或县（市、区）的代码。")


class DivisionTooBroad(DivisionNotFound):
    def __init__(self, code: str) -> None:
        self.code = code
        LookupError.__init__(self, f"“{code}”是市级区划代码，请填写村（社区）、乡镇（街道）或县（市、区）的代码。")


# ---------------------------------------------------------------- programmes


def programme_list(
    *,
    q: str = "",
    department: str = "",
    category: str = "",
    group: str = "",
    include_inactive: bool = False,
) -> list[Programme]:
    """Programmes in catalogue order. `q` matches every whitespace-separated term as a
    substring of the words, conditions, keywords or pinyin (full or initials: "db" → 低保).
    Without any filter: the active programmes, read once per catalogue state (`_catalogue_stamp`)
    and at most PROGRAMMES_SECONDS in this process (`active_programmes`)."""
    if not (q or department or category or group or include_inactive):
        return active_programmes()
    qs = Programme.objects.select_related("department").order_by("sort_order", "code")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    if department:
        qs = qs.filter(department__code=department)
    if category:
        qs = qs.filter(category=category)
    for term in re.split(r"[\s,，、;；]+", q.strip().lower()):
        if term:
            qs = qs.filter(search_text__contains=term)
    programmes = list(qs)
    if group:
        # JSON containment is not portable to SQLite; the catalogue is a few dozen rows.
        programmes = [p for p in programmes if group in (p.target_groups or [])]
    return programmes


# The active programmes as of a catalogue state, kept this long at most: a department's renamed
# name (which the stamp does not see) reaches the list within it.
PROGRAMMES_SECONDS = 60
_programmes: dict[str, Any] = {}
_programmes_lock = threading.Lock()


def active_programmes(*, stamp: tuple | None = None) -> list[Programme]:
    """Every active programme in catalogue order, its department loaded: one query per catalogue
    state (a publication, a programme saved, added or removed) and PROGRAMMES_SECONDS in this
    process, so that the app's programme list and every self-check do not rebuild its 69 rows
    (5 ms of CPU) on every call. The instances are shared between calls: read them only.
    `stamp`: the catalogue's state, when the caller has just read it (`catalogue_in_force`)."""
    stamp = stamp or _catalogue_stamp()
    now = time.monotonic()
    kept = _programmes.get("entry")
    if kept is not None and kept[0] == stamp and now < kept[1]:
        return list(kept[2])
    found = tuple(Programme.objects.select_related("department").filter(is_active=True).order_by("sort_order", "code"))
    with _programmes_lock:
        _programmes["entry"] = (stamp, now + PROGRAMMES_SECONDS, found)
    return list(found)


def programme_get(code: str) -> Programme | None:
    return Programme.objects.select_related("department").filter(code=code).first()


def programme_current_version(programme: Programme, *, on: dt.date) -> ProgrammeVersion | None:
    """The published version in force on `on`: the latest effective date not after it."""
    return (
        programme.versions.filter(status=ProgrammeVersion.Status.PUBLISHED, effective_from__lte=on)
        .order_by("-effective_from", "-number")
        .first()
    )


def programme_versions(programme: Programme) -> list[ProgrammeVersion]:
    return list(programme.versions.select_related("published_by", "created_by").order_by("-number"))


def target_groups() -> list[str]:
    """Every target-group label in use, in catalogue order (for the public filter)."""
    seen: list[str] = []
    for groups in (
        Programme.objects.filter(is_active=True).order_by("sort_order").values_list("target_groups", flat=True)
    ):
        for label in groups or []:
            if label not in seen:
                seen.append(label)
    return seen


# ---------------------------------------------------------------- specs and the engine


def version_spec(programme: Programme, version: ProgrammeVersion) -> ProgrammeSpec:
    return ProgrammeSpec(
        code=programme.code,
        name=programme.name,
        target=programme.target,
        criteria=tuple(CriterionSpec(c["label"], c["expr"]) for c in version.criteria),
        amount=version.amount_expr or None,
        department=programme.department.code,
    )


def versions_in_force(on: dt.date) -> list[ProgrammeVersion]:
    """One published version per active programme: the one in force on `on`."""
    versions = (
        ProgrammeVersion.objects.filter(
            status=ProgrammeVersion.Status.PUBLISHED, effective_from__lte=on, programme__is_active=True
        )
        .select_related("programme", "programme__department")
        .order_by("programme__sort_order", "programme__code", "-effective_from", "-number")
    )
    current: dict[int, ProgrammeVersion] = {}
    for version in versions:
        current.setdefault(version.programme_id, version)
    return list(current.values())


def published_specs(on: dt.date) -> list[ProgrammeSpec]:
    return [version_spec(v.programme, v) for v in versions_in_force(on)]


ELIGIBLE_CALL = re.compile(r"""eligible\(\s*["'](\w+)["']\s*\)""")


def with_dependencies(spec: ProgrammeSpec, published: dict[str, ProgrammeSpec]) -> list[ProgrammeSpec]:
    """The spec and every published programme it names through eligible(…), transitively:
    evaluating one programme need not run all of them."""
    wanted = {spec.code: spec}
    todo = [spec]
    while todo:
        current = todo.pop()
        texts = [c.expr for c in current.criteria] + [current.amount or ""]
        for code in ELIGIBLE_CALL.findall(" ".join(texts)):
            if code not in wanted and code in published:
                wanted[code] = published[code]
                todo.append(published[code])
    return list(wanted.values())


_engines: dict[tuple, Engine] = {}
_engines_lock = threading.Lock()
_ENGINE_CACHE_SIZE = 16


def _catalogue_stamp() -> tuple:
    """Changes whenever the set of rules in force may change: a publication, or a programme
    switched on or off."""
    published = ProgrammeVersion.objects.filter(status=ProgrammeVersion.Status.PUBLISHED).aggregate(
        at=Max("published_at"), pk=Max("pk")
    )
    programmes = Programme.objects.aggregate(at=Max("updated_at"), count=Count("pk"))
    return (published["at"], published["pk"], programmes["at"], programmes["count"])


def engine_for(on: dt.date, *, stamp: tuple | None = None) -> Engine:
    """The engine over the rules in force on `on`, compiled once per (date, catalogue state)
    in this process (`stamp`: that state, when the caller has just read it)."""
    key = (on, *(stamp or _catalogue_stamp()))
    engine = _engines.get(key)
    if engine is None:
        engine = Engine(published_specs(on))
        with _engines_lock:
            if len(_engines) >= _ENGINE_CACHE_SIZE:
                _engines.clear()
            _engines[key] = engine
    return engine


def catalogue_in_force(on: dt.date) -> tuple[Engine, list[Programme]]:
    """The engine of `on` and the active programmes (`active_programmes`) as of one catalogue
    state: an evaluation that needs both reads the stamp once (two queries, not four)."""
    stamp = _catalogue_stamp()
    return engine_for(on, stamp=stamp), active_programmes(stamp=stamp)


def engine_cache_clear() -> None:
    with _engines_lock:
        _engines.clear()
    with _programmes_lock:
        _programmes.clear()


# ---------------------------------------------------------------- standards


def _division(division: Division | str) -> Division:
    if isinstance(division, Division):
        return division
    found = Division.objects.filter(code=division).first()
    if found is None:
        raise DivisionNotFound(division)
    return found


def _ancestor_codes(division: Division) -> list[str]:
    return [code for code in division.path.split("/") if code]


def standards_for(division: Division | str, urban: bool, on: dt.date) -> dict[str, int]:
    """Every standard kind in force for a household of `division` on `on`, in fen.

    For each kind the most specific division on the household's path wins (a county's own
    standard over the city's); within one division a standard for exactly urban or rural
    wins over one for both.
    """
    division = _division(division)
    codes = _ancestor_codes(division)
    rows = (
        Standard.objects.filter(division__code__in=codes, effective_from__lte=on)
        .filter(Q(effective_to__isnull=True) | Q(effective_to__gte=on))
        .filter(Q(urban=urban) | Q(urban__isnull=True))
        .values_list("kind", "division__code", "urban", "effective_from", "amount_fen")
    )
    depth = {code: i for i, code in enumerate(codes)}
    best: dict[str, tuple[tuple, int]] = {}
    for kind, code, row_urban, effective_from, amount in rows:
        rank = (depth[code], row_urban is not None, effective_from)
        if kind not in best or rank > best[kind][0]:
            best[kind] = (rank, amount)
    return {kind: amount for kind, (_, amount) in sorted(best.items())}


def standards_table_rows(on: dt.date) -> list[dict[str, Any]]:
    """One row per county × urban/rural × kind: the `standards` table of a bulk run."""
    rows = []
    for county in Division.objects.filter(level=Division.Level.COUNTY).order_by("code"):
        for urban in (True, False):
            for kind, amount in standards_for(county, urban, on).items():
                rows.append({"region_code": county.code, "urban": urban, "kind": kind, "amount_fen": amount})
    return rows


def bulk_evaluate(con, *, on: dt.date):
    """Run every programme in force on `on` over the `households` and `members` tables of a
    DuckDB connection; registers the `standards` table first. Returns a pyarrow Table."""
    import pyarrow as pa

    rows = standards_table_rows(on)
    table = pa.table(
        {
            "region_code": pa.array([r["region_code"] for r in rows], pa.string()),
            "urban": pa.array([r["urban"] for r in rows], pa.bool_()),
            "kind": pa.array([r["kind"] for r in rows], pa.string()),
            "amount_fen": pa.array([r["amount_fen"] for r in rows], pa.int64()),
        }
    )
    con.register("standards", table)
    return engine_for(on).evaluate_bulk(con, on=on)


# ---------------------------------------------------------------- one household


def household_place(division: Division, household: dict[str, Any]) -> tuple[str, bool]:
    """The county code and urban flag that choose a household's standards.

    A village or township decides urban/rural itself (under a street = urban); for a bare
    county code the caller may say `urban`, else the household counts as rural.
    """
    if division.level == Division.Level.CITY:
        # Standards and urban/rural status are set per county; a city code says neither.
        raise DivisionTooBroad(division.code)
    if division.level in (Division.Level.VILLAGE, Division.Level.TOWNSHIP):
        return division.county_code, bool(division.urban)
    return division.county_code, bool(household.get("urban") or False)


def evaluate_household(
    *,
    division_code: str,
    household: dict[str, Any],
    members: Iterable[dict[str, Any]],
    on: dt.date,
    engine: Engine | None = None,
) -> dict[str, ProgrammeResult]:
    """Every programme in force on `on` for one household, explained (by `engine`, when the
    caller has it from `catalogue_in_force`, else by `engine_for(on)`).

    `household` and `members` hold facts by name (ejia.rules.facts); anything left out is
    unknown. Raises DivisionNotFound, or RuleError for a fact value of the wrong type.
    """
    division = _division(division_code)
    region_code, urban = household_place(division, household)
    facts = {**household, "region_code": region_code, "urban": urban}
    standards = standards_for(division, urban, on)
    engine = engine or engine_for(on)
    return engine.evaluate(HouseholdInput(facts=facts, members=list(members), standards=standards), on=on)


# ---------------------------------------------------------------- combination rules


def combination_rules() -> list:
    from ejia.catalogue.models import CombinationRule

    return list(CombinationRule.objects.select_related("programme", "other", "programme__department"))


def combinations_in_force() -> list:
    """Every combination rule between active programmes, as the plan applies them."""
    from ejia.catalogue.combinations import Combination
    from ejia.catalogue.models import CombinationRule

    rows = CombinationRule.objects.filter(programme__is_active=True, other__is_active=True).values_list(
        "programme__code", "kind", "other__code", "scope", "note"
    )
    return [Combination(p, k, o, s, n) for p, k, o, s, n in rows]
