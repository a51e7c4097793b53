"""DCI `registry/subscribe`, `registry/unsubscribe` and the `notify` callbacks
(registry_core_api_v1.0.0.yaml).

A partner subscribes with the same criteria as a search (`filter_type` idtype-value, expression
or predicate, `notify_record_type` Group or Member); each accepted subscription gets a code and
an `on-subscribe` callback. When a household changes, the registry's write services
(ejia.registry.services) call `households_changed` on commit; it queues the `dci_notify` task
only if some subscription is active. The task checks each active subscription against the
changed households (inside the partner's area, through the partner's agreement) and posts one
`notify` per subscription that matches, with the changed records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from ejia.accounts.policies import ApiScope
from ejia.api.dci import envelope as env
from ejia.api.dci.delivery import delivery_enqueue
from ejia.api.dci.query import CriteriaError, attribute_q, parse_criteria
from ejia.api.dci.records import group_records_page, member_records_page
from ejia.api.dci.search import Partner, check_envelope, receiver_id, signed
from ejia.api.dci.transactions import PURPOSE, callback_base, our_signature, partner_of
from ejia.api.models import ApiClient, DciSubscription, DciTransaction
from ejia.core import crypto
from ejia.core.audit import audit_record

logger = logging.getLogger("ejia.api.dci")

# Subscription reason codes of the spec (SubscribeStatusReasonCode, UnSubscribeStatusReasonCode).
RJCT_REFERENCE_ID = "rjct.reference_id.invalid"
RJCT_REFERENCE_ID_DUPLICATE = "rjct.reference_id.duplicate"
RJCT_NOTIFY_DETAILS = "rjct.notify_details.invalid"
RJCT_SUBSCRIPTION_CODE = "rjct.subscription_code.invalid"
RJCT_ALREADY_UNSUBSCRIBED = "rjct.event.already_unsubscribed"
# How many changed households one notify carries at most (the rest go in further notifies).
NOTIFY_PAGE = 100


def _seal(document: Any) -> str:
    return crypto.encrypt(json.dumps(document, ensure_ascii=False), purpose=PURPOSE)


def _open(ciphertext: str) -> Any:
    return json.loads(crypto.decrypt(ciphertext, purpose=PURPOSE))


def _criteria(subscribe_criteria: Any) -> dict:
    """The subscription's filter as search criteria (the same parser, the same indexed attributes)."""
    if not isinstance(subscribe_criteria, dict):
        raise CriteriaError(RJCT_NOTIFY_DETAILS, "subscribe_criteria 须为对象。")
    entity = subscribe_criteria.get("notify_record_type") or "Group"
    criteria = {
        "query_type": subscribe_criteria.get("filter_type"),
        "query": subscribe_criteria.get("filter"),
        "response_entity": entity,
    }
    try:
        parse_criteria(criteria)
    except CriteriaError as exc:
        raise CriteriaError(RJCT_NOTIFY_DETAILS, exc.message) from exc
    return criteria


def _subscribe_one(item: Any, *, client: ApiClient, txn: DciTransaction, seen: set[str]) -> dict[str, Any]:
    reference_id = item.get("reference_id") if isinstance(item, dict) else None
    answer: dict[str, Any] = {"reference_id": str(reference_id or ""), "timestamp": env.timestamp()}
    try:
        if not reference_id or not isinstance(reference_id, str) or len(reference_id) > 99:
            raise CriteriaError(RJCT_REFERENCE_ID, "每个订阅须有 reference_id（1至99个字符）。")
        if reference_id in seen:
            raise CriteriaError(RJCT_REFERENCE_ID_DUPLICATE, f"reference_id 重复：{reference_id}")
        seen.add(reference_id)
        criteria = _criteria(item.get("subscribe_criteria"))
    except CriteriaError as exc:
        answer.update(status="rjct", status_reason_code=exc.code, status_reason_message=exc.message)
        return answer
    subscription = DciSubscription.objects.create(
        client=client,
        dci_transaction=txn,
        code=env.new_id(),
        reference_id=reference_id,
        entity=criteria["response_entity"],
        criteria_ciphertext=_seal(criteria),
    )
    answer.update(
        status="succ",
        subscriptions=[
            {"version": env.DCI_VERSION, "code": subscription.code, "status": "subscribe", "timestamp": env.timestamp()}
        ],
    )
    return answer


def _accept(body: Any, *, client: ApiClient, action: str, key: str) -> tuple[env.Envelope, str, list | None, str]:
    envelope = check_envelope(body, partner_of(client), action=action)
    message = envelope.message
    transaction_id = message.get("transaction_id")
    if not isinstance(transaction_id, str) or not transaction_id or len(transaction_id) > 99:
        raise env.DciError(env.ERR_REQUEST_BAD, "message.transaction_id 须为1至99个字符。")
    items = message.get(key)
    if not isinstance(items, list) or not items or len(items) > env.MAX_BATCH:
        raise env.DciError(env.ERR_REQUEST_BAD, f"message.{key} 须为1至{env.MAX_BATCH}项的列表。")
    base = callback_base(client, envelope.header.sender_uri)
    if DciTransaction.objects.filter(client=client, action=action, transaction_id=transaction_id).exists():
        raise env.DciError(env.ERR_REQUEST_BAD, f"transaction_id {transaction_id} 已使用。")
    return envelope, transaction_id, items, base


