"""The seed catalogue: 69 programmes of 17 departments and the 2023 Binzhou standards.

`all_programme_specs()` reads the TOML straight into engine specs without the database (the
rules benchmark and tests use it); `catalogue_seed()` loads the same data into the database
idempotently, with version 1 of every programme published from 2023-07-01.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils import timezone

from ejia.core.money import yuan_to_fen
from ejia.rules.spec import CriterionSpec, ProgrammeSpec

DATA_DIR = Path(__file__).parent / "data"
PROGRAMMES_TOML = DATA_DIR / "programmes.toml"
STANDARDS_TOML = DATA_DIR / "standards.toml"
COMBINATIONS_TOML = DATA_DIR / "combinations.toml"
SEED_EFFECTIVE_FROM = dt.date(2023, 7, 1)

# Programme fields copied as they are from the TOML to the model.
PROGRAMME_FIELDS = (
    "name",
    "category",
    "target",
    "target_groups",
    "benefit_form",
    "amount_period",
    "pay_from",
    "gradual_exit",
    "gradual_exit_months",
    "discovery_mode",
    "summary",
    "description",
    "how_much",
    "legal_basis",
    "materials",
    "unchecked_conditions",
    "contact_unit",
    "contact_phone",
    "keywords",
)


@cache
def load_programmes(path: Path = PROGRAMMES_TOML) -> tuple[dict[str, Any], ...]:
    with open(path, "rb") as fh:
        return tuple(tomllib.load(fh)["programme"])


def _spec(row: dict[str, Any]) -> ProgrammeSpec:
    return ProgrammeSpec(
        code=row["code"],
        name=row["name"],
        target=row["target"],
        criteria=tuple(CriterionSpec(c["label"], c["expr"]) for c in row.get("criteria", [])),
        amount=row.get("amount") or None,
        department=row["department"],
    )


def all_programme_specs() -> list[ProgrammeSpec]:
    """The 69 seed programmes as engine specs, in catalogue order (no database needed)."""
    return [_spec(row) for row in load_programmes()]


@cache
def load_combinations(path: Path = COMBINATIONS_TOML) -> tuple:
    """The seed combination rules (ejia.catalogue.combinations.Combination), no database needed."""
    from ejia.catalogue.combinations import Combination

    with open(path, "rb") as fh:
        rows = tomllib.load(fh)["combination"]
    return tuple(
        Combination(r["programme"], r["kind"], r["other"], r.get("scope", "person"), r.get("note", "")) for r in rows
    )


def combinations_seed(Programme, CombinationRule) -> int:
    """Add the seed's combination rules that are missing (both programmes present); a
    department's own rules and edits are kept. Takes the model classes so that a data
    migration can call it with its historical models."""
    have = set(CombinationRule.objects.values_list("programme__code", "kind", "other__code"))
    programmes = {p.code: p for p in Programme.objects.all()}
    new = [
        CombinationRule(
            programme=programmes[c.programme], kind=c.kind, other=programmes[c.other], scope=c.scope, note=c.note
        )
        for c in load_combinations()
        if c.programme in programmes and c.other in programmes and (c.programme, c.kind, c.other) not in have
    ]
    CombinationRule.objects.bulk_create(new)
    return len(new)


@dataclass(frozen=True)
class StandardRow:
    kind: str
    division_code: str
    urban: bool | None
    amount_fen: int
    effective_from: dt.date
    effective_to: dt.date | None
    note: str


def load_standards(path: Path = STANDARDS_TOML) -> list[StandardRow]:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    defaults = data.get("defaults", {})
    rows = []
    for item in data["standard"]:
        merged = {**defaults, **item}
        note = merged.get("note", "")
        if merged.get("indicative"):
            note = "；".join(filter(None, [note, "参考值，须按当地文件核定"]))
        rows.append(
            StandardRow(
                kind=merged["kind"],
                division_code=str(merged["division"]),
                urban=merged.get("urban"),
                amount_fen=yuan_to_fen(merged["amount_yuan"]),
                effective_from=merged["effective_from"],
                effective_to=merged.get("effective_to"),
                note=note,
            )
        )
    return rows


@transaction.atomic
def catalogue_seed() -> dict[str, int]:
    """Load departments, programmes (version 1 published) and standards; safe to run twice.

    Programmes already present keep their versions: a department's later edits are never
    overwritten by the seed. Seeding is a bulk load, not a clerk's action, so it writes one
    audit event for the whole run rather than one per row.
    """
    from ejia.accounts.models import Department, Division
    from ejia.accounts.services import departments_ensure
    from ejia.catalogue.models import Programme, ProgrammeVersion, Standard
    from ejia.catalogue.search import search_text_for
    from ejia.core.audit import audit_record

    departments_ensure()
    departments = {d.code: d for d in Department.objects.all()}
    existing = set(Programme.objects.values_list("code", flat=True))
    rows = load_programmes()
    new_programmes = []
    for order, row in enumerate(rows, start=1):
        if row["code"] in existing:
            continue
        programme = Programme(
            code=row["code"],
            department=departments[row["department"]],
            sort_order=order,
            **{f: row.get(f, Programme._meta.get_field(f).get_default()) for f in PROGRAMME_FIELDS},
        )
        programme.search_text = search_text_for(programme, [c["label"] for c in row.get("criteria", [])])
        new_programmes.append(programme)
    Programme.objects.bulk_create(new_programmes)

    by_code = {p.code: p for p in Programme.objects.filter(code__in=[p.code for p in new_programmes])}
    now = timezone.now()
    rows_by_code = {row["code"]: row for row in rows}
    ProgrammeVersion.objects.bulk_create(
        [
            ProgrammeVersion(
                programme=programme,
                number=1,
                status=ProgrammeVersion.Status.PUBLISHED,
                criteria=[{"label": c["label"], "expr": c["expr"]} for c in rows_by_code[code].get("criteria", [])],
                amount_expr=rows_by_code[code].get("amount", ""),
                effective_from=SEED_EFFECTIVE_FROM,
                published_at=now,
                change_note="初始版本（种子数据）",
            )
            for code, programme in by_code.items()
        ]
    )

    divisions = {d.code: d for d in Division.objects.filter(level__in=["city", "county"])}
    have = set(Standard.objects.values_list("kind", "division__code", "urban", "effective_from"))
    new_standards = [
        Standard(
            kind=s.kind,
            division=divisions[s.division_code],
            urban=s.urban,
            amount_fen=s.amount_fen,
            effective_from=s.effective_from,
            effective_to=s.effective_to,
            note=s.note,
        )
        for s in load_standards()
        if (s.kind, s.division_code, s.urban, s.effective_from) not in have and s.division_code in divisions
    ]
    Standard.objects.bulk_create(new_standards)
    from ejia.catalogue.models import CombinationRule

    combinations = combinations_seed(Programme, CombinationRule)

    counts = {
        "programmes": len(new_programmes),
        "versions": len(by_code),
        "standards": len(new_standards),
        "combinations": combinations,
    }
    if any(counts.values()):
        audit_record(actor=None, action="catalogue.seed", object_type="catalogue", data=counts)
        from ejia.catalogue.selectors import engine_cache_clear

        transaction.on_commit(engine_cache_clear)
    return counts
