"""The citizens' app through the API alone: SMS login → submit → track → withdraw, and the
limits of a citizen's token (own applications only, idempotent submit, Chinese 422s)."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from django.utils import timezone

from ejia.accounts.policies import API_KIND_SCOPES, ApiScope
from ejia.api.models import AppSession
from ejia.api.services import client_set_active
from ejia.api.tests.conftest import bearer
from ejia.cases.models import Case, SmsCode
from ejia.cases.tests.conftest import signature_data_url
from ejia.core.models import AccessEvent
from ejia.core.sms import MemoryBackend
from ejia.registry.tests.factories import new_id, village

pytestmark = pytest.mark.django_db
PHONE, OTHER = "13700002222", "13900003333"
BASE = "/api/v1/app"


def post(client, path, body, headers):
    return client.post(BASE + path, json.dumps(body), content_type="application/json", headers=headers)


def login(client, app_client, phone=PHONE) -> dict[str, str]:
    SmsCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    sent = post(client, "/sms-code", {"phone": phone}, bearer(app_client))
    assert sent.status_code == 202, sent.content
    assert sent.json()["phone"] == phone[:3] + "****" + phone[-4:]
    code = re.search(r"验证码是(\d{6})", MemoryBackend.sent[-1][1]).group(1)
    answer = post(client, "/token", {"phone": phone, "code": code}, bearer(app_client))
    assert answer.status_code == 200, answer.content
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def application(me: str, child: str, code: str) -> dict:
    return {
        "name": "周敏",
        "id_number": me,
        "village_code": code,
        "address": "3号",
        "income_month_yuan": "600",
        "members": [{"name": "周小宝", "id_number": child, "relation": "20", "income_month_yuan": "0"}],
        "needs": ["daily_living", "schooling"],
        "programmes": ["dibao"],
        "signatures": {me: signature_data_url()},
    }


def test_the_app_flow_login_submit_track_withdraw_logout(client, catalogue, app_client):
    me = login(client, app_client)
    body = application(new_id(), new_id(dt.date(2015, 3, 3)), village().code)
    headers = {**me, "Idempotency-Key": "k-1"}
    made = post(client, "/me/applications", body, headers)
    assert made.status_code == 201, made.content
    case = Case.objects.get()
    assert case.channel == "self_service" and case.phone == PHONE and case.submitted_by is None
    out = made.json()
    assert out["reference"] == case.reference and out["applicant"] == "周*" and out["withdrawable"]
    assert [r["programme_code"] for r in out["requests"]] == ["dibao"] and out["awaiting"] == "调查核实"
    # Same key, same body: the same answer, one case; same key, another body: 409.
    again = post(client, "/me/applications", body, headers)
    assert again.status_code == 201 and again.json()["id"] == out["id"] and Case.objects.count() == 1
    other = post(client, "/me/applications", {**body, "needs": ["illness"]}, headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    # Without a key: refused.
    assert post(client, "/me/applications", body, me).status_code == 400
    listed = client.get(BASE + "/me/applications", headers=me).json()
    assert [a["reference"] for a in listed] == [case.reference]
    one = client.get(f"{BASE}/me/applications/{case.public_id}", headers=me).json()
    assert one["stages"][0]["name"] == "受理" and one["stages"][0]["done_on"]
    refused = post(client, f"/me/applications/{case.public_id}/withdraw", {"confirmed": False}, me)
    assert refused.status_code == 422 and refused.json()["message"].startswith("确认撤回：")
    done = post(client, f"/me/applications/{case.public_id}/withdraw", {"confirmed": True, "reason": "已找到工作"}, me)
    assert done.status_code == 200, done.content
    assert [r["status"] for r in done.json()["withdrawn"]] == ["withdrawn"]
    assert not done.json()["application"]["withdrawable"]
    # Every call of the citizen is in the access log under the app, naming the phone masked.
    calls = AccessEvent.objects.filter(action="api.call", data__path=BASE + "/me/applications")
    assert calls.count() == 5 and {c.data["phone"] for c in calls} == {"137****2222"}
    assert post(client, "/logout", {}, me).status_code == 204
    assert AppSession.objects.get().revoked_at is not None
    assert client.get(BASE + "/me/applications", headers=me).status_code == 401


def test_another_citizens_application_is_not_found_and_tokens_do_not_mix(client, catalogue, app_client, partner):
    # Only a citizens' app may hold the scope; another client's token is refused (403).
    assert ApiScope.CITIZEN_APP in API_KIND_SCOPES["citizen_app"]
    assert all(ApiScope.CITIZEN_APP not in API_KIND_SCOPES[k] for k in ("department", "partner"))
    assert post(client, "/sms-code", {"phone": PHONE}, bearer(partner[0])).status_code == 403
    mine = login(client, app_client)
    body = application(new_id(), new_id(dt.date(2015, 3, 3)), village().code)
    case_id = post(client, "/me/applications", body, {**mine, "Idempotency-Key": "a"}).json()["id"]
    theirs = login(client, app_client, OTHER)
    assert client.get(BASE + "/me/applications", headers=theirs).json() == []
    assert client.get(f"{BASE}/me/applications/{case_id}", headers=theirs).status_code == 404
    stolen = post(client, f"/me/applications/{case_id}/withdraw", {"confirmed": True}, theirs)
    assert stolen.status_code == 404 and Case.objects.get().requests.get().is_open
    # The app's client token is not a citizen's token, and a citizen's token does not ask for codes.
    assert client.get(BASE + "/me/applications", headers=bearer(app_client)).status_code == 401
    assert post(client, "/sms-code", {"phone": PHONE}, mine).status_code == 401
    # A disabled app: its citizens' tokens stop at the next call (in another worker process
    # within EJIA_API_AUTH_CACHE_SECONDS: test_credentials).
    client_set_active(actor=None, client_id=app_client.client_id, active=False)
    assert client.get(BASE + "/me/applications", headers=mine).status_code == 401


def test_bad_input_is_422_naming_the_field_in_chinese(client, catalogue, app_client):
    assert post(client, "/sms-code", {"phone": "123"}, bearer(app_client)).json()["message"].startswith("手机号：")
    wrong = post(client, "/token", {"phone": PHONE, "code": "000000"}, bearer(app_client))
    assert wrong.status_code == 422 and wrong.json()["field"] == "body.code"
    me = login(client, app_client)
    missing = post(client, "/me/applications", {"name": "周敏"}, {**me, "Idempotency-Key": "m"})
    assert missing.status_code == 422 and missing.json()["field"] == "body.id_number"
    assert "身份证号码" in missing.json()["message"]
    body = application(new_id(), "37160220150303001X", village().code)
    bad = post(client, "/me/applications", body, {**me, "Idempotency-Key": "b"})
    assert bad.status_code == 422 and bad.json()["field"] == "body.members.0.id_number"
    assert bad.json()["message"].startswith("身份证号码：")
    unsigned = post(
        client,
        "/me/applications",
        {**application(new_id(), new_id(dt.date(2015, 3, 3)), village().code), "signatures": {}},
        {**me, "Idempotency-Key": "c"},
    )
    assert unsigned.status_code == 422 and unsigned.json()["message"].startswith("核对授权签名：")
    assert "周敏" in unsigned.json()["message"] and not Case.objects.exists()
    # A failed submit keeps nothing: the same key may be used again once put right.
    ok = post(
        client,
        "/me/applications",
        application(new_id(), new_id(dt.date(2015, 3, 3)), village().code),
        {**me, "Idempotency-Key": "c"},
    )
    assert ok.status_code == 201, ok.content
