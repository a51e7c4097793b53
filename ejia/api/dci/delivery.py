"""Callbacks to partners (on-search, txn-on-status, notify …): queued as DciDelivery rows in the
transaction that decided them, posted by the task worker, retried with a backoff.

Sending goes through the retry loop the SMS outbox uses too (ejia.core.retry): a delivery is
claimed with a conditional UPDATE (`claimed_until`), so two workers (or the task and the cron
sweep `manage.py ejia_dci_deliver`) never post the same row at once. After
MAX_ATTEMPTS failures the row is `failed` with its last error and an audit event: the system
administrator sees it as a work item and on the page 回调投递失败 (ejia.api.staff_views), or in
`ejia_dci_deliver --failed`, and can send it again (重新投递, or `--retry`). The body is the
signed envelope, stored encrypted: it carries registry records.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request

from django.db import transaction

from ejia.api.models import ApiClient, DciDelivery, DciTransaction
from ejia.core import crypto, retry
from ejia.core.audit import audit_record
from ejia.core.retry import RetryPolicy, SendResult

logger = logging.getLogger("ejia.api.dci")

PURPOSE = "api.dci.delivery"
MAX_ATTEMPTS = 5
BACKOFF = (dt.timedelta(seconds=30), dt.timedelta(minutes=2), dt.timedelta(minutes=10), dt.timedelta(hours=1))
CLAIM_SECONDS = 60
POLICY = RetryPolicy(max_attempts=MAX_ATTEMPTS, backoff=BACKOFF, claim_seconds=CLAIM_SECONDS)
TIMEOUT_SECONDS = 10
# The spec's callback paths under the partner's sender_uri, by action of our message.
CALLBACK_PATHS = {
    "on-search": "/registry/on-search",
    "txn-on-status": "/registry/txn/on-status",
    "on-subscribe": "/registry/on-subscribe",
    "on-unsubscribe": "/registry/on-unsubscribe",
    "notify": "/registry/notify",
}


def delivery_enqueue(
    *, client: ApiClient, base_uri: str, envelope: dict, dci_transaction: DciTransaction | None = None
) -> DciDelivery:
    """A callback row for `envelope` (already signed), sent after the surrounding commit."""
    action = envelope["header"]["action"]
    delivery = DciDelivery.objects.create(
        client=client,
        dci_transaction=dci_transaction,
        action=action,
        url=base_uri.rstrip("/") + CALLBACK_PATHS[action],
        body_ciphertext=crypto.encrypt(json.dumps(envelope, ensure_ascii=False), purpose=PURPOSE),
    )
    transaction.on_commit(wake_deliverer)
    return delivery


def delivery_body(delivery: DciDelivery) -> dict:
    return json.loads(crypto.decrypt(delivery.body_ciphertext, purpose=PURPOSE))


def wake_deliverer() -> None:
    """Queue the delivery task. If even that fails, the row waits for the cron sweep."""
    from ejia.api.tasks import dci_deliver

    try:
        dci_deliver.enqueue()
    except Exception:  # the partner's request is committed; never fail it for this
        logger.exception("could not queue the DCI deliverer; `manage.py ejia_dci_deliver` will send later")


def _post(url: str, body: bytes) -> None:
    """POST the envelope; anything but a 2xx answer is a failure (raised)."""
    request = urllib.request.Request(  # noqa: S310 (http(s) only: callback_uri is validated at registration)
        url, data=body, method="POST", headers={"Content-Type": "application/json; charset=utf-8"}
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
            answer.read(65536)
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise RuntimeError(f"无法连接：{reason}") from exc


def deliveries_send(*, limit: int = 200) -> SendResult:
    """Post due callbacks, at most `limit`. Safe to run in several processes at once."""

    def send(delivery: DciDelivery) -> None:
        _post(delivery.url, json.dumps(delivery_body(delivery), ensure_ascii=False).encode("utf-8"))

    def gave_up(delivery: DciDelivery, error: str) -> None:
        audit_record(
            actor=None,
            action="api.dci.delivery_failed",
            obj=delivery.client,
            data={"delivery": delivery.pk, "action": delivery.action, "url": delivery.url, "error": error},
        )

    return retry.send_due(DciDelivery, POLICY, limit=limit, send=send, gave_up=gave_up, log=logger)


def next_retry_at() -> dt.datetime | None:
    """When the earliest callback waiting after a failure is due again."""
    return retry.next_retry_at(DciDelivery)


class DeliveryError(ValueError):
    """A retry that cannot be done (the callback is not failed any more): a plain Chinese message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def delivery_retry(*, actor, delivery_id: int) -> DciDelivery:
    """重新投递: a failed callback goes back in the queue with fresh attempts (an operator's
    decision, audited). The row is locked, so a double click queues it once: the second call
    finds it pending (or sent) and is refused. The caller has checked that `actor` may handle
    this delivery (ejia.api.selectors)."""
    with transaction.atomic():
        delivery = DciDelivery.objects.select_for_update().select_related("client").get(pk=delivery_id)
        if delivery.status != DciDelivery.Status.FAILED:
            raise DeliveryError(
                f"回调 {delivery_id} 当前为“{delivery.get_status_display()}”，只有投递失败的回调可以重新投递，请刷新后再看。"
            )
        delivery.save(update_fields=retry.requeue(delivery))
        audit_record(
            actor=actor,
            action="api.dci.delivery_retry",
            obj=delivery.client,
            data={"delivery": delivery.pk, "action": delivery.action, "url": delivery.url},
        )
        transaction.on_commit(wake_deliverer)
    return delivery


def delivery_transaction_id(delivery: DciDelivery) -> str:
    """The `message.transaction_id` of the callback (the partner's, or for a notify ours): an
    id, never personal data, so the operators' page can name it."""
    return str(delivery_body(delivery).get("message", {}).get("transaction_id", ""))
