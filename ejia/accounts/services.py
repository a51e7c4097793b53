"""Writes for the organisation: divisions, departments, units and staff accounts."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from ejia.accounts.departments import DEPARTMENTS
from ejia.accounts.models import Department, Division, OrgUnit, Role, StaffRole, User
from ejia.core.audit import audit_record

BASE_DIVISIONS_CSV = Path(__file__).parent / "data" / "binzhou-divisions.csv"


@dataclass(frozen=True)
class DivisionRow:
    code: str
    name: str
    level: str
    parent_code: str | None
    kind: str


def read_base_divisions(path: Path = BASE_DIVISIONS_CSV) -> list[DivisionRow]:
    with open(path, encoding="utf-8", newline="") as fh:
        return [
            DivisionRow(r["code"], r["name"], r["level"], r["parent_code"] or None, r["kind"])
            for r in csv.DictReader(fh)
        ]


LEVEL_RANK = {"city": 0, "county": 1, "township": 2, "village": 3}


@transaction.atomic
def divisions_upsert(rows: Iterable[DivisionRow]) -> int:
    """Create missing divisions, level by level so that parents exist before children;
    codes already present are left as they are."""
    by_level: dict[int, list[DivisionRow]] = {}
    for row in rows:
        by_level.setdefault(LEVEL_RANK[row.level], []).append(row)
    existing = {d.code: d for d in Division.objects.all()}
    created = 0
    for rank in sorted(by_level):
        batch: list[Division] = []
        for row in sorted(by_level[rank], key=lambda r: r.code):
            if row.code in existing:
                continue
            parent = existing.get(row.parent_code) if row.parent_code else None
            if row.parent_code and parent is None:
                raise ValueError(f"division {row.code}: parent {row.parent_code} unknown")
            urban = row.kind == "street" or (row.level == "village" and parent is not None and parent.kind == "street")
            batch.append(
                Division(
                    code=row.code,
                    name=row.name,
                    full_name=f"{parent.full_name}{row.name}" if parent else row.name,
                    level=row.level,
                    kind=row.kind,
                    parent=parent,
                    path=f"{parent.path}{row.code}/" if parent else f"{row.code}/",
                    urban=urban,
                )
            )
        Division.objects.bulk_create(batch, batch_size=2000)
        created += len(batch)
        existing = {d.code: d for d in Division.objects.all()}
    return created


@transaction.atomic
def departments_ensure() -> int:
    created = 0
    for order, (code, name, short, kind) in enumerate(DEPARTMENTS, start=1):
        _, was_created = Department.objects.update_or_create(
            code=code, defaults={"name": name, "short_name": short, "kind": kind, "sort_order": order}
        )
        created += was_created
    return created


def _unit_name(division: Division, kind: str, department: Department | None) -> str:
    if kind == OrgUnit.Kind.CENTRE:
        return f"{division.name}社会救助管理服务中心"
    if kind == OrgUnit.Kind.WINDOW:
        return f"{division.name}社会救助工作平台"
    if kind == OrgUnit.Kind.STATION:
        return f"{division.name}社会救助工作站"
    assert department is not None
    name = department.name
    if division.level == Division.Level.CITY:
        return name if name.startswith("市") else f"{division.name}{name}"
    # county offices of mass and social organisations are named "<county>总工会" etc.
    return f"{division.name}{name.removeprefix('市委').removeprefix('共青团市委').removeprefix('市')}"


@transaction.atomic
def orgunits_ensure() -> int:
    """The standard network: centres at city and county level, a window per township, a
    station per village, and each department at city and county level."""
    departments = list(Department.objects.all())
    have = set(OrgUnit.objects.values_list("division_id", "kind", "department_id"))
    new: list[OrgUnit] = []

    def want(division: Division, kind: str, department: Department | None = None) -> None:
        key = (division.id, kind, department.id if department else None)
        if key not in have:
            have.add(key)
            new.append(
                OrgUnit(
                    division=division, kind=kind, department=department, name=_unit_name(division, kind, department)
                )
            )

    for division in Division.objects.all().select_related("parent"):
        if division.level in (Division.Level.CITY, Division.Level.COUNTY):
            want(division, OrgUnit.Kind.CENTRE)
            for department in departments:
                want(division, OrgUnit.Kind.DEPARTMENT, department)
        elif division.level == Division.Level.TOWNSHIP:
            want(division, OrgUnit.Kind.WINDOW)
        else:
            want(division, OrgUnit.Kind.STATION)
    OrgUnit.objects.bulk_create(new, batch_size=2000)
    return len(new)


@transaction.atomic
def staff_create(
    *,
    actor: User | None,
    username: str,
    password: str = "",
    password_hash: str = "",
    display_name: str,
    unit: OrgUnit,
    roles: Iterable[str],
    phone: str = "",
) -> User:
    roles = [Role(r) for r in roles]
    user = User(username=username, display_name=display_name, unit=unit, phone=phone, is_staff=False)
    if password_hash:
        user.password = password_hash  # pre-hashed (bulk seeding)
    else:
        user.set_password(password)
    user.full_clean(exclude=["password"])
    user.save()
    StaffRole.objects.bulk_create([StaffRole(user=user, role=r) for r in roles])
    audit_record(
        actor=actor,
        action="staff.create",
        obj=user,
        data={"username": username, "unit": unit.name, "roles": [str(r) for r in roles]},
    )
    return user
