"""The asynchronous DCI forms: `registry/search` (ACK now, `on-search` later to the partner's
sender_uri), `registry/txn/status` and its sync form `registry/sync/txn/status`.

An accepted async request is a DciTransaction row, created in the same transaction as its
audit event; the search runs in a django-tasks task queued on commit (ejia.api.tasks), which
stores the answer on the row and queues the signed callback (ejia.api.dci.delivery). The same
transaction_id with the same message is answered with the first ACK (nothing done twice);
with another message it is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ejia.accounts.policies import ApiScope
from ejia.api.dci import envelope as env
from ejia.api.dci import signing
from ejia.api.dci.delivery import delivery_enqueue
from ejia.api.dci.records import AGREEMENT_FIELDS, Agreement
from ejia.api.dci.search import Partner, check_envelope, receiver_id, search_answer, search_requests, signed
from ejia.api.keys import signing_key
from ejia.api.models import ApiClient, DciTransaction
from ejia.core import crypto
from ejia.core.audit import audit_record

logger = logging.getLogger("ejia.api.dci")

PURPOSE = "api.dci.transaction"
CITY_CODE = "371600"
SEARCH = "search"
# The spec spells the subscription type "subscibe" in TxnStatusRequest; both are understood.
TXN_TYPES = {"search": SEARCH}
ATTRIBUTE_TYPES = ("transaction_id", "correlation_id", "reference_id_list")
# How far back txn/status by reference_id_list looks among the partner's transactions.
REFERENCE_LOOKBACK = 500


def partner_of(client: ApiClient) -> Partner:
    """The partner as the DCI code sees it: its keys, its agreement, its area."""
    fields = AGREEMENT_FIELDS.intersection(client.agreement_fields or [])
    division = client.unit.division.code if client.unit_id else CITY_CODE
    return Partner(
        sender_id=client.client_id,
        jwks=client.jwks or {},
        agreement=Agreement.of(fields, mask_ids=client.agreement_mask_ids),
        division_code=division,
    )


def our_signature(header: dict, message: dict) -> str:
    key = signing_key()
    return signing.sign(header, message, private_key=key.private, kid=key.kid)


def callback_base(client: ApiClient, sender_uri: str | None) -> str:
    """Where this message's callbacks go: its sender_uri, which must lie under the callback
    address the partner registered (or that address itself when the message names none)."""
    registered = (client.callback_uri or "").rstrip("/")
    if not registered:
        raise env.DciError(
            env.ERR_SENDER_URI, "本客户端未登记回调地址，不能使用异步接口；请使用同步接口或先登记回调地址。"
        )
    if not sender_uri:
        return registered
    if sender_uri.rstrip("/") != registered and not sender_uri.startswith(registered + "/"):
        raise env.DciError(env.ERR_SENDER_URI, f"header.sender_uri 须在登记的回调地址 {registered} 之下。")
    return sender_uri.rstrip("/")


def _seal(document: Any) -> str:
    return crypto.encrypt(json.dumps(document, ensure_ascii=False), purpose=PURPOSE)


def _open(ciphertext: str) -> Any:
    return json.loads(crypto.decrypt(ciphertext, purpose=PURPOSE))


def _queue_search(pk: int) -> None:
    from ejia.api.tasks import dci_search_run

    try:
        dci_search_run.enqueue(pk)
    except Exception:  # the ACK is committed; the cron sweep (ejia_dci_deliver) runs it later
        logger.exception("could not queue DCI search %s; `manage.py ejia_dci_deliver` will run it", pk)


def search_accept(body: Any, *, client: ApiClient) -> tuple[int, dict[str, Any]]:
    """(HTTP status, acknowledgement) for an async search: ACK with the correlation_id, or ERR."""
    partner = partner_of(client)
    try:
        envelope = check_envelope(body, partner, action="search")
        transaction_id, requests = search_requests(envelope)
        base = callback_base(client, envelope.header.sender_uri)
    except env.DciError as exc:
        return exc.http_status, env.error_ack(exc)
    raw = {"signature": body.get("signature"), "header": body["header"], "message": body["message"]}
    digest = hashlib.sha256(signing.canonical(body["header"], body["message"])).hexdigest()
    references = [str(r.get("reference_id")) for r in requests if isinstance(r, dict) and r.get("reference_id")]
    try:
        with transaction.atomic():
            txn = DciTransaction.objects.create(
                client=client,
                action=SEARCH,
                transaction_id=transaction_id,
                correlation_id=env.new_id(),
                reference_ids=references[: env.MAX_BATCH],
                request_hash=digest,
                request_ciphertext=_seal(raw),
                callback_uri=base,
            )
            audit_record(
                actor=client.service_user,
                action="api.dci.search_accepted",
                obj=client,
                data={"transaction_id": transaction_id, "correlation_id": txn.correlation_id},
            )
            pk = txn.pk
            transaction.on_commit(lambda: _queue_search(pk))
    except IntegrityError:
        # The same transaction_id again (a retry, or a concurrent duplicate): its first ACK.
        txn = DciTransaction.objects.get(client=client, action=SEARCH, transaction_id=transaction_id)
        if txn.request_hash != digest:
            error = env.DciError(env.ERR_REQUEST_BAD, f"transaction_id {transaction_id} 已用于另一条查询报文。")
            return 409, env.error_ack(error)
    return 200, env.ack(txn.correlation_id)


def search_complete(*, transaction_pk: int) -> DciTransaction:
    """Run an accepted search, keep its answer and queue the on-search callback. Safe to run
    twice: a finished transaction is left as it is."""
    with transaction.atomic():
        txn = (
            DciTransaction.objects.select_for_update(of=("self",))
            .select_related("client__unit__division")
            .get(pk=transaction_pk)
        )
        if txn.status not in (DciTransaction.Status.RECEIVED, DciTransaction.Status.PENDING):
            return txn
        client = txn.client
        if not client.is_active or ApiScope.DCI_SEARCH not in (client.scopes or []):
            # The partner lost its access meanwhile: no records leave; the row says why.
            txn.status = DciTransaction.Status.REJECTED
            txn.error = "客户端已停用或不再有查询授权，未执行查询。"
            txn.completed_at = timezone.now()
            txn.save(update_fields=["status", "error", "completed_at", "updated_at"])
            return txn
        envelope = env.parse_envelope(_open(txn.request_ciphertext))
        header, message = search_answer(envelope, partner_of(client), correlation_id=txn.correlation_id)
        txn.response_ciphertext = _seal({"header": header, "message": message})
        txn.status = header["status"]
        txn.completed_at = timezone.now()
        txn.save(update_fields=["response_ciphertext", "status", "completed_at", "updated_at"])
        delivery_enqueue(
            client=client,
            base_uri=txn.callback_uri,
            envelope=signed(header, message, our_signature),
            dci_transaction=txn,
        )
    return txn


def searches_unstarted() -> list[int]:
    """Accepted searches whose task never ran (it could not be queued, or the worker died)."""
    horizon = timezone.now() - dt.timedelta(minutes=2)
    return list(
        DciTransaction.objects.filter(status=DciTransaction.Status.RECEIVED, created_at__lt=horizon).values_list(
            "pk", flat=True
        )
    )


def _status_request(envelope: env.Envelope) -> tuple[str, str, str, Any]:
    """(transaction_id, txn_type, attribute_type, attribute_value) of a TxnStatusRequest."""
    message = envelope.message
    transaction_id = message.get("transaction_id")
    request = message.get("txnstatus_request")
    if not isinstance(transaction_id, str) or not transaction_id or len(transaction_id) > 99:
        raise env.DciError(env.ERR_REQUEST_BAD, "message.transaction_id 须为1至99个字符。")
    if not isinstance(request, dict):
        raise env.DciError(env.ERR_REQUEST_BAD, "message.txnstatus_request 须为对象。")
    txn_type = request.get("txn_type")
    if txn_type not in TXN_TYPES:
        raise env.DciError(env.ERR_REQUEST_BAD, "txnstatus_request.txn_type 目前只支持 search。")
    attribute_type, value = request.get("attribute_type"), request.get("attribute_value")
    if attribute_type not in ATTRIBUTE_TYPES:
        raise env.DciError(env.ERR_REQUEST_BAD, f"txnstatus_request.attribute_type 应为 {'、'.join(ATTRIBUTE_TYPES)}。")
    if attribute_type == "reference_id_list":
        if not isinstance(value, list) or not value or len(value) > 100 or not all(isinstance(v, str) for v in value):
            raise env.DciError(env.ERR_REQUEST_BAD, "attribute_value 须为1至100个 reference_id 的列表。")
    elif not isinstance(value, str) or not value or len(value) > 99:
        raise env.DciError(env.ERR_REQUEST_BAD, "attribute_value 须为1至99个字符。")
    return transaction_id, TXN_TYPES[txn_type], attribute_type, value


def _find(client: ApiClient, action: str, attribute_type: str, value: Any) -> DciTransaction:
    mine = DciTransaction.objects.filter(client=client, action=action)
    found = None
    if attribute_type == "transaction_id":
        found = mine.filter(transaction_id=value).first()
    elif attribute_type == "correlation_id":
        found = mine.filter(correlation_id=value).first()
    else:
        wanted = set(value)
        found = next(
            (
                t
                for t in mine.order_by("-pk").only("pk", "reference_ids")[:REFERENCE_LOOKBACK]
                if wanted & set(t.reference_ids)
            ),
            None,
        )
        found = mine.get(pk=found.pk) if found else None
    if found is None:
        raise env.DciError(env.ERR_NOT_FOUND, "未找到该事务（只能查询本客户端发起的事务）。", http_status=404)
    return found


def status_answer(envelope: env.Envelope, client: ApiClient) -> tuple[dict, dict]:
    """(txn-on-status header, TxnStatusResponse message) for a checked txn-status envelope."""
    transaction_id, action, attribute_type, value = _status_request(envelope)
    txn = _find(client, action, attribute_type, value)
    if txn.response_ciphertext:
        stored = _open(txn.response_ciphertext)["message"]
        if attribute_type == "reference_id_list":
            wanted = set(value)
            stored["search_response"] = [r for r in stored["search_response"] if r.get("reference_id") in wanted]
        status, done = "succ", 1
    else:
        stored = {"transaction_id": txn.transaction_id, "correlation_id": txn.correlation_id, "search_response": []}
        status, done = ("rjct", 1) if txn.status == DciTransaction.Status.REJECTED else (txn.status, 0)
    header = env.callback_header(
        action="txn-on-status",
        status=status,
        sender_id=receiver_id(),
        receiver_id=client.client_id,
        total_count=1,
        completed_count=done,
    )
    if txn.error:
        header["status_reason_message"] = txn.error
    message = {
        "transaction_id": transaction_id,
        "correlation_id": env.new_id(),
        "txnstatus_response": {"txn_type": "search", "txn_status": stored},
    }
    return header, message


def sync_txn_status(body: Any, *, client: ApiClient) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body): the signed txn-on-status envelope, or an ERR acknowledgement."""
    try:
        envelope = check_envelope(body, partner_of(client), action="txn-status")
        header, message = status_answer(envelope, client)
    except env.DciError as exc:
        return exc.http_status, env.error_ack(exc)
    return 200, signed(header, message, our_signature)


def txn_status_accept(body: Any, *, client: ApiClient) -> tuple[int, dict[str, Any]]:
    """Async txn/status: ACK now, the txn-on-status envelope to the partner's callback address."""
    try:
        envelope = check_envelope(body, partner_of(client), action="txn-status")
        base = callback_base(client, envelope.header.sender_uri)
        header, message = status_answer(envelope, client)
    except env.DciError as exc:
        return exc.http_status, env.error_ack(exc)
    with transaction.atomic():
        delivery_enqueue(client=client, base_uri=base, envelope=signed(header, message, our_signature))
    return 200, env.ack(message["correlation_id"])
