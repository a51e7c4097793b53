"""Remembered credentials (ejia.api.credentials): a token's lookup is made once per
EJIA_API_AUTH_CACHE_SECONDS per process; a change made in this process stops a token at once,
one made in another worker process (seen here as a row changed behind this process's back)
within EJIA_API_AUTH_CACHE_SECONDS."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ejia.accounts.models import User
from ejia.api import credentials
from ejia.api.models import ApiClient, AppSession
from ejia.api.services import client_set_active
from ejia.api.tests.conftest import bearer
from ejia.api.tests.test_app import BASE, login

pytestmark = pytest.mark.django_db
PROGRAMMES = "/api/v1/catalogue/programmes"
STANDARDS = "/api/v1/catalogue/standards/371602"  # read anew on every call


@pytest.fixture
def clock(monkeypatch):
    """Both memos on a clock the test moves: `clock.later(seconds)`."""

    class Clock:
        now = time.monotonic()

        def __call__(self) -> float:
            return self.now

        def later(self, seconds: float) -> None:
            self.now += seconds

    fake = Clock()
    monkeypatch.setattr(credentials.CLIENTS, "clock", fake)
    monkeypatch.setattr(credentials.CITIZEN_SESSIONS, "clock", fake)
    return fake


def queries_of(client, path, headers) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path, headers=headers).status_code == 200
    return len(queries)


def test_a_client_token_is_looked_up_once_within_the_cache_seconds(client, catalogue, partner, settings, clock):
    headers = bearer(partner[0])
    first = queries_of(client, STANDARDS, headers)
    assert queries_of(client, STANDARDS, headers) == first - 1  # no client lookup
    clock.later(settings.EJIA_API_AUTH_CACHE_SECONDS)
    assert queries_of(client, STANDARDS, headers) == first  # looked up again
    settings.EJIA_API_AUTH_CACHE_SECONDS = 0  # off: every call looks it up
    credentials.forget()
    assert queries_of(client, STANDARDS, headers) == first
    assert queries_of(client, STANDARDS, headers) == first


def test_a_citizen_token_is_looked_up_once_within_the_cache_seconds(client, catalogue, app_client, clock):
    me = login(client, app_client)
    first = queries_of(client, BASE + "/me/applications", me)
    assert queries_of(client, BASE + "/me/applications", me) == first - 1


def test_a_client_disabled_in_another_process_stops_within_the_cache_seconds(
    client, catalogue, partner, settings, clock
):
    api_client = partner[0]
    headers = bearer(api_client)
    assert client.get(PROGRAMMES, headers=headers).status_code == 200
    # Another worker disables it: this process does not hear of it...
    ApiClient.objects.filter(pk=api_client.pk).update(is_active=False)
    clock.later(settings.EJIA_API_AUTH_CACHE_SECONDS - 0.5)
    assert client.get(PROGRAMMES, headers=headers).status_code == 200
    # ...and refuses the token once the remembered answer is EJIA_API_AUTH_CACHE_SECONDS old.
    clock.later(0.5)
    assert client.get(PROGRAMMES, headers=headers).status_code == 401


def test_a_client_disabled_here_stops_at_once_and_so_do_its_citizens_tokens(client, catalogue, app_client, clock):
    me = login(client, app_client)
    app = bearer(app_client)
    assert client.get(PROGRAMMES, headers=app).status_code == 200
    assert client.get(BASE + "/me/applications", headers=me).status_code == 200
    client_set_active(actor=None, client_id=app_client.client_id, active=False)
    assert client.get(PROGRAMMES, headers=app).status_code == 401
    assert client.get(BASE + "/me/applications", headers=me).status_code == 401


def test_a_service_account_deactivated_in_another_process_stops_within_the_cache_seconds(
    client, catalogue, yb_system, settings, clock
):
    api_client = yb_system[0]
    headers = bearer(api_client)
    assert client.get(PROGRAMMES, headers=headers).status_code == 200
    User.objects.filter(pk=api_client.service_user_id).update(is_active=False)
    assert client.get(PROGRAMMES, headers=headers).status_code == 200
    clock.later(settings.EJIA_API_AUTH_CACHE_SECONDS)
    assert client.get(PROGRAMMES, headers=headers).status_code == 401


def test_a_citizen_token_revoked_in_another_process_stops_within_the_cache_seconds(
    client,
    catalogue,
    app_client,
    settings,
    clock,
):
    me = login(client, app_client)
    assert client.get(BASE + "/me/applications", headers=me).status_code == 200
    AppSession.objects.update(revoked_at=timezone.now())  # another worker's logout
    assert client.get(BASE + "/me/applications", headers=me).status_code == 200
    clock.later(settings.EJIA_API_AUTH_CACHE_SECONDS)
    assert client.get(BASE + "/me/applications", headers=me).status_code == 401


def test_a_logout_here_stops_the_token_at_once(client, catalogue, app_client, clock):
    me = login(client, app_client)
    assert client.get(BASE + "/me/applications", headers=me).status_code == 200
    assert client.post(BASE + "/logout", headers=me).status_code == 204
    assert client.get(BASE + "/me/applications", headers=me).status_code == 401


def test_a_remembered_citizen_token_still_expires_on_time(client, catalogue, app_client, settings, monkeypatch, clock):
    me = login(client, app_client)
    assert client.get(BASE + "/me/applications", headers=me).status_code == 200
    expiry = AppSession.objects.get().expires_at
    monkeypatch.setattr(timezone, "now", lambda: expiry + dt.timedelta(seconds=1))
    assert client.get(BASE + "/me/applications", headers=me).status_code == 401


def test_a_flood_of_bad_tokens_is_not_remembered(client, catalogue, app_client, clock):
    for n in range(20):
        answer = client.get(BASE + "/me/applications", headers={"Authorization": f"Bearer ejc_forged{n}"})
        assert answer.status_code == 401
    assert len(credentials.CITIZEN_SESSIONS) == 0
