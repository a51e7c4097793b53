"""The demo's second factor: every demo account is enrolled with one shared, published TOTP
secret, so that the demo stays two commands (the seed prints the secret, `manage.py
ejia_demo_code` prints the current code). Demo only: real accounts enrol with their own secret
on the second factor page.

`next_code` is also how the tests type a code: the code the device will accept next.
"""

from __future__ import annotations

import binascii
import time

from django.db import transaction
from django_otp.oath import hotp
from django_otp.plugins.otp_totp.models import TOTPDevice

from ejia.accounts.models import User
from ejia.accounts.second_factor import TOTP_DEVICE_NAME, secret_text
from ejia.core.audit import audit_record

# Published with the demo (README): never a production secret.
DEMO_TOTP_KEY = "656a69612d64656d6f2d746f74702d3230323621"  # "ejia-demo-totp-2026!"


def demo_secret_text() -> str:
    return secret_text(DEMO_TOTP_KEY)


def code_for_key(key_hex: str, *, at: float | None = None, step: int = 30) -> str:
    """The six-digit code of this secret at a moment (now by default)."""
    t = int((time.time() if at is None else at) // step)
    return f"{hotp(binascii.unhexlify(key_hex), t, 6):06d}"


def next_code(device: TOTPDevice) -> str:
    """The code the device accepts next: the current one, or — when the current time step was
    used already (two logins within 30 seconds) — the next one, which the device's tolerance
    of one step still accepts. Raises if even that was used."""
    t = int((time.time() - device.t0) // device.step) + device.drift
    if device.last_t >= t + device.tolerance:
        raise ValueError(f"every code {device.user} may use now was used; wait {device.step} seconds")
    t = max(t, device.last_t + 1)
    return f"{hotp(device.bin_key, t, device.digits):0{device.digits}d}"


@transaction.atomic
def demo_second_factor_ensure(users: list[User]) -> int:
    """Enrol the demo accounts that have no authenticator yet with the demo secret."""
    enrolled = 0
    for user in users:
        if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            continue
        TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, key=DEMO_TOTP_KEY, confirmed=True)
        audit_record(actor=None, action="staff.otp_enrolled", obj=user, data={"demo": True})
        enrolled += 1
    return enrolled
