"""Callbacks to partners (on-search, txn-on-status, notify …): queued as DciDelivery rows in the
transaction that decided them, posted by the task worker, retried with a backoff.

A delivery is claimed with a conditional UPDATE (`claimed_until`), so two workers (or the
task and the cron sweep `manage.py ejia_dci_deliver`) never post the same row at once. After
MAX_ATTEMPTS failures the row is `failed` with its last error and an audit event: the
operators see it (`ejia_dci_deliver --failed`) and can send it again (`--retry`). The body is the
signed envelope, stored encrypted: it carries registry records.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from ejia.api.models import ApiClient, DciDelivery, DciTransaction
from ejia.core import crypto
from ejia.core.audit import audit_record

logger = logging.getLogger("ejia.api.dci")

PURPOSE = "api.dci.delivery"
MAX_ATTEMPTS = 5
BACKOFF = (dt.timedelta(seconds=30), dt.timedelta(minutes=2), dt.timedelta(minutes=10), dt.timedelta(hours=1))
CLAIM_SECONDS = 60
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


def _due(now: dt.datetime):
    return (
        DciDelivery.objects.filter(status=DciDelivery.Status.PENDING)
        .exclude(claimed_until__gt=now)
        .exclude(next_attempt_at__gt=now)
    )


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


@dataclass
class DeliverResult:
    due: int = 0
    sent: int = 0
    waiting: int = 0  # failed this time, to be tried again after the backoff
    failed: int = 0  # failed for the last time: kept as failed, audited


def deliveries_send(*, limit: int = 200) -> DeliverResult:
    """Post due callbacks, at most `limit`. Safe to run in several processes at once."""
    candidates = list(_due(timezone.now()).order_by("pk").values_list("pk", flat=True)[:limit])
    result = DeliverResult(due=len(candidates))
    for pk in candidates:
        now = timezone.now()
        if not _due(now).filter(pk=pk).update(claimed_until=now + dt.timedelta(seconds=CLAIM_SECONDS)):
            continue  # another worker has it
        delivery = DciDelivery.objects.select_related("client").get(pk=pk)
        body = json.dumps(delivery_body(delivery), ensure_ascii=False).encode("utf-8")
        try:
            _post(delivery.url, body)
        except Exception as exc:
            attempts = delivery.attempts + 1
            failed = attempts >= MAX_ATTEMPTS
            error = str(exc)[:500]
            with transaction.atomic():
                DciDelivery.objects.filter(pk=pk).update(
                    attempts=attempts,
                    last_error=error,
                    status=DciDelivery.Status.FAILED if failed else DciDelivery.Status.PENDING,
                    next_attempt_at=None if failed else timezone.now() + BACKOFF[min(attempts, len(BACKOFF)) - 1],
                    claimed_until=None,
                )
                if failed:
                    audit_record(
                        actor=None,
                        action="api.dci.delivery_failed",
                        obj=delivery.client,
                        data={"delivery": pk, "action": delivery.action, "url": delivery.url, "error": error},
                    )
            logger.warning("DCI callback %s attempt %s to %s failed: %s", pk, attempts, delivery.url, error)
            if failed:
                result.failed += 1
            else:
                result.waiting += 1
            continue
        DciDelivery.objects.filter(pk=pk).update(
            status=DciDelivery.Status.SENT,
            attempts=delivery.attempts + 1,
            last_error="",
            sent_at=timezone.now(),
            claimed_until=None,
            next_attempt_at=None,
        )
        result.sent += 1
    return result


def next_retry_at() -> dt.datetime | None:
    """When the earliest callback waiting after a failure is due again."""
    return (
        DciDelivery.objects.filter(status=DciDelivery.Status.PENDING, next_attempt_at__isnull=False)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def delivery_retry(*, actor, delivery_id: int) -> DciDelivery:
    """Send a failed callback again (an operator's decision, audited): back to pending, attempts reset."""
    with transaction.atomic():
        delivery = DciDelivery.objects.select_for_update().select_related("client").get(pk=delivery_id)
        if delivery.status != DciDelivery.Status.FAILED:
            raise ValueError(f"回调 {delivery_id} 不是发送失败状态，无需重发。")
        delivery.status = DciDelivery.Status.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = None
        delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit_record(
            actor=actor,
            action="api.dci.delivery_retry",
            obj=delivery.client,
            data={"delivery": delivery.pk, "action": delivery.action, "url": delivery.url},
        )
        transaction.on_commit(wake_deliverer)
    return delivery
