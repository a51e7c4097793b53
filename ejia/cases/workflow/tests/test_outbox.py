import pytest

from ejia.cases.workflow.models import NotificationTemplate, OutboxMessage
from ejia.cases.workflow.notifications import outbox_enqueue, outbox_send, templates_seed

pytestmark = pytest.mark.django_db

SENT: list[tuple[str, str]] = []


class RecordingBackend:
    def send(self, phone, text):
        SENT.append((phone, text))


class BrokenBackend:
    def send(self, phone, text):
        raise ConnectionError("gateway down")


def test_messages_are_rendered_from_template_rows_deduplicated_and_sent_once(settings):
    settings.EJIA_SMS_BACKEND = f"{__name__}.RecordingBackend"
    SENT.clear()
    templates_seed()
    NotificationTemplate.objects.filter(code="withdrawn").update(text="撤回：{reference} {programme}")
    context = {"reference": "371602-20260302-0001", "programme": "临时救助"}
    outbox_enqueue(dedup_key="k1", recipient="13800000000", template="withdrawn", context=context)
    outbox_enqueue(dedup_key="k1", recipient="13800000000", template="withdrawn", context=context)
    assert OutboxMessage.objects.count() == 1
    assert outbox_send() == 1 and outbox_send() == 0
    assert SENT == [("13800000000", "撤回：371602-20260302-0001 临时救助")]


def test_a_failed_send_stays_pending_and_is_retried(settings):
    templates_seed()
    outbox_enqueue(dedup_key="k2", recipient="13800000000", template="withdrawn", context={})
    settings.EJIA_SMS_BACKEND = f"{__name__}.BrokenBackend"
    assert outbox_send() == 0
    message = OutboxMessage.objects.get()
    assert message.status == "pending" and message.attempts == 1 and "gateway" in message.last_error
    settings.EJIA_SMS_BACKEND = f"{__name__}.RecordingBackend"
    assert outbox_send() == 1
    assert OutboxMessage.objects.get().status == "sent"
