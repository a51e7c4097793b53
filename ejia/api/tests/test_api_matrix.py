"""The authorisation matrix for API clients: every operation × kind of client and scope →
the expected status (like ejia/accounts/tests/test_access_matrix.py for the pages).

One test walks the whole table and reports every cell that differs, so a change of policy
shows as a readable diff. Every operation of the API must appear (checked against the
mounted routers), so a new endpoint cannot skip the matrix."""

from __future__ import annotations

import json
import uuid

import pytest

from ejia.accounts.policies import ApiScope
from ejia.api.models import ApiClient
from ejia.api.services import client_create, client_set_active
from ejia.api.tests.conftest import bearer
from ejia.api.tests.test_operations import operations
from ejia.portal.tests.test_selfcheck import POOR_FAMILY
from ejia.verification.sources import sources_seed
from ejia.verification.tests.conftest import VALID_IDS

NOBODY = str(uuid.UUID(int=1))
CIVIL_RECORD = {"证件号码": VALID_IDS[0], "姓名": "张三", "事件类型": "死亡", "事件日期": "2025-01-01"}

# (method, path as mounted, concrete URL, JSON body)
CALLS = [
    ("GET", "/catalogue/programmes", "/api/v1/catalogue/programmes", None),
    ("GET", "/catalogue/programmes/{code}", "/api/v1/catalogue/programmes/dibao", None),
    ("GET", "/catalogue/standards/{county}", "/api/v1/catalogue/standards/371602", None),
    ("GET", "/catalogue/self-check/questions", "/api/v1/catalogue/self-check/questions", None),
    ("POST", "/catalogue/self-check", "/api/v1/catalogue/self-check", {"answers": POOR_FAMILY}),
    ("POST", "/exchange/{source}/records", "/api/v1/exchange/mz_civil/records", {"records": [CIVIL_RECORD]}),
    ("GET", "/department/requests", "/api/v1/department/requests", None),
    ("GET", "/department/requests/{request_id}", f"/api/v1/department/requests/{NOBODY}", None),
    (
        "POST",
        "/department/requests/{request_id}/decision",
        f"/api/v1/department/requests/{NOBODY}/decision",
        {"decision": "refuse", "reason": "不符合条件"},
    ),
    ("POST", "/app/sms-code", "/api/v1/app/sms-code", {"phone": "13700004444"}),
    ("POST", "/app/token", "/api/v1/app/token", {"phone": "13700004444", "code": "abc"}),
    ("POST", "/app/logout", "/api/v1/app/logout", {}),
    ("GET", "/app/me/applications", "/api/v1/app/me/applications", None),
    ("GET", "/app/me/applications/{public_id}", f"/api/v1/app/me/applications/{NOBODY}", None),
    ("POST", "/app/me/applications", "/api/v1/app/me/applications", {}),
    (
        "POST",
        "/app/me/applications/{public_id}/withdraw",
        f"/api/v1/app/me/applications/{NOBODY}/withdraw",
        {"confirmed": True},
    ),
    ("GET", "/app/me/households", "/api/v1/app/me/households", None),
    (
        "GET",
        "/app/me/households/{household_id}/decisions",
        f"/api/v1/app/me/households/{NOBODY}/decisions",
        None,
    ),
    ("GET", "/app/me/households/{household_id}/payments", f"/api/v1/app/me/households/{NOBODY}/payments", None),
    ("POST", "/dci/registry/sync/search", "/api/v1/dci/registry/sync/search", {}),
    ("POST", "/dci/registry/search", "/api/v1/dci/registry/search", {}),
    ("POST", "/dci/registry/txn/status", "/api/v1/dci/registry/txn/status", {}),
    ("POST", "/dci/registry/sync/txn/status", "/api/v1/dci/registry/sync/txn/status", {}),
    ("POST", "/dci/registry/subscribe", "/api/v1/dci/registry/subscribe", {}),
    ("POST", "/dci/registry/unsubscribe", "/api/v1/dci/registry/unsubscribe", {}),
]
CATALOGUE = {c[1] for c in CALLS if c[1].startswith("/catalogue/")}
EXCHANGE = {"/exchange/{source}/records"}
DEPARTMENT = {c[1] for c in CALLS if c[1].startswith("/department/")}
APP = {"/app/sms-code", "/app/token"}
# A citizen's own token only (test_app.py): every client token is 401 there.
CITIZEN = {c[1] for c in CALLS if c[1].startswith("/app/")} - APP
# DCI answers in the spec's own shapes (an empty body is an ERR acknowledgement, 400).
DCI = {c[1] for c in CALLS if c[1].startswith("/dci/")}
# What a client that may call an operation gets with this data (no case exists: the detail
# and the decision of an unknown request are 404 to those who may ask).
ALLOWED = {
    **dict.fromkeys(CATALOGUE, 200),
    "/exchange/{source}/records": 201,
    "/department/requests": 200,
    "/department/requests/{request_id}": 404,
    "/department/requests/{request_id}/decision": 404,
    "/app/sms-code": 202,
    "/app/token": 422,  # the code is wrong
    **dict.fromkeys(DCI, 400),
}


