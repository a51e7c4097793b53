"""Retention of DCI exchanges: what is over goes after EJIA_DCI_RETENTION_DAYS, a failed callback
stays until handled, an active subscription keeps what it needs, and the purge audits counts only."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from ejia.api.dci import envelope as env
from ejia.api.dci.retention import RetentionError, dci_purge
from ejia.api.dci.tests import test_dci, test_dci_async
from ejia.api.dci.tests.test_dci_async import message_envelope, post, search_envelope
from ejia.api.dci.tests.test_dci_ops import fail_one_callback
from ejia.api.dci.tests.test_dci_subscribe import by_village, subscribe_envelope
from ejia.api.models import DciDelivery, DciSubscription, DciTransaction
from ejia.core.models import AuditEvent
from ejia.registry.services import household_update

pytestmark = pytest.mark.django_db
family = test_dci.family
receiver = test_dci_async.receiver
registry = test_dci_async.registry


def later(days: int) -> dt.datetime:
    return timezone.now() + dt.timedelta(days=days)


@pytest.fixture
def exchanges(client, bob, family, registry, receiver, django_capture_on_commit_callbacks):
    """A failed search (t-1), a delivered search (t-2), an active subscription with a delivered
    notify (sub-1), and a subscription ended by unsubscribe (sub-2, unsub-2)."""
    household, head_id, _ = family
    capture = django_capture_on_commit_callbacks
    fail_one_callback(client, registry, receiver, head_id, capture)
    receiver.statuses = []
    with capture(execute=True):
        post(client, registry, "search", search_envelope(head_id, transaction_id="t-2"))
        post(client, registry, "subscribe", subscribe_envelope(by_village(household.division.code)))
        post(client, registry, "subscribe", subscribe_envelope(by_village("371602105"), transaction_id="sub-2"))
    ended = DciSubscription.objects.get(dci_transaction__transaction_id="sub-2").code
    unsubscribe = {"transaction_id": "unsub-2", "timestamp": env.timestamp(), "subscription_codes": [ended]}
    with capture(execute=True):
        post(client, registry, "unsubscribe", message_envelope("unsubscribe", unsubscribe))
        household_update(actor=bob, household=household, address="幸福路2号")
    assert DciDelivery.objects.filter(status="sent").count() == 5  # on-search, 2 on-subscribe, on-unsubscribe, notify
    assert DciTransaction.objects.count() == 5
    return household


def transaction_ids() -> set[str]:
    return set(DciTransaction.objects.values_list("transaction_id", flat=True))


def test_nothing_goes_before_the_retention_period(exchanges, settings):
    settings.EJIA_DCI_RETENTION_DAYS = 90
    result = dci_purge(now=later(89))
    assert (result.deliveries, result.subscriptions, result.transactions) == (0, 0, 0)
    assert DciDelivery.objects.count() == 6 and DciTransaction.objects.count() == 5


def test_what_is_over_goes_after_it_and_what_still_matters_stays(exchanges, settings):
    settings.EJIA_DCI_RETENTION_DAYS = 90
    result = dci_purge(now=later(91))
    assert (result.deliveries, result.subscriptions, result.transactions, result.failed_kept) == (5, 1, 3, 1)
    # The failed callback and its search stay until someone handles them.
    [kept] = DciDelivery.objects.all()
    assert kept.status == DciDelivery.Status.FAILED and kept.dci_transaction.transaction_id == "t-1"
    # The active subscription stays with its subscribe transaction; the ended one is gone.
    assert transaction_ids() == {"t-1", "sub-1"}
    [active] = DciSubscription.objects.all()
    assert active.status == DciSubscription.Status.ACTIVE and active.dci_transaction.transaction_id == "sub-1"
    # One audit event, counts only (no ids of partners' transactions, no records).
    event = AuditEvent.objects.get(action="api.dci.purge")
    assert event.data["deliveries"] == 5 and event.data["transactions"] == 3 and event.data["failed_kept"] == 1
    assert "t-2" not in str(event.data) and "sub-2" not in str(event.data)
    # Run again: nothing more to do.
    again = dci_purge(now=later(91))
    assert (again.deliveries, again.subscriptions, again.transactions) == (0, 0, 0)


def test_a_failed_callback_once_handled_goes_with_its_transaction(
    exchanges, settings, django_capture_on_commit_callbacks
):
    from ejia.api.dci.delivery import delivery_retry

    failed = DciDelivery.objects.get(status=DciDelivery.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        delivery_retry(actor=None, delivery_id=failed.pk)
    failed.refresh_from_db()
    assert failed.status == DciDelivery.Status.SENT
    dci_purge(days=30, now=later(31))
    assert transaction_ids() == {"sub-1"}
    assert not DciDelivery.objects.exists()


def test_the_command_uses_the_setting_and_refuses_a_nonsense_period(exchanges, settings):
    settings.EJIA_DCI_RETENTION_DAYS = 90
    out = io.StringIO()
    call_command("ejia_dci_purge", stdout=out)  # today: everything is recent
    assert "deleted 0 delivered callback(s)" in out.getvalue()
    assert DciDelivery.objects.count() == 6
    with pytest.raises(CommandError, match="至少为1天"):
        call_command("ejia_dci_purge", "--days", "0")
    with pytest.raises(RetentionError):
        dci_purge(days=-5)
    assert AuditEvent.objects.filter(action="api.dci.purge").count() == 1
