"""Refresh of the dashboard summaries.

Each part (coverage, money, population, …) runs one set-based grouped query per month at the
village grain (the household's village), then `rollup` adds every village row into its
township, county and city, so a page reads one indexed row per area and never sums raw rows.
A month is refreshed in one transaction per month (its rows are replaced: running twice gives
the same rows) and audited as a system job. A failure is rolled back for that month alone,
recorded as a RefreshRun row with the error and logged; it never reaches the business action
that asked for the refresh.

A part marked `current_only` is a picture of "now" (the backlog of open requests): it is
written for the current month only, and a past month keeps the picture taken at its last
refresh inside that month.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import connection, models, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.core.audit import audit_record
from ejia.dashboards.models import AreaPopulation, PaymentMonthly, RecipientMonthly, RefreshRun
from ejia.disbursement.models import Entitlement, PaymentItem, PaymentLine, add_months
from ejia.registry.models import Household, Membership

log = logging.getLogger(__name__)

S = PaymentLine.Status
PAID = [S.PAID, S.MISMATCH, S.ACCEPTED]
FAILED = [S.FAILED, S.RETURNED, S.REISSUED]


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def month_end(month: dt.date) -> dt.date:
    return add_months(month, 1) - dt.timedelta(days=1)


# ---------------------------------------------------------------- areas and roll-up


@dataclass(frozen=True)
class AreaTree:
    """The division tree as two dicts (code → parent code, code → level), loaded once per refresh."""

    parent: dict[str, str]
    level: dict[str, str]
    # What one refresh computes once for all its months (e.g. the population of each month).
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls) -> AreaTree:
        rows = Division.objects.values_list("code", "level", "parent__code")
        return cls(parent={c: p or "" for c, _, p in rows}, level={c: lv for c, lv, _ in rows})

    def chain(self, code: str) -> list[str]:
        """The area and every area above it, the area first."""
        out = []
        while code:
            out.append(code)
            code = self.parent.get(code, "")
        return out


Values = dict[str, int | list[int]]


def _add(into: Values, values: Values) -> None:
    for key, value in values.items():
        if isinstance(value, list):
            have = into.get(key)
            into[key] = list(value) if have is None else [a + b for a, b in zip(have, value, strict=True)]
        else:
            into[key] = into.get(key, 0) + (value or 0)


def rollup(tree: AreaTree, rows: Iterable[tuple[str, tuple, Values]]) -> dict[tuple[str, tuple], Values]:
    """Add each (village code, dimensions, values) into the village and all areas above it.
    Counts of distinct households add up because a household lives in one village.

    The rows are first summed per (area, dimensions), then each level is added into the level
    above it, deepest first: every sum is added once per area rather than once per row and
    level (a month's finished steps are tens of thousands of rows with 61-bucket histograms)."""
    acc: dict[tuple[str, tuple], Values] = defaultdict(dict)
    for code, dims, values in rows:
        _add(acc[(code, dims)], values)
    depth = {code: len(tree.chain(code)) for code in {code for code, _dims in acc}}
    for level in range(max(depth.values(), default=0), 1, -1):
        for (code, dims), values in [(k, v) for k, v in acc.items() if depth.get(k[0]) == level]:
            parent = tree.parent.get(code, "")
            if parent:
                depth.setdefault(parent, level - 1)
                _add(acc[(parent, dims)], values)
    return acc


def area_rows(
    model: type[models.Model],
    *,
    month: dt.date,
    tree: AreaTree,
    rows: Iterable[tuple[str, tuple, Values]],
    dims: tuple[str, ...],
) -> list[models.Model]:
    """Unsaved `model` rows of every area level for `rows` keyed by village code."""
    out = []
    for (area, key), values in rollup(tree, rows).items():
        out.append(
            model(
                month=month,
                level=tree.level.get(area, ""),
                area_code=area,
                parent_code=tree.parent.get(area, ""),
                **dict(zip(dims, key, strict=True)),
                **values,
            )
        )
    return out


# ---------------------------------------------------------------- parts


def _money(statuses) -> Sum:
    return Sum("amount_fen", filter=Q(line__status__in=statuses), default=0)


def _payments(month: dt.date, tree: AreaTree) -> list[models.Model]:
    items = PaymentItem.objects.filter(period=month)
    sums = {
        "due_fen": Sum("amount_fen", default=0),
        "paid_fen": _money(PAID),
        "pending_fen": _money([S.PENDING]),
        "held_fen": _money([S.HELD]),
        "failed_fen": _money(FAILED),
        "arrears_fen": Sum("amount_fen", filter=Q(line__batch__period__gt=F("period")), default=0),
        "households": Count("line__household_id", distinct=True),
    }
    by_programme = (
        items.values(
            village=F("line__household__division__code"),
            prog=F("entitlement__programme_id"),
            dept=F("entitlement__programme__department__code"),
        )
        .annotate(**sums)
        .order_by()
    )
    any_programme = items.values(village=F("line__household__division__code")).annotate(**sums).order_by()

    def values(r) -> Values:
        return {k: r[k] for k in sums}

    rows = [(r["village"], (r["prog"], r["dept"]), values(r)) for r in by_programme]
    rows += [(r["village"], (None, ""), values(r)) for r in any_programme]
    return area_rows(PaymentMonthly, month=month, tree=tree, rows=rows, dims=("programme_id", "department_code"))


def _recipients(month: dt.date, tree: AreaTree) -> list[models.Model]:
    in_force = Entitlement.objects.filter(start_month__lte=month).filter(
        Q(end_month__isnull=True) | Q(end_month__gte=month)
    )
    last_day = month_end(month)
    living = Q(household__memberships__date_in__lte=last_day) & (
        Q(household__memberships__date_out__isnull=True) | Q(household__memberships__date_out__gt=last_day)
    )
    # Counted without the membership join (a join would repeat each entitlement per member).
    money = {
        "entitlements": Count("id"),
        "households": Count("household_id", distinct=True),
        "monthly_fen": Sum("amount_fen", default=0),
    }
    # The people a benefit reaches: the member it is paid for, or everyone living in the
    # household at the month's end for a household benefit.
    people = {"persons": Count(Coalesce("person_id", "household__memberships__person_id"), distinct=True)}
    keyed = {
        "village": F("household__division__code"),
        "prog": F("programme_id"),
        "dept": F("programme__department__code"),
    }
    rows: list[tuple[str, tuple, Values]] = []
    for keys, dims in (
        (keyed, lambda r: (r["prog"], r["dept"])),
        ({"village": keyed["village"]}, lambda r: (None, "")),
    ):
        for sums, qs in ((money, in_force), (people, in_force.filter(living))):
            for r in qs.values(**keys).annotate(**sums).order_by():
                rows.append((r["village"], dims(r), {k: r[k] for k in sums}))
    return area_rows(RecipientMonthly, month=month, tree=tree, rows=rows, dims=("programme_id", "department_code"))


def _population(month: dt.date, tree: AreaTree) -> list[models.Model]:
    """Households and residents by village. The whole registry is read (3.9 M memberships in a
    full city), so the queries group by the household's division id (no join to the divisions,
    a hash aggregate over a few thousand groups) and count memberships, not distinct persons: a
    person lives in one household at a time (the registry's invariant, see Membership), so the
    two counts are equal and the count needs no sort. One refresh of several months reads the
    memberships once for all of them (one conditional count per month) and keeps the answer in
    the tree's memo for the following months."""
    months = sorted(set(tree.memo.get("months", ())) | {month})
    counted = tree.memo.setdefault("population", {})
    if month not in counted:
        counted.update(_population_counts(months))
    households, persons = counted.pop(month)
    code_of = tree.memo.setdefault("division_codes", None) or dict(Division.objects.values_list("id", "code"))
    tree.memo["division_codes"] = code_of
    rows = [(code_of[d], (), {"households": n}) for d, n in households.items()]
    rows += [(code_of[d], (), {"persons": n}) for d, n in persons.items()]
    return area_rows(AreaPopulation, month=month, tree=tree, rows=rows, dims=())


def _population_counts(months: list[dt.date]) -> dict[dt.date, tuple[dict[int, int], dict[int, int]]]:
    """{month: ({division id: households}, {division id: residents at the month's end})}."""
    households = dict(Household.objects.values("division_id").annotate(n=Count("id")).values_list("division_id", "n"))
    ends = {f"m{i}": month_end(m) for i, m in enumerate(months)}
    living = {
        key: Count("id", filter=Q(date_in__lte=end) & (Q(date_out__isnull=True) | Q(date_out__gt=end)))
        for key, end in ends.items()
    }
    persons: dict[str, dict[int, int]] = {key: {} for key in ends}
    rows = (
        Membership.objects.filter(date_in__lte=max(ends.values()))
        .values(division_id=F("household__division_id"))
        .annotate(**living)
        .order_by()
    )
    for row in rows:
        for key in ends:
            if row[key]:
                persons[key][row["division_id"]] = row[key]
    return {m: (households, persons[f"m{i}"]) for i, m in enumerate(months)}


@dataclass(frozen=True)
class Part:
    """One group of summary tables refreshed together."""

    name: str
    models: tuple[type[models.Model], ...]
    build: Callable[[dt.date, AreaTree], list[models.Model]]
    current_only: bool = False


PARTS: list[Part] = [
    Part("money", (PaymentMonthly,), _payments),
    Part("coverage", (RecipientMonthly,), _recipients),
    Part("population", (AreaPopulation,), _population),
]


def register(part: Part) -> None:
    """Add a part (called at import by the modules that define the other summaries)."""
    if any(p.name == part.name for p in PARTS):
        return
    PARTS.append(part)


def _load_parts() -> None:
    # The parts of the other summaries live in their own modules and register themselves.
    from ejia.dashboards import parts  # noqa: F401


def refresh_month(
    *, month: dt.date, trigger: str, parts: Iterable[str] | None = None, tree: AreaTree | None = None
) -> int:
    """Replace the summaries of one month; returns the number of summary rows written."""
    _load_parts()
    month = month_start(month)
    chosen = [p for p in PARTS if parts is None or p.name in set(parts)]
    current = month_start(timezone.localdate())
    tree = tree or AreaTree.load()
    written = 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # Grouped scans of the whole registry: compiling them (JIT) costs seconds and saves
            # none (measured in bench/bench_dashboards.py); off for this transaction only.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        for part in chosen:
            if part.current_only and month != current:
                continue
            rows = part.build(month, tree)
            for model in part.models:
                model.objects.filter(month=month).delete()
            by_model: dict[type, list] = defaultdict(list)
            for row in rows:
                by_model[type(row)].append(row)
            for model, batch in by_model.items():
                model.objects.bulk_create(batch, batch_size=2000)
            written += len(rows)
        audit_record(
            actor=None,
            action="dashboards.refresh",
            object_type="dashboards.month",
            object_id=month.isoformat(),
            data={"trigger": trigger, "rows": written, "parts": [p.name for p in chosen]},
        )
    return written


# The nightly run refreshes the months that still move (this month's decisions, batches and bank
# answers, and the arrears and late decisions that reach back a month or two); a weekly run
# rebuilds the twelve months the pages show by default. Changes to older months queue their
# own refresh (a batch refreshes every month its arrears are for).
NIGHTLY_MONTHS = 3
FULL_MONTHS = 12


def recent_months(*, today: dt.date | None = None, count: int = FULL_MONTHS) -> list[dt.date]:
    last = month_start(today or timezone.localdate())
    return [add_months(last, -i) for i in range(count - 1, -1, -1)]


def refresh(*, months: list[dt.date], trigger: str, parts: Iterable[str] | None = None) -> list[RefreshRun]:
    """Refresh each month in its own transaction and record the outcome; never raises."""
    runs = []
    tree = AreaTree.load()
    tree.memo["months"] = [month_start(m) for m in months]
    parts = list(parts) if parts is not None else None
    for month in months:
        started = timezone.now()
        try:
            rows = refresh_month(month=month, trigger=trigger, parts=parts, tree=tree)
            status, error = RefreshRun.Status.DONE, ""
        except Exception as exc:
            log.exception("dashboards refresh of %s failed", month)
            rows, status, error = 0, RefreshRun.Status.FAILED, f"{type(exc).__name__}: {exc}"[:300]
        runs.append(
            RefreshRun.objects.create(
                month=month_start(month),
                trigger=trigger,
                status=status,
                rows=rows,
                error=error,
                started_at=started,
                finished_at=timezone.now(),
            )
        )
    return runs
