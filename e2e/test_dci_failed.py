"""A partner registry's callback address is down: the on-search callback fails until it gives
up; the system administrator finds it as a work item on the home page, opens 回调投递失败, and
once the partner is back delivers it again (重新投递): the partner receives it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import _unit, make_staff
from e2e.conftest import go, login, screenshot
from ejia.accounts.models import Role
from ejia.api.dci.delivery import MAX_ATTEMPTS, deliveries_send
from ejia.api.dci.tests import test_dci, test_dci_async
from ejia.api.dci.tests.test_dci_async import post, search_envelope
from ejia.api.models import DciDelivery
from ejia.core import idnumber

pytestmark = pytest.mark.e2e
family = test_dci.family
receiver = test_dci_async.receiver
registry = test_dci_async.registry


@pytest.fixture
def failed_callback(transactional_db, client, family, registry, receiver):
    """The province searches asynchronously while its callback address answers 500 every time."""
    _, head_id, _ = family
    receiver.statuses = [500] * MAX_ATTEMPTS
    answer = post(client, registry, "search", search_envelope(head_id))  # commits: the task runs, attempt 1
    assert answer.status_code == 200 and answer.json()["message"]["ack_status"] == "ACK"
    for _ in range(MAX_ATTEMPTS - 1):
        DciDelivery.objects.update(next_attempt_at=None)
        deliveries_send()
    delivery = DciDelivery.objects.get()
    assert delivery.status == DciDelivery.Status.FAILED and delivery.last_error == "HTTP 500"
    assert len(receiver.received) == MAX_ATTEMPTS
    return delivery, head_id


def test_the_administrator_delivers_a_failed_callback_again_once_the_partner_is_back(
    page, live_server, org, receiver, failed_callback
):
    delivery, head_id = failed_callback
    admin = make_staff("ma", _unit("371600", "centre"), Role.SYSADMIN, display_name="马超")
    login(page, live_server, admin)
    assert page.inner_text("[data-testid=work-dci_failed]") == "1"
    item = page.locator("li.list-group-item", has=page.locator("[data-testid=work-dci_failed]"))
    assert "投递失败的DCI回调" in item.inner_text()
    go(page, item.locator("a"))
    assert page.url.endswith(reverse("dci:failed"))
    table = page.inner_text("[data-testid=dci-failed]")
    assert "省社会救助登记系统" in table and "异步查询结果" in table and "HTTP 500" in table and "t-1" in table
    body = page.inner_text("body")
    assert head_id not in body and idnumber.mask(head_id) not in body and "李建国" not in body
    screenshot(page, "dci-failed-callbacks")

    receiver.statuses = []  # the partner's system is back
    go(page, "[data-testid=retry]")
    page.wait_for_selector(".alert-success")
    assert "已重新投递并送达" in page.inner_text(".alert-success")
    assert page.locator("[data-testid=empty]").is_visible()
    delivery.refresh_from_db()
    assert delivery.status == DciDelivery.Status.SENT
    path, callback = receiver.received[-1]
    assert len(receiver.received) == MAX_ATTEMPTS + 1 and path == "/dci/registry/on-search"
    assert callback["message"]["transaction_id"] == "t-1"
    screenshot(page, "dci-failed-after-retry")

    page.goto(live_server.url + reverse("accounts:home"))
    assert page.locator("[data-testid=work-dci_failed]").count() == 0
