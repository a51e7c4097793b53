"""What one call of the citizens' app costs in queries, pinned (issue #20: ≥ 200 calls/s of the
app mix on two cores). Each operation is called once to warm what a worker keeps between calls
(the citizen's credentials, the engine, the active programmes), then counted on its next call,
as the load bench (`bench/bench_api_app.py`) sees it. A change that adds a query to any of them
fails here; lower a number when a change saves one."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection

from ejia.api.tests.conftest import bearer
from ejia.api.tests.test_app import PHONE, application, login, post
from ejia.api.tests.test_app_household import ACCOUNT, bank_answer, decide
from ejia.cases.workflow.tests.conftest import procedures, submit_case  # noqa: F401
from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.tests.conftest import grace  # noqa: F401
from ejia.portal.tests.test_selfcheck import POOR_FAMILY
from ejia.registry.tests.factories import new_id, village

pytestmark = pytest.mark.django_db

# Queries of one call, after the warm-up call: the access log's INSERT included.
READS = {
    "/me/applications": 4,
    "/me/applications/{case}": 4,
    "/me/households": 3,
    "/me/households/{household}/decisions": 3,
    "/me/households/{household}/payments": 4,
}
PROGRAMMES, SELF_CHECK = 3, 8
# A write appends to the audit chain: on PostgreSQL the event's INSERT and the head's UPDATE
# are one statement (ejia.core.audit), on SQLite two.
SUBMIT = {"postgresql": 107, "sqlite": 114}
WITHDRAW = {"postgresql": 23, "sqlite": 25}


def test_each_read_of_the_app_costs_its_pinned_queries(
    client,
    submit_case,  # noqa: F811
    bob,
    dave,
    grace,  # noqa: F811
    app_client,
    django_assert_max_num_queries,
):
    case = submit_case(programmes=("linshi",), phone=PHONE, **ACCOUNT)
    decide(case, "linshi", bob, amount_fen=80000, amount_change_reason="先行救助")
    batch = batch_build(actor=dave, county="371602", period=dt.date.today().replace(day=1))
    batch = batch_release(actor=grace, batch=batch)
    bank_file_export(actor=grace, batch=batch)
    line = batch.lines.get(household=case.household)
    bank_return_import(actor=grace, batch=batch, data=bank_answer([line.reference, "800.00", "成功", "B1", ""]))
    me = login(client, app_client)
    for path, most in READS.items():
        url = "/api/v1/app" + path.format(case=case.public_id, household=case.household.public_id)
        assert client.get(url, headers=me).status_code == 200
        with django_assert_max_num_queries(most):
            answer = client.get(url, headers=me)
        assert answer.status_code == 200 and answer.json(), (path, answer.content)
    app = bearer(app_client)
    assert client.get("/api/v1/catalogue/programmes", headers=app).status_code == 200
    with django_assert_max_num_queries(PROGRAMMES):
        assert client.get("/api/v1/catalogue/programmes", headers=app).status_code == 200
    check = json.dumps({"answers": POOR_FAMILY})
    url = "/api/v1/catalogue/self-check"
    assert client.post(url, check, content_type="application/json", headers=app).status_code == 200
    with django_assert_max_num_queries(SELF_CHECK):
        assert client.post(url, check, content_type="application/json", headers=app).status_code == 200


def test_a_submit_and_its_withdrawal_cost_their_pinned_queries(
    client,
    catalogue,
    procedures,  # noqa: F811 (the application enters its procedure, as in the bench)
    app_client,
    django_assert_max_num_queries,
):
    me = login(client, app_client)
    code = village().code

    def submit_and_withdraw(key: str, *, submit_most: int | None = None, withdraw_most: int | None = None):
        body = application(new_id(), new_id(dt.date(2015, 3, 3)), code)
        if submit_most is None:
            made = post(client, "/me/applications", body, {**me, "Idempotency-Key": key})
        else:
            with django_assert_max_num_queries(submit_most):
                made = post(client, "/me/applications", body, {**me, "Idempotency-Key": key})
        assert made.status_code == 201, made.content
        path = f"/me/applications/{made.json()['id']}/withdraw"
        if withdraw_most is None:
            done = post(client, path, {"confirmed": True, "reason": "已找到工作"}, me)
        else:
            with django_assert_max_num_queries(withdraw_most):
                done = post(client, path, {"confirmed": True, "reason": "已找到工作"}, me)
        assert done.status_code == 200, done.content
        assert done.json()["application"]["status"] == "withdrawn"

    submit_and_withdraw("warm-up")
    vendor = connection.vendor
    submit_and_withdraw("counted", submit_most=SUBMIT[vendor], withdraw_most=WITHDRAW[vendor])
