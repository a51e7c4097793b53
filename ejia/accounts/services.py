"""Writes for the organisation: divisions, departments, units and staff accounts."""

from __future__ import annotations

import csv
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext_lazy as _

from ejia.accounts.departments import DEPARTMENTS
from ejia.accounts.models import Department, Division, OrgUnit, Role, StaffRole, User
from ejia.accounts.policies import Capability, scope_q
from ejia.accounts.role_rules import lockout_problems, role_problems
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


# ---------------------------------------------------------------- staff accounts

# No 0/O, 1/l/I: the administrator reads the password out or writes it down for the person.
PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # noqa: S105 — letters to draw from


def password_suggest() -> str:
    """A fresh initial password, e.g. "Kp7m-3xQa-9TzR": long enough for every validator,
    easy to read out, and never stored anywhere but as the account's hash."""
    return "-".join("".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(4)) for _ in range(3))


# Django's own zh-hans catalogue lags behind its messages (5.2's "too short" is untranslated), so
# the platform words the validators' findings itself, by their codes.
PASSWORD_MESSAGES = {
    "password_too_short": _("密码太短：至少需要%(min_length)d个字符。"),
    "password_too_similar": _("密码与%(verbose_name)s太相近，容易被猜中。"),
    "password_too_common": _("这个密码太常见，容易被猜中。"),
    "password_entirely_numeric": _("密码不能全是数字。"),
}


def password_validate(password: str, user: User | None = None) -> None:
    """Run the configured password validators; ValidationError with plain Chinese sentences."""
    try:
        validate_password(password, user)
    except ValidationError as error:
        problems = []
        for item in error.error_list:
            wording = PASSWORD_MESSAGES.get(item.code)
            problems.append(str(wording) % (item.params or {}) if wording else item.messages[0])
        raise ValidationError(problems) from None


def _require_in_reach(actor: User | None, *, unit: OrgUnit) -> None:
    """An administrator manages accounts only in their own area (the access policy's
    ACCOUNTS_ADMIN reach); `actor=None` is the system itself (seeding the demo)."""
    if actor is None:
        return
    if not OrgUnit.objects.filter(scope_q(actor, Capability.ACCOUNTS_ADMIN, division="division"), pk=unit.pk).exists():
        raise PermissionDenied("该单位不在您的账号管理范围内。")


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise ValidationError(problems)


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
    must_change_password: bool = True,
) -> User:
    """A new staff account. A password chosen by someone else must be changed at first login
    (`must_change_password`); only pre-hashed seeding (the demo) turns that off."""
    roles = sorted({Role(r) for r in roles})
    _require_in_reach(actor, unit=unit)
    _raise_if(role_problems(unit=unit, roles=roles))
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "该用户名已被使用。"})
    user = User(
        username=username,
        display_name=display_name,
        unit=unit,
        phone=phone,
        is_staff=False,
        must_change_password=must_change_password,
    )
    if password_hash:
        user.password = password_hash  # pre-hashed (bulk seeding)
    else:
        password_validate(password, user)
        user.set_password(password)
    # Uniqueness is the iexact check above and the database's constraint below (one wording).
    user.full_clean(exclude=["password"], validate_unique=False)
    try:
        # A savepoint: two administrators creating the same name at once get a message, and an
        # outer transaction (the demo loader) stays usable.
        with transaction.atomic():
            user.save()
            StaffRole.objects.bulk_create([StaffRole(user=user, role=r) for r in roles])
            audit_record(
                actor=actor,
                action="staff.create",
                obj=user,
                data={
                    "username": username,
                    "unit": unit.name,
                    "roles": [str(r) for r in roles],
                    "must_change_password": must_change_password,
                },
            )
    except IntegrityError:
        raise ValidationError({"username": "该用户名已被使用。"}) from None
    return user


def _locked_staff(actor: User, user_id: int) -> User:
    user = User.objects.select_for_update(of=("self",)).select_related("unit__division").get(pk=user_id)
    if user.unit is None:
        raise PermissionDenied("该账号不在您的账号管理范围内。")
    _require_in_reach(actor, unit=user.unit)
    return user


@transaction.atomic
def staff_update(
    *,
    actor: User,
    user_id: int,
    display_name: str,
    phone: str,
    unit: OrgUnit,
    roles: Iterable[str],
    is_active: bool,
) -> list[str]:
    """Change a staff account; returns the names of what changed (empty: nothing did). The
    audit event lists the changed fields and roles; the phone number only by name."""
    user = _locked_staff(actor, user_id)
    roles = {Role(r) for r in roles}
    _require_in_reach(actor, unit=unit)
    _raise_if(lockout_problems(actor=actor, user=user, roles=roles, is_active=is_active))
    _raise_if(role_problems(unit=unit, roles=roles))

    changed: dict[str, object] = {}
    if user.display_name != display_name:
        changed["display_name"] = {"from": user.display_name, "to": display_name}
        user.display_name = display_name
    if user.phone != phone:
        changed["phone"] = "changed"
        user.phone = phone
    if user.unit_id != unit.pk:
        changed["unit"] = {"from": user.unit.name, "to": unit.name}
        user.unit = unit
    if user.is_active != is_active:
        changed["is_active"] = {"from": user.is_active, "to": is_active}
        user.is_active = is_active
    held = set(user.roles.values_list("role", flat=True))
    added, removed = sorted(roles - held), sorted(held - roles)
    if not changed and not added and not removed:
        return []
    if changed:
        user.full_clean(exclude=["password"])
        user.save(update_fields=[name for name in ("display_name", "phone", "unit", "is_active") if name in changed])
    if removed:
        StaffRole.objects.filter(user=user, role__in=removed).delete()
    if added:
        StaffRole.objects.bulk_create([StaffRole(user=user, role=r) for r in added])
    data: dict[str, object] = {"username": user.username, "changed": changed}
    if added:
        data["roles_added"] = [str(r) for r in added]
    if removed:
        data["roles_removed"] = [str(r) for r in removed]
    audit_record(actor=actor, action="staff.update", obj=user, data=data)
    return [*changed, *(["roles"] if added or removed else [])]


@transaction.atomic
def staff_password_reset(*, actor: User, user_id: int, password: str) -> User:
    """An administrator sets a new password for someone who lost theirs; the person must change
    it at their next login. The audit event says that it happened, never what it is."""
    user = _locked_staff(actor, user_id)
    if user.pk == actor.pk:
        raise ValidationError("不能重置自己的密码，请使用“修改密码”。")
    password_validate(password, user)
    user.set_password(password)
    user.must_change_password = True
    user.save(update_fields=["password", "must_change_password"])
    audit_record(
        actor=actor,
        action="staff.password_reset",
        obj=user,
        data={"username": user.username, "must_change_password": True},
    )
    return user


@transaction.atomic
def staff_password_change(*, user_id: int, old_password: str, new_password: str) -> User:
    """A staff member changes their own password (required after a reset or a new account)."""
    user = User.objects.select_for_update().get(pk=user_id)
    if not user.check_password(old_password):
        raise ValidationError({"old_password": "当前密码不正确。"})
    if old_password == new_password:
        raise ValidationError({"new_password1": "新密码不能与当前密码相同。"})
    password_validate(new_password, user)
    user.set_password(new_password)
    was_required = user.must_change_password
    user.must_change_password = False
    user.save(update_fields=["password", "must_change_password"])
    audit_record(actor=user, action="staff.password_change", obj=user, data={"required": was_required})
    return user
