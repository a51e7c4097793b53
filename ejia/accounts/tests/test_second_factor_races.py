"""Two tries of one code at the same moment (two tabs, or a code read over a shoulder and typed
at once elsewhere): the person's row lock lets one pass; the other is a replay."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from conftest import _unit, make_staff, totp_code
from conftest import race as _race
from ejia.accounts.models import Role
from ejia.accounts.second_factor import second_factor_reset, second_factor_verify
from ejia.core.models import AuditEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(*attempts) -> list[str]:
    return _race(*attempts, expected={ValidationError: lambda exc: "refused"})


def test_one_code_tried_five_times_at_once_passes_once(bob):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    code = totp_code(bob)

    def attempt():
        second_factor_verify(user_id=bob.pk, code=code, ip="10.0.0.1")
        return "passed"

    outcomes = race(*[attempt] * 5)
    assert sorted(outcomes) == ["passed"] + ["refused"] * 4
    assert AuditEvent.objects.filter(action="staff.otp_verified").count() == 1
    assert AuditEvent.objects.filter(action="staff.otp_failed").count() == 4


def test_two_administrators_resetting_at_once_reset_once(bob, org):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    admins = [make_staff(f"admin{n}", _unit("371600", "centre"), Role.SYSADMIN) for n in range(2)]
    totp_code(bob)  # bob has an authenticator

    def reset(actor):
        return lambda: second_factor_reset(actor=actor, user_id=bob.pk, reason="手机丢失，当面核实") and "reset"

    outcomes = race(*[reset(a) for a in admins])
    assert sorted(outcomes) == ["refused", "reset"]
    assert AuditEvent.objects.filter(action="staff.otp_reset").count() == 1
