"""A department's system pushes a source's records: the same validation, snapshots and guard
as a file; accepted + rejected = records."""

from __future__ import annotations

import json

import pytest

from ejia.accounts.policies import ApiScope
from ejia.api.models import ApiClient
from ejia.api.services import client_create
from ejia.api.tests.conftest import bearer
from ejia.verification.models import SourceRecord, SourceSnapshot
from ejia.verification.sources import sources_seed
from ejia.verification.tests.conftest import VALID_IDS

URL = "/api/v1/exchange/mz_civil/records"


@pytest.fixture
def civil_system(org, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    sources_seed()
    client, _ = client_create(
        actor=None,
        name="民政婚姻登记系统",
        kind=ApiClient.Kind.DEPARTMENT,
        client_id="mz-civil",
        scopes=[ApiScope.EXCHANGE_PUSH],
        sources=["mz_civil"],
    )
    return client


def record(i: int, **extra) -> dict:
    return {"证件号码": VALID_IDS[i], "name": "张三", "事件类型": "死亡", "事件日期": "2025-01-01", **extra}


def push(client, api_client, records, *, source_url=URL, **extra):
    return client.post(
        source_url,
        json.dumps({"records": records, **extra}),
        content_type="application/json",
        headers=bearer(api_client),
    )


def test_a_push_becomes_the_sources_snapshot_with_every_record_accounted_for(client, civil_system, tmp_path):
    records = [record(i) for i in range(5)] + [record(5, 事件日期="2025-13-01"), {**record(6), "证件号码": "123"}]
    answer = push(client, civil_system, records)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["status"] == "committed" and body["rows"] == len(records)
    assert (body["accepted"], body["rejected"]) == (5, 2)
    assert [r["index"] for r in body["rejected_rows"]] == [5, 6]
    assert all(r["reasons"] for r in body["rejected_rows"])
    snapshot = SourceSnapshot.objects.get(public_id=body["snapshot_id"])
    assert snapshot.file_name == "api:mz-civil" and SourceRecord.objects.filter(snapshot=snapshot).count() == 5
    assert not any((tmp_path / "var" / "exchange-api").iterdir())  # the spooled file is gone


def test_the_commit_guard_applies_to_a_push(client, civil_system):
    assert push(client, civil_system, [record(i) for i in range(20)]).status_code == 201
    refused = push(client, civil_system, [record(0)])
    assert refused.status_code == 409 and refused.json()["code"] == "commit_refused"
    with_reason = push(client, civil_system, [record(0)], override_reason="本月仅一条新增登记，部门确认")
    assert with_reason.status_code == 201


def test_only_the_registered_sources_and_known_columns(client, civil_system):
    other = push(client, civil_system, [record(0)], source_url="/api/v1/exchange/gongan_population/records")
    assert other.status_code == 403
    unknown = push(client, civil_system, [{**record(0), "血型": "A"}])
    assert unknown.status_code == 422 and unknown.json()["field"] == "body.records.0.血型"
    assert push(client, civil_system, [record(0)], source_url="/api/v1/exchange/nope/records").status_code == 404
    empty = push(client, civil_system, [{"name": ""}])
    assert empty.status_code == 422 and empty.json()["field"] == "body.records.0"