def expected(allowed: set[str]) -> dict[str, int]:
    return {path: 401 if path in CITIZEN else ALLOWED[path] if path in allowed else 403 for _, path, _, _ in CALLS}


# client → (the operations it may call); the statuses follow from ALLOWED.
MATRIX = {
    "anonymous": None,  # no token: 401 everywhere
    "disabled partner": None,  # a token of a client since disabled: 401
    "partner (catalogue:read)": CATALOGUE,
    "partner registry (dci:search)": DCI,
    "citizens' app (catalogue:read, app:citizen)": CATALOGUE | APP,
    "department approver system (department:requests)": DEPARTMENT,
    "department pusher (exchange:push, its source)": EXCHANGE,
    "department pusher of another source": set(),
    "department system, token narrowed to catalogue:read": CATALOGUE,
}


@pytest.fixture
def clients(catalogue, settings, tmp_path):
    from conftest import _unit

    settings.VAR_DIR = tmp_path / "var"
    sources_seed()
    yb = _unit("371602", "department", "yb")

    def make(client_id, kind, scopes, **extra):
        return client_create(actor=None, name=client_id, kind=kind, client_id=client_id, scopes=scopes, **extra)[0]

    partner = make("partner", ApiClient.Kind.PARTNER, [ApiScope.CATALOGUE_READ])
    registry = make("registry", ApiClient.Kind.PARTNER, [ApiScope.DCI_SEARCH])
    disabled = make("disabled", ApiClient.Kind.PARTNER, [ApiScope.CATALOGUE_READ])
    disabled_token = bearer(disabled)
    client_set_active(actor=None, client_id="disabled", active=False)
    app = make("app", ApiClient.Kind.CITIZEN_APP, [ApiScope.CATALOGUE_READ, ApiScope.CITIZEN_APP])
    approver = make("approver", ApiClient.Kind.DEPARTMENT, [ApiScope.DEPARTMENT_REQUESTS], unit=yb)
    pusher = make("pusher", ApiClient.Kind.DEPARTMENT, [ApiScope.EXCHANGE_PUSH], sources=["mz_civil"])
    other = make("other", ApiClient.Kind.DEPARTMENT, [ApiScope.EXCHANGE_PUSH], sources=["gongan_vehicles"])
    full = make(
        "full",
        ApiClient.Kind.DEPARTMENT,
        [ApiScope.CATALOGUE_READ, ApiScope.DEPARTMENT_REQUESTS, ApiScope.EXCHANGE_PUSH],
        unit=yb,
        sources=["mz_civil"],
    )
    return {
        "anonymous": {},
        "disabled partner": disabled_token,
        "partner (catalogue:read)": bearer(partner),
        "partner registry (dci:search)": bearer(registry),
        "citizens' app (catalogue:read, app:citizen)": bearer(app),
        "department approver system (department:requests)": bearer(approver),
        "department pusher (exchange:push, its source)": bearer(pusher),
        "department pusher of another source": bearer(other),
        "department system, token narrowed to catalogue:read": bearer(full, [ApiScope.CATALOGUE_READ]),
    }


def test_every_operation_is_in_the_matrix():
    mounted = {(sorted(op.methods)[0], path) for path, op in operations() if path != "/oauth2/client/token"}
    assert mounted == {(method, path) for method, path, _, _ in CALLS}


def test_the_authorisation_matrix(client, clients):
    wrong = []
    for who, allowed in MATRIX.items():
        want = {path: 401 for _, path, _, _ in CALLS} if allowed is None else expected(allowed)
        for method, path, url, body in CALLS:
            headers = clients[who]
            if method == "GET":
                answer = client.get(url, headers=headers)
            else:
                answer = client.post(url, json.dumps(body), content_type="application/json", headers=headers)
            if answer.status_code != want[path]:
                wrong.append(f"{who}: {method} {path} → {answer.status_code}, expected {want[path]}")
            elif answer.status_code >= 400 and not (path in DCI and answer.status_code == 400):
                assert set(answer.json()) == {"code", "message", "field", "details"}
    assert wrong == []
