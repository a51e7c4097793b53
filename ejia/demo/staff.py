"""Demo staff accounts: one per role along one county → township → village path, plus
department approvers for 民政, 医保, 教育 and 住建. Password for all: see DEMO_PASSWORD."""

from __future__ import annotations

from django.contrib.auth.hashers import make_password
from django.db import transaction

from ejia.accounts.models import Division, OrgUnit, Role, User
from ejia.accounts.services import staff_create

DEMO_PASSWORD = "ejia-demo-2026"  # noqa: S105 — demo only, printed by the demo command
DEMO_COUNTY = "371602"  # 滨城区
DEMO_TOWNSHIP = "371602001"  # 市中街道
DEMO_OTHER_TOWNSHIP = "371602105"  # 三河湖镇


def _first_village(township_code: str) -> Division:
    return Division.objects.filter(parent__code=township_code, level="village").order_by("code").first()


def demo_staff_specs() -> list[dict]:
    county = Division.objects.get(code=DEMO_COUNTY)
    city = county.parent
    township = Division.objects.get(code=DEMO_TOWNSHIP)
    village = _first_village(DEMO_TOWNSHIP)

    def unit(division: Division, kind: str, dept: str | None = None) -> OrgUnit:
        qs = OrgUnit.objects.filter(division=division, kind=kind)
        if dept:
            qs = qs.filter(department__code=dept)
        return qs.get()

    return [
        dict(
            username="village_clerk", display_name="张小红", unit=unit(village, "station"), roles=[Role.VILLAGE_CLERK]
        ),
        dict(username="grid_worker", display_name="李建国", unit=unit(village, "station"), roles=[Role.GRID_WORKER]),
        dict(username="window_clerk", display_name="王丽", unit=unit(township, "window"), roles=[Role.WINDOW_CLERK]),
        dict(
            username="window_clerk_other",
            display_name="赵强",
            unit=unit(Division.objects.get(code=DEMO_OTHER_TOWNSHIP), "window"),
            roles=[Role.WINDOW_CLERK],
        ),
        dict(
            username="county_reviewer", display_name="刘芳", unit=unit(county, "centre"), roles=[Role.COUNTY_REVIEWER]
        ),
        dict(
            username="centre_director", display_name="陈志刚", unit=unit(county, "centre"), roles=[Role.CENTRE_DIRECTOR]
        ),
        dict(
            username="approver_mz",
            display_name="孙伟",
            unit=unit(county, "department", "mz"),
            roles=[Role.DEPT_APPROVER],
        ),
        dict(
            username="approver_yb",
            display_name="周敏",
            unit=unit(county, "department", "yb"),
            roles=[Role.DEPT_APPROVER],
        ),
        dict(
            username="approver_jy",
            display_name="吴磊",
            unit=unit(county, "department", "jy"),
            roles=[Role.DEPT_APPROVER],
        ),
        dict(
            username="approver_zj",
            display_name="郑洁",
            unit=unit(county, "department", "zj"),
            roles=[Role.DEPT_APPROVER],
        ),
        dict(
            username="editor_mz",
            display_name="冯涛",
            unit=unit(city, "department", "mz"),
            roles=[Role.CATALOGUE_EDITOR],
        ),
        dict(
            username="editor_jy",
            display_name="韩雪",
            unit=unit(city, "department", "jy"),
            roles=[Role.CATALOGUE_EDITOR],
        ),
        dict(
            username="exchange_operator", display_name="杨帆", unit=unit(city, "centre"), roles=[Role.EXCHANGE_OPERATOR]
        ),
        dict(username="auditor", display_name="许静", unit=unit(city, "centre"), roles=[Role.AUDITOR]),
        dict(username="sysadmin", display_name="马超", unit=unit(city, "centre"), roles=[Role.SYSADMIN]),
        dict(username="leader", display_name="郑国华", unit=unit(city, "centre"), roles=[Role.LEADER]),
    ]


@transaction.atomic
def demo_staff_ensure(password: str = DEMO_PASSWORD) -> list[User]:
    users = []
    # One hash for all demo accounts: hashing is deliberately slow, the demo loads fast.
    password_hash = make_password(password)
    for spec in demo_staff_specs():
        user = User.objects.filter(username=spec["username"]).first()
        if user is None:
            user = staff_create(actor=None, password_hash=password_hash, must_change_password=False, **spec)
        users.append(user)
    return users
