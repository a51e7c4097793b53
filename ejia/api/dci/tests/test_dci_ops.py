"""Failed DCI callbacks are a visible item for the system administrator: a work item on the home
page, a page listing them (no person's data), and 重新投递 that queues a callback once."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse

from conftest import _unit, make_staff, race
from ejia.accounts.models import Role
from ejia.api.dci.delivery import MAX_ATTEMPTS, DeliveryError, deliveries_send, delivery_retry
from ejia.api.dci.tests import test_dci, test_dci_async
from ejia.api.dci.tests.test_dci_async import post, search_envelope
from ejia.api.models import DciDelivery
from ejia.core import idnumber
from ejia.core.models import AuditEvent

pytestmark = pytest.mark.django_db
family = test_dci.family
receiver = test_dci_async.receiver
registry = test_dci_async.registry


def fail_one_callback(client, registry, receiver, number: str, capture) -> DciDelivery:
    """An async search whose on-search the partner refuses every time, until it gives up."""
    receiver.statuses = [500] * MAX_ATTEMPTS
    with capture(execute=True):
        assert post(client, registry, "search", search_envelope(number)).status_code == 200
    for _ in range(MAX_ATTEMPTS - 1):
        DciDelivery.objects.update(next_attempt_at=None)
        deliveries_send()
    delivery = DciDelivery.objects.get()
    assert delivery.status == DciDelivery.Status.FAILED
    return delivery


@pytest.fixture
def admin(org):
    return make_staff("ma", _unit("371600", "centre"), Role.SYSADMIN, display_name="马超")


def test_the_administrator_sees_the_failed_callback_without_anyones_data_and_sends_it_again(
    client, family, registry, receiver, admin, django_capture_on_commit_callbacks
):
    _, head_id, _ = family
    client.force_login(admin)
    home = client.get(reverse("accounts:home")).content.decode()
    assert 'data-testid="work-dci_failed"' not in home  # nothing failed: no item

    delivery = fail_one_callback(client, registry, receiver, head_id, django_capture_on_commit_callbacks)
    home = client.get(reverse("accounts:home")).content.decode()
    assert 'data-testid="work-dci_failed">1<' in home and reverse("dci:failed") in home

    page = client.get(reverse("dci:failed"))
    html = page.content.decode()
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    row = html[html.index(f'data-testid="delivery-{delivery.pk}"') :]
    for shown in ("省社会救助登记系统", "spmis-shandong", "异步查询结果", "t-1", "HTTP 500"):
        assert shown in row, shown
    # The callback carries the family's records: none of it reaches the page.
    for hidden in (head_id, idnumber.mask(head_id), "李建国"):
        assert hidden not in html

    receiver.statuses = []  # the partner is back
    with django_capture_on_commit_callbacks(execute=True):
        answer = client.post(reverse("dci:retry", args=[delivery.pk]), follow=True)
    # (the test's transaction commits only after the request, so the page saw it queued)
    assert "已放回投递队列" in answer.content.decode()
    delivery.refresh_from_db()
    assert delivery.status == DciDelivery.Status.SENT and delivery.last_error == ""
    assert len(receiver.received) == MAX_ATTEMPTS + 1
    assert receiver.received[-1][0] == "/dci/registry/on-search"
    event = AuditEvent.objects.get(action="api.dci.delivery_retry")
    assert event.actor_id == admin.pk and event.data["delivery"] == delivery.pk
    assert 'data-testid="work-dci_failed"' not in client.get(reverse("accounts:home")).content.decode()
    assert 'data-testid="empty"' in client.get(reverse("dci:failed")).content.decode()


def test_a_double_click_queues_the_callback_once(
    client, family, registry, receiver, admin, django_capture_on_commit_callbacks
):
    _, head_id, _ = family
    delivery = fail_one_callback(client, registry, receiver, head_id, django_capture_on_commit_callbacks)
    # The partner is still down: the first click puts it back in the queue (one attempt fails).
    client.force_login(admin)
    receiver.statuses = [500]
    url = reverse("dci:retry", args=[delivery.pk])
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(url, follow=True).content.decode()
    delivery.refresh_from_db()
    assert delivery.status == DciDelivery.Status.PENDING and delivery.attempts == 1
    assert "已放回投递队列" in first
    with django_capture_on_commit_callbacks(execute=True):
        second = client.post(url, follow=True).content.decode()
    assert "只有投递失败的回调可以重新投递" in second
    delivery.refresh_from_db()
    assert delivery.status == DciDelivery.Status.PENDING and delivery.attempts == 1
    assert len(receiver.received) == MAX_ATTEMPTS + 1  # the second click sent nothing
    assert AuditEvent.objects.filter(action="api.dci.delivery_retry").count() == 1
    # A GET does not retry.
    assert client.get(url).status_code == 405


def test_a_county_administrator_neither_sees_nor_retries_a_city_partners_callback(
    client, family, registry, receiver, django_capture_on_commit_callbacks
):
    _, head_id, _ = family
    delivery = fail_one_callback(client, registry, receiver, head_id, django_capture_on_commit_callbacks)
    county = make_staff("zhao", _unit("371602", "centre"), Role.SYSADMIN, display_name="赵敏")
    client.force_login(county)
    assert 'data-testid="work-dci_failed"' not in client.get(reverse("accounts:home")).content.decode()
    assert 'data-testid="empty"' in client.get(reverse("dci:failed")).content.decode()
    refused = client.post(reverse("dci:retry", args=[delivery.pk]))
    assert refused.status_code == 403
    assert client.post(reverse("dci:retry", args=[delivery.pk + 1000])).status_code == 404
    delivery.refresh_from_db()
    assert delivery.status == DciDelivery.Status.FAILED


def test_other_staff_are_refused(client, bob):
    client.force_login(bob)
    assert client.get(reverse("dci:failed")).status_code == 403
    assert 'data-testid="nav-dci"' not in client.get(reverse("accounts:home")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_retries_at_once_queue_the_callback_once(
    client, family, registry, receiver, admin, django_capture_on_commit_callbacks
):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers anyway; the row lock matters on PostgreSQL")
    _, head_id, _ = family
    delivery = fail_one_callback(client, registry, receiver, head_id, django_capture_on_commit_callbacks)
    receiver.statuses = []

    def click():
        delivery_retry(actor=admin, delivery_id=delivery.pk)
        return "queued"

    outcomes = race(click, click, expected={DeliveryError: lambda exc: "refused"})
    assert sorted(outcomes) == ["queued", "refused"], outcomes
    delivery.refresh_from_db()
    assert delivery.status == DciDelivery.Status.SENT
    assert len(receiver.received) == MAX_ATTEMPTS + 1
    assert AuditEvent.objects.filter(action="api.dci.delivery_retry").count() == 1


def test_the_operators_command_lists_and_retries_the_same_rows(
    client, family, registry, receiver, django_capture_on_commit_callbacks
):
    _, head_id, _ = family
    delivery = fail_one_callback(client, registry, receiver, head_id, django_capture_on_commit_callbacks)
    out = io.StringIO()
    call_command("ejia_dci_deliver", "--failed", stdout=out)
    assert f"{delivery.pk}\tspmis-shandong\ton-search" in out.getvalue() and "1 failed callback(s)" in out.getvalue()
    receiver.statuses = []
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ejia_dci_deliver", "--retry", str(delivery.pk), stdout=io.StringIO())
    delivery.refresh_from_db()
    assert delivery.status == DciDelivery.Status.SENT
    with pytest.raises(CommandError, match="只有投递失败的回调可以重新投递"):
        call_command("ejia_dci_deliver", "--retry", str(delivery.pk), stdout=io.StringIO())
