"""Tokens, the error shape, rate limits, idempotency, JWKS, audit: the API's common ground."""

from __future__ import annotations

import base64
import json

import jwt
import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from ejia.accounts.policies import ApiScope
from ejia.api.models import ApiClient
from ejia.api.services import client_create, client_rotate, client_set_active
from ejia.api.tests.conftest import bearer
from ejia.core.audit import SEAL_ACTION, access_seal, audit_verify
from ejia.core.models import AccessEvent, AuditEvent

TOKEN_URL = "/api/v1/oauth2/client/token"


def token_via(http: Client, client_id: str, secret: str, **extra) -> dict:
    response = http.post(
        TOKEN_URL, {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret, **extra}
    )
    return {"status": response.status_code, **response.json()}


def assert_error_shape(body: dict) -> None:
    assert set(body) == {"code", "message", "field", "details"}
    assert body["code"] and body["message"]


def test_a_client_gets_a_signed_short_lived_token_that_the_jwks_verifies(client, partner):
    _, secret = partner
    answer = token_via(client, "sd-registry", secret)
    assert answer["status"] == 200 and answer["token_type"] == "Bearer" and answer["scope"] == "catalogue:read"
    assert 0 < answer["expires_in"] <= 3600
    keys = client.get("/.well-known/jwks.json").json()["keys"]
    header = jwt.get_unverified_header(answer["access_token"])
    key = next(k for k in keys if k["kid"] == header["kid"])
    claims = jwt.decode(
        answer["access_token"], jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="ejia-api", issuer="ejia"
    )
    assert claims["sub"] == "sd-registry"
    # JSON body and HTTP Basic work too.
    as_json = client.post(
        TOKEN_URL,
        json.dumps({"grant_type": "client_credentials", "client_id": "sd-registry", "client_secret": secret}),
        content_type="application/json",
    )
    assert as_json.status_code == 200
    basic = base64.b64encode(f"sd-registry:{secret}".encode()).decode()
    via_basic = client.post(TOKEN_URL, {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert via_basic.status_code == 200
    assert AuditEvent.objects.filter(action="api.token").count() == 3


@pytest.mark.parametrize(
    "form, status, code",
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_secret": "ejs_wrong"}, 401, "invalid_client"),
        ({"scope": "department:requests"}, 400, "invalid_scope"),
    ],
)
def test_bad_token_requests_are_refused_in_the_error_shape(client, partner, form, status, code):
    _, secret = partner
    answer = token_via(client, "sd-registry", secret, **form)
    assert answer["status"] == status and answer["code"] == code
    assert_error_shape({k: v for k, v in answer.items() if k != "status"})


def test_a_nul_in_the_client_id_is_refused_not_a_500(client, partner):
    """PostgreSQL cannot compare a text with NUL in it (the schema fuzzer found the 500); SQLite
    simply finds no such client. Either way a 4xx in the error shape."""
    _, secret = partner
    answer = token_via(client, "sd-\x00registry", secret)
    assert answer["status"] in (401, 422), answer
    assert_error_shape({k: v for k, v in answer.items() if k != "status"})


def test_rotation_keeps_both_secrets_valid_until_the_old_one_expires(client, partner):
    _, old = partner
    new = client_rotate(actor=None, client_id="sd-registry", grace_hours=1)
    assert token_via(client, "sd-registry", old)["status"] == 200
    assert token_via(client, "sd-registry", new)["status"] == 200
    client_rotate(actor=None, client_id="sd-registry", grace_hours=0)
    assert token_via(client, "sd-registry", old)["status"] == 401
    assert token_via(client, "sd-registry", new)["status"] == 401  # also expired by the second rotation


def test_a_disabled_clients_tokens_stop_at_the_next_call(client, catalogue, partner):
    api_client, _ = partner
    headers = bearer(api_client)
    assert client.get("/api/v1/catalogue/programmes", headers=headers).status_code == 200
    client_set_active(actor=None, client_id="sd-registry", active=False)
    refused = client.get("/api/v1/catalogue/programmes", headers=headers)
    assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer")
    assert_error_shape(refused.json())


def test_a_forged_or_missing_token_is_401(client, catalogue, partner):
    assert client.get("/api/v1/catalogue/programmes").status_code == 401
    forged = jwt.encode({"sub": "sd-registry", "aud": "ejia-api", "iss": "ejia", "exp": 4102444800}, "x" * 32)
    answer = client.get("/api/v1/catalogue/programmes", headers={"Authorization": f"Bearer {forged}"})
    assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"


def test_scopes_are_checked_by_the_kind_of_client(org):
    with pytest.raises(ValidationError) as refused:
        client_create(
            actor=None,
            name="x",
            kind=ApiClient.Kind.PARTNER,
            client_id="x",
            scopes=[ApiScope.DEPARTMENT_REQUESTS],
        )
    assert "不能获得" in str(refused.value)


def test_a_department_system_acts_as_its_service_account(yb_system):
    api_client, _ = yb_system
    user = api_client.service_user
    assert user.username == "api:bc-yb" and user.role_codes == {"dept_approver"}
    assert not user.has_usable_password()


def test_every_call_is_audited_with_the_client(client, catalogue, partner):
    api_client, _ = partner
    chain = AuditEvent.objects.count()
    client.get("/api/v1/catalogue/programmes", headers=bearer(api_client))
    client.get("/api/v1/catalogue/programmes/nope", headers=bearer(api_client))  # a 404 is recorded too
    events = list(AccessEvent.objects.filter(action="api.call").order_by("id"))
    assert [e.data["path"] for e in events] == ["/api/v1/catalogue/programmes", "/api/v1/catalogue/programmes/nope"]
    assert events[0].data["client_id"] == "sd-registry" and events[0].object_id == str(api_client.public_id)
    # A read takes no lock on the chain: the calls reach it only through the seal.
    assert AuditEvent.objects.count() == chain
    assert access_seal().sealed == 2
    assert AuditEvent.objects.filter(action=SEAL_ACTION).get().data["count"] == 2
    assert audit_verify(check_anchor=False).ok


def test_the_rate_limit_answers_429_with_retry_after(client, catalogue, partner, monkeypatch):
    api_client, _ = partner
    ApiClient.objects.filter(pk=api_client.pk).update(rate_limit_per_minute=2)
    headers = bearer(api_client)
    monkeypatch.setattr("ejia.api.auth.time.time", lambda: 1_800_000_015.5)  # 15.5 s into a minute
    statuses = [client.get("/api/v1/catalogue/standards/371602", headers=headers).status_code for _ in range(2)]
    answer = client.get("/api/v1/catalogue/standards/371602", headers=headers)
    assert statuses == [200, 200]
    assert answer.status_code == 429 and answer["Retry-After"] == "45"
    assert answer.json()["code"] == "rate_limited"
    # The next minute opens a new window.
    monkeypatch.setattr("ejia.api.auth.time.time", lambda: 1_800_000_061.0)
    assert client.get("/api/v1/catalogue/standards/371602", headers=headers).status_code == 200


def test_validation_errors_name_the_field_in_chinese(client, catalogue, partner):
    api_client, _ = partner
    answer = client.get("/api/v1/catalogue/standards/371602?on=not-a-date", headers=bearer(api_client))
    assert answer.status_code == 422
    body = answer.json()
    assert_error_shape(body)
    assert body["code"] == "invalid_request" and body["field"] == "query.on" and "日期" in body["message"]


def test_unknown_things_are_404_in_the_error_shape(client, catalogue, partner):
    api_client, _ = partner
    answer = client.get("/api/v1/catalogue/programmes/nope", headers=bearer(api_client))
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    answer = client.get("/api/v1/catalogue/standards/999999", headers=bearer(api_client))
    assert answer.status_code == 404 and "999999" in answer.json()["message"]


def test_programmes_list_and_detail_show_what_the_portal_shows(client, catalogue, partner):
    api_client, _ = partner
    headers = bearer(api_client)
    found = client.get("/api/v1/catalogue/programmes?q=db", headers=headers).json()
    assert "dibao" in [p["code"] for p in found]
    detail = client.get("/api/v1/catalogue/programmes/dibao?county=371602", headers=headers).json()
    assert detail["name"] == next(p["name"] for p in found if p["code"] == "dibao")
    assert detail["criteria"] and detail["standards"]
    assert all(isinstance(line["urban_fen"], int) for line in detail["standards"])


def test_the_management_command_creates_rotates_and_disables(client, org):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command(
        "ejia_api_client", "create", "--client-id", "cmd", "--kind", "partner", "--scope", "catalogue:read", stdout=out
    )
    secret = out.getvalue().split("：")[-1].strip()
    assert token_via(client, "cmd", secret)["status"] == 200
    call_command("ejia_api_client", "disable", "--client-id", "cmd", stdout=out)
    assert token_via(client, "cmd", secret)["status"] == 401


def test_a_body_over_the_upload_limit_is_a_json_400(client, partner, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = client.post(
        "/api/v1/catalogue/self-check",
        data=json.dumps({"answers": {"x": "y" * 2000}}),
        content_type="application/json",
        headers=bearer(partner[0]),
    )
    assert answer.status_code == 400 and answer.json()["code"] == "bad_request"
    assert "请求体过大" in answer.json()["message"]
