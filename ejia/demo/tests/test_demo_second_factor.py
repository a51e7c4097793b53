"""The demo stays two commands with the second factor on: the demo accounts share a printed
secret and `manage.py ejia_demo_code` prints the code the login page accepts."""

from __future__ import annotations

import io
import time

from django.core.management import call_command
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from ejia.demo.second_factor import DEMO_TOTP_KEY, code_for_key, demo_second_factor_ensure, demo_secret_text
from ejia.demo.staff import DEMO_PASSWORD, demo_staff_ensure


def printed(*args) -> str:
    out = io.StringIO()
    call_command("ejia_demo_code", *args, stdout=out)
    return out.getvalue().strip()


def signed_in_with(client: Client, username: str, code: str) -> bool:
    response = client.post("/staff/login/", {"username": username, "password": DEMO_PASSWORD})
    assert response["Location"].startswith("/staff/second-factor/")
    client.post("/staff/second-factor/", {"code": code})
    return client.get("/staff/").status_code == 200


def test_the_demo_accounts_sign_in_with_the_printed_code(org):
    users = demo_staff_ensure()
    assert demo_second_factor_ensure(users) == len(users)
    assert demo_second_factor_ensure(users) == 0  # the seed runs again without harm
    assert set(TOTPDevice.objects.values_list("key", flat=True)) == {DEMO_TOTP_KEY}
    assert demo_secret_text().replace(" ", "").isalnum()

    code = printed()
    assert code in {code_for_key(DEMO_TOTP_KEY), code_for_key(DEMO_TOTP_KEY, at=time.time() - 30)}
    assert signed_in_with(Client(), "window_clerk", printed())
    # Another account takes the same code; the same account again needs the next one.
    assert signed_in_with(Client(), "county_reviewer", printed())
    assert signed_in_with(Client(), "window_clerk", printed("window_clerk"))
