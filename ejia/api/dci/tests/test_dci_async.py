"""The async DCI forms over HTTP: registry/search answers ACK and posts on-search to the partner's
callback address (a loopback HTTP server here), txn/status and its sync form read the
transaction back, failed callbacks are retried and, when they give up, stay as failed rows."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core.exceptions import ValidationError

from ejia.accounts.policies import ApiScope
from ejia.api.auth import token_issue
from ejia.api.dci import envelope as env
from ejia.api.dci import signing
from ejia.api.dci.delivery import MAX_ATTEMPTS, deliveries_send, delivery_retry
from ejia.api.dci.search import receiver_id
from ejia.api.dci.tests import test_dci
from ejia.api.dci.tests.test_dci import ACK, PARTNER_KEY, by_id, jwks, spec_validator
from ejia.api.models import ApiClient, DciDelivery, DciTransaction
from ejia.api.services import client_create, client_set_callback_uri, client_set_jwks
from ejia.core.models import AuditEvent

pytestmark = pytest.mark.django_db
family = test_dci.family  # the sync tests' household of two (a fixture)

ON_SEARCH = "#/paths/~1registry~1on-search/post/requestBody/content/application~1json/schema"
SEARCH_REQUEST = "#/paths/~1registry~1search/post/requestBody/content/application~1json/schema"
STATUS_REQUEST = "#/paths/~1registry~1sync~1txn~1status/post/requestBody/content/application~1json/schema"
CALLBACK_HEADER = "#/components/schemas/MsgCallbackHeader_V1.0.0"


class Receiver:
    """A partner's callback endpoint on 127.0.0.1: records every POST, answers the queued statuses."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict]] = []
        self.statuses: list[int] = []
        self.base = ""


@pytest.fixture
def receiver():
    got = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            got.received.append((self.path, json.loads(body)))
            self.send_response(got.statuses.pop(0) if got.statuses else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    got.base = f"http://127.0.0.1:{server.server_port}/dci"
    yield got
    server.shutdown()
    server.server_close()


@pytest.fixture
def registry(org, receiver):
    """The province's registry: DCI scope, its public key, its callback address."""
    client, _ = client_create(
        actor=None,
        name="省社会救助登记系统",
        kind=ApiClient.Kind.PARTNER,
        client_id="spmis-shandong",
        scopes=[ApiScope.DCI_SEARCH],
        agreement_fields=["name", "member_list"],
    )
    client_set_jwks(actor=None, client_id=client.client_id, jwks=jwks())
    return client_set_callback_uri(actor=None, client_id=client.client_id, uri=receiver.base)


def message_envelope(action: str, message: dict, *, sender_uri: str | None = None, total: int = 1) -> dict:
    header = {
        "version": "1.0.0",
        "message_id": env.new_id(),
        "message_ts": "2026-12-04T10:00:00+08:00",
        "action": action,
        "sender_id": "spmis-shandong",
        "receiver_id": receiver_id(),
        "total_count": total,
        "is_msg_encrypted": False,
    }
    if sender_uri:
        header["sender_uri"] = sender_uri
    signature = signing.sign(header, message, private_key=PARTNER_KEY, kid="k1")
    return {"signature": signature, "header": header, "message": message}


def search_envelope(number: str, *, transaction_id: str = "t-1", sender_uri: str | None = None) -> dict:
    message = {
        "transaction_id": transaction_id,
        "search_request": [
            {"reference_id": "r-0", "timestamp": "2026-12-04T10:00:00+08:00", "search_criteria": by_id(number)}
        ],
    }
    return message_envelope("search", message, sender_uri=sender_uri)


def status_envelope(attribute_type: str, value, *, sender_uri: str | None = None) -> dict:
    message = {
        "transaction_id": "s-1",
        "txnstatus_request": {
            "reference_id": "q-1",
            "txn_type": "search",
            "attribute_type": attribute_type,
            "attribute_value": value,
        },
    }
    return message_envelope("txn-status", message, sender_uri=sender_uri)


def post(client, api_client, path: str, body: dict):
    token, _, _ = token_issue(api_client)
    return client.post(
        f"/api/v1/dci/registry/{path}",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def our_keys(client) -> dict:
    return client.get("/.well-known/jwks.json").json()


def test_async_search_acks_then_posts_a_signed_on_search_with_the_same_ids(
    client, family, registry, receiver, django_capture_on_commit_callbacks
):
    _, head_id, _ = family
    body = search_envelope(head_id, sender_uri=receiver.base + "/shandong")
    spec_validator(SEARCH_REQUEST).validate(body)
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, registry, "search", body)
    assert answer.status_code == 200, answer.content
    spec_validator(ACK).validate(answer.json())
    ack = answer.json()["message"]
    assert ack["ack_status"] == "ACK"

    [(path, callback)] = receiver.received
    assert path == "/dci/shandong/registry/on-search"
    spec_validator(ON_SEARCH).validate(callback)
    assert callback["header"]["action"] == "on-search" and callback["header"]["status"] == "succ"
    assert callback["header"]["receiver_id"] == "spmis-shandong"
    assert callback["message"]["transaction_id"] == "t-1"
    assert callback["message"]["correlation_id"] == ack["correlation_id"]
    assert signing.verify(callback["signature"], callback["header"], callback["message"], jwks=our_keys(client))
    [found] = callback["message"]["search_response"]
    assert found["reference_id"] == "r-0" and found["status"] == "succ"
    assert found["data"]["reg_records"][0]["member_list"][0]["demographic_info"]["name"]["given_name"] == "李建国"
    assert DciDelivery.objects.get().status == DciDelivery.Status.SENT

    # The same transaction again: the first ACK, nothing searched or sent twice.
    with django_capture_on_commit_callbacks(execute=True):
        again = post(client, registry, "search", body)
    assert again.json()["message"]["correlation_id"] == ack["correlation_id"]
    assert len(receiver.received) == 1 and DciTransaction.objects.count() == 1
    # The same transaction_id with another message is refused.
    other = post(client, registry, "search", search_envelope(family[2]))
    assert other.status_code == 409 and other.json()["message"]["error"]["code"] == env.ERR_REQUEST_BAD


def test_txn_status_reads_the_transaction_back_sync_and_async(
    client, family, registry, receiver, django_capture_on_commit_callbacks
):
    _, head_id, _ = family
    with django_capture_on_commit_callbacks(execute=True):
        ack = post(client, registry, "search", search_envelope(head_id)).json()["message"]
    on_search = receiver.received[0][1]["message"]

    for attribute_type, value in (
        ("transaction_id", "t-1"),
        ("correlation_id", ack["correlation_id"]),
        ("reference_id_list", ["r-0"]),
    ):
        body = status_envelope(attribute_type, value)
        if isinstance(value, list):
            # The spec's attribute_value is oneOf two plain strings (transaction_id, correlation_id):
            # a string always matches both, so only the list form can validate (docs/dci.md).
            spec_validator(STATUS_REQUEST).validate(body)
        answer = post(client, registry, "sync/txn/status", body)
        assert answer.status_code == 200, answer.content
        status = answer.json()
        spec_validator(CALLBACK_HEADER).validate(status["header"])
        assert status["header"]["action"] == "txn-on-status" and status["header"]["status"] == "succ"
        assert signing.verify(status["signature"], status["header"], status["message"], jwks=our_keys(client))
        assert status["message"]["transaction_id"] == "s-1"
        assert status["message"]["txnstatus_response"] == {"txn_type": "search", "txn_status": on_search}

    unknown = post(client, registry, "sync/txn/status", status_envelope("transaction_id", "nope"))
    assert unknown.status_code == 404 and unknown.json()["message"]["error"]["code"] == env.ERR_NOT_FOUND

    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, registry, "txn/status", status_envelope("transaction_id", "t-1"))
    status_ack = answer.json()["message"]
    assert answer.status_code == 200 and status_ack["ack_status"] == "ACK"
    path, callback = receiver.received[-1]
    assert path == "/dci/registry/txn/on-status"
    assert callback["message"]["correlation_id"] == status_ack["correlation_id"]
    assert callback["message"]["txnstatus_response"]["txn_status"] == on_search
    assert signing.verify(callback["signature"], callback["header"], callback["message"], jwks=our_keys(client))


