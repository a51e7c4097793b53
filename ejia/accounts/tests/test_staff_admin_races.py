"""Two administrators at once: the row lock keeps one account per name and an audit trail in
which every change starts from what the previous one left."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from conftest import _unit, make_staff
from conftest import race as _race
from ejia.accounts import services
from ejia.accounts.models import Role, User
from ejia.core.models import AuditEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(*attempts) -> list[str]:
    return _race(*attempts, expected={ValidationError: lambda exc: " ".join(exc.messages)})


@pytest.fixture
def admins(org):
    centre = _unit("371600", "centre")
    return [make_staff(f"admin{n}", centre, Role.SYSADMIN) for n in range(10)]


def test_ten_administrators_creating_the_same_name_make_one_account(admins):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    window = _unit("371602001", "window")

    def create(actor):
        services.staff_create(
            actor=actor,
            username="lin",
            password="Quiet-River-2026",
            display_name="林静",
            unit=window,
            roles=[Role.WINDOW_CLERK],
        )
        return "ok"

    outcomes = race(*[lambda a=a: create(a) for a in admins])
    assert outcomes.count("ok") == 1 and outcomes.count("该用户名已被使用。") == 9, outcomes
    assert User.objects.filter(username="lin").count() == 1
    assert AuditEvent.objects.filter(action="staff.create", data__username="lin").count() == 1


def test_concurrent_edits_each_start_from_the_previous_one(admins, bob):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")

    def rename(actor, n):
        services.staff_update(
            actor=actor,
            user_id=bob.pk,
            display_name=f"王丽{n}",
            phone="",
            unit=bob.unit,
            roles=[Role.WINDOW_CLERK],
            is_active=True,
        )
        return "ok"

    outcomes = race(*[lambda a=a, n=n: rename(a, n) for n, a in enumerate(admins)])
    assert outcomes == ["ok"] * 10, outcomes
    events = list(AuditEvent.objects.filter(action="staff.update").order_by("seq"))
    assert len(events) == 10
    names = ["王丽"] + [e.data["changed"]["display_name"]["to"] for e in events]
    assert [e.data["changed"]["display_name"]["from"] for e in events] == names[:-1]
    assert User.objects.get(pk=bob.pk).display_name == names[-1]
