"""The citizens' app reads its own household's decisions and payments, made by the real
services: a window clerk approves, the county builds and releases the month's batch, the bank's
answer is imported. Another citizen's household is 404, a client token is 401."""

from __future__ import annotations

import csv
import io

import pytest
from django.utils import timezone

from ejia.api.tests.conftest import bearer
from ejia.api.tests.test_app import OTHER, PHONE, login
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.tests.conftest import submit_case  # noqa: F401
from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.tests.conftest import grace  # noqa: F401

pytestmark = pytest.mark.django_db
BASE = "/api/v1/app/me/households"
ACCOUNT = {"bank_name": "滨州农商银行", "account_number": "6228480000000000123"}


def bank_answer(*rows) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["交易流水号", "金额（元）", "结果", "银行流水号", "说明"])
    w.writerows(rows)
    return out.getvalue().encode("utf-8")


def decide(case, code, actor, **approve):
    procedure = RequestProcedure.objects.get(case=case, request__programme__code=code)
    return wf.procedure_approve(actor=actor, procedure_id=procedure.pk, expected_version=procedure.version, **approve)


def test_a_citizen_reads_the_decisions_and_payments_of_their_own_household(
    client,
    submit_case,  # noqa: F811
    bob,
    dave,
    grace,  # noqa: F811
    app_client,
):
    mine = submit_case(programmes=("linshi",), phone=PHONE, **ACCOUNT)
    theirs = submit_case(programmes=("linshi",), phone=OTHER, **ACCOUNT)
    decide(mine, "linshi", bob, amount_fen=80000, amount_change_reason="先行救助")
    decide(theirs, "linshi", bob, amount_fen=50000, amount_change_reason="先行救助")
    me = login(client, app_client)

    households = client.get(BASE, headers=me)
    assert households.status_code == 200, households.content
    assert [h["id"] for h in households.json()] == [str(mine.household.public_id)]
    assert households.json()[0]["head"] == "张*山" and households.json()[0]["members"] == 2
    mine_url, theirs_url = f"{BASE}/{mine.household.public_id}", f"{BASE}/{theirs.household.public_id}"

    decisions = client.get(f"{mine_url}/decisions", headers=me).json()
    assert [(d["application"], d["programme_code"], d["outcome"], d["amount_fen"]) for d in decisions] == [
        (mine.reference, "linshi", "approved", 80000)
    ]
    assert decisions[0]["decided_on"] == timezone.localdate().isoformat() and decisions[0]["reasons"] == ""
    # Nothing is paid before the county releases a batch: a built batch may still change.
    month = timezone.localdate().replace(day=1)
    batch = batch_build(actor=dave, county="371602", period=month)
    assert client.get(f"{mine_url}/payments", headers=me).json() == []

    batch = batch_release(actor=grace, batch=batch)
    bank_file_export(actor=grace, batch=batch)
    pending = client.get(f"{mine_url}/payments", headers=me).json()
    assert [(p["month"], p["kind"], p["amount_fen"], p["status"]) for p in pending] == [
        (f"{month:%Y-%m}", "regular", 80000, "pending")
    ]
    assert pending[0]["account"] == "6228***********0123" and pending[0]["items"] == [
        {"month": f"{month:%Y-%m}", "programme_code": "linshi", "programme": "临时救助", "amount_fen": 80000}
    ]
    my_line = batch.lines.get(household=mine.household)
    their_line = batch.lines.get(household=theirs.household)
    bank_return_import(
        actor=grace,
        batch=batch,
        data=bank_answer(
            [my_line.reference, "800.00", "失败", "B1", "账户已冻结"],
            [their_line.reference, "500.00", "成功", "B2", ""],
        ),
    )
    answered = client.get(f"{mine_url}/payments", headers=me).json()
    assert [(p["reference"], p["status"], p["status_label"]) for p in answered] == [
        (my_line.reference, "failed", "发放失败")
    ]
    assert answered[0]["failure_reason"] == "账户已冻结"

    # Another household's decisions and payments do not exist for this citizen.
    assert client.get(f"{theirs_url}/decisions", headers=me).status_code == 404
    assert client.get(f"{theirs_url}/payments", headers=me).json()["code"] == "not_found"
    theirs_me = login(client, app_client, OTHER)
    paid = client.get(f"{theirs_url}/payments", headers=theirs_me).json()
    assert [(p["status"], p["bank_amount_fen"]) for p in paid] == [("paid", 50000)]
    # The app's own client token is not a citizen's.
    assert client.get(f"{mine_url}/payments", headers=bearer(app_client)).status_code == 401


def test_a_refusal_shows_its_reasons(client, submit_case, bob, app_client):  # noqa: F811
    case = submit_case(programmes=("linshi",), phone=PHONE)
    procedure = RequestProcedure.objects.get(case=case)
    wf.procedure_refuse(
        actor=bob, procedure_id=procedure.pk, expected_version=procedure.version, reasons="家庭收入高于标准"
    )
    me = login(client, app_client)
    decisions = client.get(f"{BASE}/{case.household.public_id}/decisions", headers=me).json()
    assert [(d["outcome"], d["outcome_label"], d["amount_fen"], d["reasons"]) for d in decisions] == [
        ("refused", "不予批准", None, "家庭收入高于标准")
    ]


def test_the_lists_cost_the_same_queries_for_one_application_or_three(
    client,
    submit_case,  # noqa: F811
    app_client,
    settings,
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.EJIA_API_AUTH_CACHE_SECONDS = 0  # every call looks its token up (test_credentials)
    submit_case(programmes=("linshi",), phone=PHONE, **ACCOUNT)
    me = login(client, app_client)

    def queries(path):
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path, headers=me).status_code == 200
        return len(captured)

    one = {path: queries(path) for path in (BASE, "/api/v1/app/me/applications")}
    for _ in range(2):
        submit_case(programmes=("linshi",), phone=PHONE)
    assert len(client.get("/api/v1/app/me/applications", headers=me).json()) == 3
    assert len(client.get(BASE, headers=me).json()) == 3
    assert {path: queries(path) for path in one} == one