def _transaction(client: ApiClient, action: str, transaction_id: str, body: dict, base: str) -> DciTransaction:
    return DciTransaction.objects.create(
        client=client,
        action=action,
        transaction_id=transaction_id,
        correlation_id=env.new_id(),
        request_hash="",
        request_ciphertext=_seal({"header": body["header"], "message": body["message"]}),
        callback_uri=base,
    )


def _finish(
    txn: DciTransaction, client: ApiClient, header: dict, message: dict, *, audit: str, codes: list[str]
) -> None:
    """Keep the answer on the transaction, queue its callback, audit the subscription codes."""
    txn.response_ciphertext = _seal({"header": header, "message": message})
    txn.status = header["status"]
    txn.completed_at = timezone.now()
    txn.save(update_fields=["response_ciphertext", "status", "completed_at", "updated_at"])
    delivery_enqueue(
        client=client, base_uri=txn.callback_uri, envelope=signed(header, message, our_signature), dci_transaction=txn
    )
    audit_record(
        actor=client.service_user,
        action=audit,
        obj=client,
        data={"transaction_id": txn.transaction_id, "codes": codes},
    )


def _duplicate(transaction_id: str) -> tuple[int, dict[str, Any]]:
    error = env.DciError(env.ERR_REQUEST_BAD, f"transaction_id {transaction_id} 已使用。")
    return error.http_status, env.error_ack(error)


def _acknowledge(
    body: Any,
    *,
    client: ApiClient,
    action: str,
    key: str,
    check: Callable[[env.Envelope, list], None],
    run: Callable[[dict, ApiClient, str, list, str], DciTransaction],
) -> tuple[int, dict[str, Any]]:
    """What subscribe and unsubscribe share: check the envelope and its items (`check` raises
    DciError), then `run` them in one transaction; ACK with the correlation_id, or ERR."""
    try:
        envelope, transaction_id, items, base = _accept(body, client=client, action=action, key=key)
        check(envelope, items)
    except env.DciError as exc:
        return exc.http_status, env.error_ack(exc)
    try:
        txn = run(body, client, transaction_id, items, base)
    except IntegrityError:  # the same transaction_id a moment ago (a concurrent retry)
        return _duplicate(transaction_id)
    return 200, env.ack(txn.correlation_id)


def _check_subscribe(envelope: env.Envelope, items: list) -> None:
    if envelope.header.total_count != len(items):
        raise env.DciError(env.ERR_REQUEST_BAD, "header.total_count 须等于订阅条数。")


def subscribe_accept(body: Any, *, client: ApiClient) -> tuple[int, dict[str, Any]]:
    """`registry/subscribe`: ACK now; the subscriptions (or each one's rejection) go to the
    partner as `on-subscribe`, in the same transaction that creates them."""
    return _acknowledge(
        body, client=client, action="subscribe", key="subscribe_request", check=_check_subscribe, run=_subscribe
    )


def _subscribe(body: dict, client: ApiClient, transaction_id: str, items: list, base: str) -> DciTransaction:
    with transaction.atomic():
        txn = _transaction(client, "subscribe", transaction_id, body, base)
        seen: set[str] = set()
        answers = [_subscribe_one(item, client=client, txn=txn, seen=seen) for item in items]
        codes = [s["code"] for a in answers for s in a.get("subscriptions", [])]
        header = env.callback_header(
            action="on-subscribe",
            status="succ" if codes else "rjct",
            sender_id=receiver_id(),
            receiver_id=client.client_id,
            total_count=len(answers),
            completed_count=len(answers),
        )
        message = {
            "transaction_id": transaction_id,
            "correlation_id": txn.correlation_id,
            "subscribe_response": answers,
        }
        _finish(txn, client, header, message, audit="api.dci.subscribe", codes=codes)
    return txn


def _check_unsubscribe(envelope: env.Envelope, codes: list) -> None:
    if not all(isinstance(c, str) and 0 < len(c) <= 99 for c in codes):
        raise env.DciError(env.ERR_REQUEST_BAD, "subscription_codes 须为订阅编码（字符串）的列表。")


def unsubscribe_accept(body: Any, *, client: ApiClient) -> tuple[int, dict[str, Any]]:
    """`registry/unsubscribe`: ACK now; `on-unsubscribe` lists each code's status. Only the
    partner's own subscriptions can be ended; another's code is answered as invalid."""
    return _acknowledge(
        body, client=client, action="unsubscribe", key="subscription_codes", check=_check_unsubscribe, run=_unsubscribe
    )


