"""DCI registry/subscribe and unsubscribe with notify: a partner subscribes to a village's
households, a change made through the registry's write services is posted to its callback
address (a loopback HTTP server) as a signed `notify`; after unsubscribing nothing more comes."""

from __future__ import annotations

import pytest

from ejia.api.dci import envelope as env
from ejia.api.dci import signing
from ejia.api.dci.tests import test_dci, test_dci_async
from ejia.api.dci.tests.test_dci_async import message_envelope, our_keys, post, spec_validator
from ejia.api.models import DciDelivery, DciSubscription
from ejia.registry.services import household_create, household_update, membership_end
from ejia.registry.tests.factories import village

pytestmark = pytest.mark.django_db
family, receiver, registry = test_dci.family, test_dci_async.receiver, test_dci_async.registry  # fixtures

CALLBACK_HEADER = "#/components/schemas/MsgCallbackHeader_V1.0.0"


def in_village(code: str) -> dict:
    return {
        "expression": {"collection": "Group", "query": {"$and": [{"division_code": {"$eq": code}}]}},
    }


def subscribe_envelope(*criteria: dict, transaction_id: str = "sub-1") -> dict:
    message = {
        "transaction_id": transaction_id,
        "subscribe_request": [
            {"reference_id": f"r-{i}", "timestamp": "2026-12-04T10:00:00+08:00", "subscribe_criteria": c}
            for i, c in enumerate(criteria)
        ],
    }
    return message_envelope("subscribe", message, total=len(criteria))


def by_village(code: str) -> dict:
    return {
        "reg_event_type": "ns:ejia:RegistryEventType:HouseholdChange",
        "filter_type": "expression",
        "filter": {"type": "ns:ejia:QueryType:NoSql", "value": in_village(code)},
        "notify_record_type": "Group",
    }


def test_a_subscriber_is_notified_of_changes_in_its_village_until_it_unsubscribes(
    client, bob, family, registry, receiver, django_capture_on_commit_callbacks
):
    household, _, _ = family
    code = household.division.code
    bad = {"filter_type": "expression", "filter": {"type": "x", "value": {"expression": {"collection": "Nope"}}}}
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, registry, "subscribe", subscribe_envelope(by_village(code), bad))
    assert answer.status_code == 200, answer.content
    ack = answer.json()["message"]
    assert ack["ack_status"] == "ACK"
    [(path, on_subscribe)] = receiver.received
    assert path == "/dci/registry/on-subscribe"
    spec_validator(CALLBACK_HEADER).validate(on_subscribe["header"])
    assert signing.verify(
        on_subscribe["signature"], on_subscribe["header"], on_subscribe["message"], jwks=our_keys(client)
    )
    assert on_subscribe["message"]["transaction_id"] == "sub-1"
    assert on_subscribe["message"]["correlation_id"] == ack["correlation_id"]
    good, refused = on_subscribe["message"]["subscribe_response"]
    assert good["status"] == "succ" and refused["status"] == "rjct"
    assert refused["status_reason_code"] == "rjct.notify_details.invalid"
    subscription_code = good["subscriptions"][0]["code"]
    assert DciSubscription.objects.get().code == subscription_code

    # A change through the registry's write service: one notify with the household's record.
    with django_capture_on_commit_callbacks(execute=True):
        household_update(actor=bob, household=household, address="幸福路2号")
    path, notify = receiver.received[-1]
    assert path == "/dci/registry/notify" and len(receiver.received) == 2
    assert notify["header"]["action"] == "notify"
    spec_validator(CALLBACK_HEADER).validate(notify["header"])
    assert signing.verify(notify["signature"], notify["header"], notify["message"], jwks=our_keys(client))
    [event] = notify["message"]["notify_event"]
    assert event["reference_id"] == subscription_code and event["data"]["reg_record_type"] == "Group"
    record = event["data"]["reg_records"]
    assert record["group_identifier"][0]["identifier_value"] == str(household.public_id)
    # The partner's agreement (name, member_list) decides what the record carries: no address.
    assert "place" not in record and len(record["member_list"]) == 2
    # A member leaving is a change too; a household elsewhere is not the subscriber's business.
    with django_capture_on_commit_callbacks(execute=True):
        membership_end(actor=bob, membership=household.memberships.order_by("pk").last(), reason="迁出")
        household_create(actor=bob, division=village("371602105"), address="别处")
    assert len(receiver.received) == 3
    assert len(receiver.received[-1][1]["message"]["notify_event"][0]["data"]["reg_records"]["member_list"]) == 1

    unsubscribe = message_envelope(
        "unsubscribe",
        {"transaction_id": "unsub-1", "timestamp": env.timestamp(), "subscription_codes": [subscription_code, "nope"]},
    )
    with django_capture_on_commit_callbacks(execute=True):
        answer = post(client, registry, "unsubscribe", unsubscribe)
    assert answer.json()["message"]["ack_status"] == "ACK"
    path, on_unsubscribe = receiver.received[-1]
    assert path == "/dci/registry/on-unsubscribe"
    message = on_unsubscribe["message"]
    assert message["status"] == "succ" and message["status_reason_code"] == "rjct.subscription_code.invalid"
    assert message["subscription_status"] == [{"code": subscription_code, "status": "unsubscribe"}]
    with django_capture_on_commit_callbacks(execute=True):
        household_update(actor=bob, household=household, address="幸福路3号")
    assert len(receiver.received) == 4
    assert DciDelivery.objects.filter(status=DciDelivery.Status.SENT).count() == 4


def test_subscribe_needs_a_registered_callback_and_a_fresh_transaction_id(
    client, family, registry, receiver, django_capture_on_commit_callbacks
):
    household, _, _ = family
    body = subscribe_envelope(by_village(household.division.code))
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, registry, "subscribe", body).status_code == 200
    again = post(client, registry, "subscribe", body)
    assert again.status_code == 400 and again.json()["message"]["error"]["code"] == env.ERR_REQUEST_BAD
    assert DciSubscription.objects.count() == 1
    empty = post(client, registry, "subscribe", message_envelope("subscribe", {"transaction_id": "x"}))
    assert empty.status_code == 400
