"""Idempotency-Key: same key + same body replays, a different body is 409, errors keep nothing."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import RequestFactory
from ninja import Status

from ejia.accounts.policies import ApiScope
from ejia.api.auth import ApiPrincipal
from ejia.api.errors import ApiError
from ejia.api.idempotency import idempotent
from ejia.api.models import IdempotencyRecord
from ejia.core.audit import audit_record
from ejia.core.models import AuditEvent


def _request(principal, body: bytes, key: str = "k-1"):
    request = RequestFactory().post("/api/v1/things", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=key)
    request.auth = principal
    return request


@idempotent
def thing_create(request):
    """A creating view: one audit event per creation (what a retry must not repeat)."""
    event = audit_record(actor=None, action="test.thing.create", data={"body": request.body.decode()})
    return Status(201, {"seq": event.seq})


@pytest.fixture
def principal(partner):
    client, _ = partner
    return ApiPrincipal(client=client, scopes=frozenset({ApiScope.CATALOGUE_READ}), user=None)


def test_the_same_key_and_body_replays_the_first_answer(principal):
    first = thing_create(_request(principal, b'{"a": 1}'))
    again = thing_create(_request(principal, b'{"a": 1}'))
    assert (first.status_code, first.value) == (again.status_code, again.value) == (201, first.value)
    assert AuditEvent.objects.filter(action="test.thing.create").count() == 1


def test_the_same_key_with_another_body_is_409_in_chinese(principal):
    thing_create(_request(principal, b'{"a": 1}'))
    with pytest.raises(ApiError) as refused:
        thing_create(_request(principal, b'{"a": 2}'))
    assert refused.value.status == 409 and refused.value.code == "idempotency_conflict"
    assert "不同内容" in refused.value.message


def test_an_error_answer_keeps_nothing(principal):
    @idempotent
    def failing(request):
        return Status(422, {"code": "rejected"})

    assert failing(_request(principal, b"{}")).status_code == 422
    assert not IdempotencyRecord.objects.exists()


def test_an_overlong_key_is_refused(principal):
    with pytest.raises(ApiError) as refused:
        thing_create(_request(principal, b"{}", key="k" * 201))
    assert refused.value.status == 400


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicates_create_once_on_postgresql(partner):
    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks")
    from conftest import race

    client, _ = partner
    principal = ApiPrincipal(client=client, scopes=frozenset({ApiScope.CATALOGUE_READ}), user=None)

    def attempt():
        answer = thing_create(_request(principal, b'{"a": 1}', key="same"))
        return f"{answer.status_code}:{answer.value['seq']}"

    outcomes = race(attempt, attempt, attempt, expected={ApiError: lambda exc: exc.code})
    assert AuditEvent.objects.filter(action="test.thing.create").count() == 1
    created = [o for o in outcomes if o.startswith("201:")]
    assert len(set(created)) == 1 and len(created) + outcomes.count("idempotency_conflict") == 3