def test_a_failing_callback_is_retried_and_when_it_gives_up_stays_visible(
    client, family, registry, receiver, django_capture_on_commit_callbacks
):
    _, head_id, _ = family
    receiver.statuses = [500] * MAX_ATTEMPTS
    with django_capture_on_commit_callbacks(execute=True):
        post(client, registry, "search", search_envelope(head_id))
    delivery = DciDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("pending", 1, "HTTP 500")
    assert delivery.next_attempt_at is not None
    # Not due yet: nothing is posted before the backoff has passed.
    assert deliveries_send().due == 0
    for _ in range(MAX_ATTEMPTS - 1):
        DciDelivery.objects.update(next_attempt_at=None)
        deliveries_send()
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("failed", MAX_ATTEMPTS, "HTTP 500")
    assert len(receiver.received) == MAX_ATTEMPTS
    assert AuditEvent.objects.filter(action="api.dci.delivery_failed").count() == 1
    # The answer itself is kept: the partner can still read it by txn/status.
    status = post(client, registry, "sync/txn/status", status_envelope("transaction_id", "t-1")).json()
    assert status["header"]["status"] == "succ"
    # An operator sends it again once the partner is back.
    with django_capture_on_commit_callbacks(execute=True):
        delivery_retry(actor=None, delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DciDelivery.Status.SENT and len(receiver.received) == MAX_ATTEMPTS + 1


def test_an_unreachable_partner_is_an_error_on_the_row(client, family, registry, django_capture_on_commit_callbacks):
    _, head_id, _ = family
    client_set_callback_uri(actor=None, client_id=registry.client_id, uri="http://127.0.0.1:9/nobody")
    registry.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        post(client, registry, "search", search_envelope(head_id))
    delivery = DciDelivery.objects.get()
    assert delivery.status == "pending" and delivery.last_error.startswith("无法连接")


def test_callbacks_go_only_under_the_registered_address(client, family, registry, receiver):
    _, head_id, _ = family
    elsewhere = post(client, registry, "search", search_envelope(head_id, sender_uri="http://127.0.0.1:1/x"))
    assert elsewhere.status_code == 400
    assert elsewhere.json()["message"]["error"]["code"] == env.ERR_SENDER_URI
    sneaky = post(client, registry, "search", search_envelope(head_id, sender_uri=receiver.base + "evil"))
    assert sneaky.json()["message"]["error"]["code"] == env.ERR_SENDER_URI
    client_set_callback_uri(actor=None, client_id=registry.client_id, uri="")
    registry.refresh_from_db()
    unregistered = post(client, registry, "search", search_envelope(head_id))
    assert unregistered.json()["message"]["error"]["code"] == env.ERR_SENDER_URI
    assert not DciTransaction.objects.exists() and not DciDelivery.objects.exists()
    for bad in ("http://partner.example.cn/cb", "ftp://127.0.0.1/x", "https://u:p@partner.example.cn/cb"):
        with pytest.raises(ValidationError):
            client_set_callback_uri(actor=None, client_id=registry.client_id, uri=bad)
