"""The county centre's outbox page: its own area only, phone numbers masked, a failed message
sent again (audited), everyone else refused."""

import pytest
from django.urls import reverse

from conftest import TEST_PASSWORD, _unit, make_staff
from ejia.accounts.models import Role
from ejia.accounts.work import work_items
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.core import outbox
from ejia.core.models import AuditEvent, OutboxMessage

pytestmark = pytest.mark.django_db


class BrokenBackend:
    def send(self, phone, text):
        raise ConnectionError("短信网关无响应")


@pytest.fixture
def huimin_case(org, catalogue):
    """A case of 惠民县, another county."""
    clerk = make_staff("hui", _unit("371621101", "window"), Role.WINDOW_CLERK)
    return case_submit(
        actor=clerk, channel="window", idempotency_key="hm", data=application(township="371621101", phone="13700000001")
    )


@pytest.fixture
def failed(bob, catalogue, settings):
    """市中街道's receipt the gateway refused five times."""
    case = case_submit(actor=bob, channel="window", idempotency_key="sz", data=application(phone="13812345678"))
    settings.EJIA_SMS_BACKEND = f"{__name__}.BrokenBackend"
    for _ in range(outbox.MAX_ATTEMPTS):
        OutboxMessage.objects.update(next_attempt_at=None)
        outbox.outbox_send()
    settings.EJIA_SMS_BACKEND = "ejia.core.sms.MemoryBackend"
    message = OutboxMessage.objects.get(subject=case.reference)
    assert message.status == OutboxMessage.Status.FAILED
    return message


def login(client, user):
    assert client.login(username=user.username, password=TEST_PASSWORD)


def test_the_county_reviewer_sees_her_countys_messages_masked_and_not_another_countys(
    client, dave, failed, huimin_case
):
    login(client, dave)
    page = client.get(reverse("cases:outbox")).content.decode()
    assert failed.subject in page and "138****5678" in page and "13812345678" not in page
    assert "短信网关无响应" in page and "重新发送" in page and "受理回执" in page
    assert huimin_case.reference not in page and "137****0001" not in page
    failed_tab = client.get(reverse("cases:outbox"), {"show": "failed"}).content.decode()
    assert failed.subject in failed_tab
    assert client.get(reverse("cases:outbox"), {"show": "sent"}).context["rows"] == []
    # A phone number is searched by POST and travels on in a session handle, not in the URL.
    found = client.post(reverse("cases:outbox"), {"q": "13812345678"}, follow=True)
    assert found.context["rows"][0]["m"] == failed and "5678" not in found.redirect_chain[-1][0]
    assert AuditEvent.objects.filter(action="cases.outbox_view", actor=dave).exists()


def test_a_failed_message_is_sent_again_once_and_the_retry_is_audited(client, dave, failed):
    login(client, dave)
    url = reverse("cases:outbox_retry", args=[failed.public_id])
    response = client.post(url, {"show": "failed"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("cases:outbox") + "?show=failed"
    failed.refresh_from_db()
    # The retry queued the send task on commit; here it stays queued until the sender runs.
    assert failed.retries == 1 and failed.retried_by == dave and failed.status in ("pending", "sent")
    assert AuditEvent.objects.get(action="core.outbox_retry").actor == dave
    outbox.outbox_send()
    failed.refresh_from_db()
    assert failed.status == "sent"
    again = client.post(url, follow=True).content.decode()
    assert "只有发送失败的短信可以重新发送" in again
    assert OutboxMessage.objects.get(pk=failed.pk).retries == 1
    retried = client.get(reverse("cases:outbox"), {"show": "retried"}).context["rows"]
    assert [r["m"].pk for r in retried] == [failed.pk]


def test_a_message_of_another_county_cannot_be_sent_again_from_here(client, dave, huimin_case):
    message = OutboxMessage.objects.get(subject=huimin_case.reference)
    OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.FAILED)
    login(client, dave)
    response = client.post(reverse("cases:outbox_retry", args=[message.public_id]))
    assert response.status_code == 403 and "不在您的数据权限范围内" in response.content.decode()
    assert OutboxMessage.objects.get(pk=message.pk).status == OutboxMessage.Status.FAILED


def test_a_window_clerk_is_refused_with_a_chinese_reason_and_has_no_menu_entry(client, bob, dave):
    login(client, bob)
    response = client.get(reverse("cases:outbox"))
    assert response.status_code == 403 and "县级审核员" in response.content.decode()
    assert 'data-testid="nav-outbox"' not in client.get(reverse("accounts:home")).content.decode()
    client.logout()
    login(client, dave)
    assert 'data-testid="nav-outbox"' in client.get(reverse("accounts:home")).content.decode()


def test_failed_messages_are_a_work_item_of_the_county_centre(dave, bob, failed):
    items = {i.key: i.count for i in work_items(dave)}
    assert items["outbox_failed"] == 1
    assert "outbox_failed" not in {i.key for i in work_items(bob)}


def test_the_outbox_page_reads_in_english(dave, failed):
    from ejia.core.tests.test_english_staff_pages import assert_english, in_english

    words = assert_english(
        in_english(dave), reverse("cases:outbox"), expect="SMS log", data=[failed.subject, "受理回执"]
    )
    assert ("h1", "SMS log") in words and ("button", "Send again") in words and ("th", "Attempts") in words