def _unsubscribe(body: dict, client: ApiClient, transaction_id: str, codes: list, base: str) -> DciTransaction:
    with transaction.atomic():
        txn = _transaction(client, "unsubscribe", transaction_id, body, base)
        mine = {s.code: s for s in DciSubscription.objects.select_for_update().filter(client=client, code__in=codes)}
        statuses, ended, problems = [], [], []
        for code in codes:
            subscription = mine.get(code)
            if subscription is None:
                problems.append((RJCT_SUBSCRIPTION_CODE, f"没有该订阅：{code}"))
                continue
            if subscription.status == DciSubscription.Status.ACTIVE:
                subscription.status = DciSubscription.Status.UNSUBSCRIBED
                subscription.unsubscribed_at = timezone.now()
                subscription.save(update_fields=["status", "unsubscribed_at", "updated_at"])
                ended.append(code)
            else:
                problems.append((RJCT_ALREADY_UNSUBSCRIBED, f"订阅已取消：{code}"))
            statuses.append({"code": code, "status": "unsubscribe"})
        message: dict[str, Any] = {
            "transaction_id": transaction_id,
            "correlation_id": txn.correlation_id,
            "timestamp": env.timestamp(),
            "status": "succ" if ended else "rjct",
            "subscription_status": statuses,
        }
        if problems:
            message["status_reason_code"] = problems[0][0]
            message["status_reason_message"] = "；".join(p[1] for p in problems)[:999]
        header = env.callback_header(
            action="on-unsubscribe",
            status=message["status"],
            sender_id=receiver_id(),
            receiver_id=client.client_id,
            total_count=len(codes),
            completed_count=len(codes),
        )
        _finish(txn, client, header, message, audit="api.dci.unsubscribe", codes=ended)
    return txn


# ---------------------------------------------------------------- notify


def households_changed(household_ids: Iterable[int]) -> None:
    """Called by the registry's write services on commit: queue the notify task for these
    households, if any partner has an active subscription (most writes cost one EXISTS)."""
    ids = sorted(set(household_ids))
    if not ids or not DciSubscription.objects.filter(status=DciSubscription.Status.ACTIVE).exists():
        return
    from ejia.api.tasks import dci_notify

    try:
        dci_notify.enqueue(ids)
    except Exception:  # the registry change is committed; never fail it for this
        logger.exception("could not queue DCI notify for households %s", ids)


def _area_q(partner: Partner) -> Q:
    return attribute_q("division_code", "eq", partner.division_code)


def notify_subscribers(*, household_ids: list[int]) -> int:
    """Post a `notify` to every active subscription matching one of the changed households;
    returns how many notifies were queued. The records are today's, through the partner's
    agreement, inside its area (a household outside it is never notified)."""
    queued = 0
    today = timezone.localdate()
    subscriptions = DciSubscription.objects.filter(status=DciSubscription.Status.ACTIVE).select_related(
        "client__unit__division", "dci_transaction"
    )
    for subscription in subscriptions:
        client = subscription.client
        if not client.is_active or ApiScope.DCI_SEARCH not in (client.scopes or []) or not client.callback_uri:
            continue
        partner = partner_of(client)
        try:
            parsed = parse_criteria(_open(subscription.criteria_ciphertext))
        except CriteriaError as exc:  # e.g. a division named by the filter no longer exists
            logger.error("DCI subscription %s cannot be evaluated: %s", subscription.code, exc.message)
            continue
        condition = _area_q(partner) & parsed.households & Q(pk__in=household_ids)
        pager = group_records_page if subscription.entity == "Group" else member_records_page
        page = type(parsed.page)(NOTIFY_PAGE, 1, None)
        while True:
            records, _total, last_pk = pager(condition, page, partner.agreement, today=today)
            if not records:
                break
            with transaction.atomic():
                _notify(subscription, client, records)
            queued += 1
            if len(records) < NOTIFY_PAGE or last_pk is None:
                break
            page = type(parsed.page)(NOTIFY_PAGE, 1, last_pk)
    return queued


def _notify(subscription: DciSubscription, client: ApiClient, records: list[dict]) -> None:
    header = env.callback_header(
        action="notify",
        status="succ",
        sender_id=receiver_id(),
        receiver_id=client.client_id,
        total_count=len(records),
        completed_count=len(records),
    )
    # The spec's RegistryRecord is one object: one event per changed record, each naming the
    # subscription's code as its reference_id so the partner knows which subscription fired.
    stamp = env.timestamp()
    message = {
        "transaction_id": env.new_id(),
        "notify_event": [
            {
                "reference_id": subscription.code,
                "timestamp": stamp,
                "data": {"version": env.DCI_VERSION, "reg_record_type": subscription.entity, "reg_records": record},
            }
            for record in records
        ],
    }
    delivery_enqueue(
        client=client,
        base_uri=subscription.dci_transaction.callback_uri,
        envelope=signed(header, message, our_signature),
        dci_transaction=subscription.dci_transaction,
    )
