"""The outbox: written in the caller's transaction, sent after commit at least once, retried
with a backoff, failed messages visible and put back by staff, nothing sent twice."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from conftest import race
from ejia.core import outbox
from ejia.core.models import AuditEvent, NotificationTemplate, OutboxMessage
from ejia.core.outbox import Message, OutboxError, outbox_enqueue, outbox_enqueue_many, outbox_retry, outbox_send
from ejia.core.sms import MemoryBackend

pytestmark = pytest.mark.django_db

CONTEXT = {"reference": "371602-20260302-0001", "programme": "临时救助"}


class BrokenBackend:
    def send(self, phone, text):
        raise ConnectionError("gateway down")


def enqueue(key="k1", recipient="13800000000", **extra):
    return outbox_enqueue(dedup_key=key, recipient=recipient, template="withdrawn", context=CONTEXT, **extra)


def sent_to(phone):
    return [text for to, text, _ in MemoryBackend.sent if to == phone]


def test_messages_are_rendered_from_template_rows_deduplicated_and_sent_once():
    outbox.templates_seed()
    NotificationTemplate.objects.filter(code="withdrawn").update(text="撤回：{reference} {programme}")
    assert enqueue() is not None
    assert enqueue() is None
    assert OutboxMessage.objects.count() == 1
    assert outbox_send().sent == 1 and outbox_send().sent == 0
    assert sent_to("13800000000") == ["撤回：371602-20260302-0001 临时救助"]


def test_a_message_is_sent_after_its_transaction_commits_and_never_when_it_rolls_back(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        enqueue("lost", recipient="13800000001")
        raise RuntimeError("the state change failed")
    assert not OutboxMessage.objects.exists() and not sent_to("13800000001")

    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            enqueue("kept", recipient="13800000002")
        assert not sent_to("13800000002")  # nothing leaves before the commit
    assert len(sent_to("13800000002")) == 1
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.SENT


def test_a_crash_between_commit_and_sending_leaves_the_message_for_the_sweep():
    enqueue(recipient="13800000003")  # committed; the on-commit send never ran (the process died)
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.PENDING
    call_command("outbox_send")
    assert OutboxMessage.objects.get().status == OutboxMessage.Status.SENT
    assert len(sent_to("13800000003")) == 1


def test_a_failed_send_waits_for_its_backoff_and_is_retried(settings):
    enqueue()
    settings.EJIA_SMS_BACKEND = f"{__name__}.BrokenBackend"
    result = outbox_send()
    assert (result.sent, result.waiting) == (0, 1)
    message = OutboxMessage.objects.get()
    assert message.status == "pending" and message.attempts == 1 and "gateway down" in message.last_error
    assert message.next_attempt_at > timezone.now()
    settings.EJIA_SMS_BACKEND = "ejia.core.sms.MemoryBackend"
    assert outbox_send().due == 0  # not yet due
    OutboxMessage.objects.update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert outbox_send().sent == 1
    message.refresh_from_db()
    assert message.status == "sent" and message.attempts == 2


def test_a_message_claimed_by_another_sender_is_not_sent_twice():
    enqueue(recipient="13800000004")
    OutboxMessage.objects.update(claimed_until=timezone.now() + dt.timedelta(minutes=1))
    assert outbox_send().sent == 0 and not sent_to("13800000004")


def test_after_the_last_attempt_a_message_is_failed_until_staff_send_it_again(settings, dave):
    enqueue(recipient="13800000005")
    settings.EJIA_SMS_BACKEND = f"{__name__}.BrokenBackend"
    for _ in range(outbox.MAX_ATTEMPTS):
        OutboxMessage.objects.update(next_attempt_at=None)
        outbox_send()
    message = OutboxMessage.objects.get()
    assert message.status == OutboxMessage.Status.FAILED and message.attempts == outbox.MAX_ATTEMPTS
    assert outbox_send().due == 0  # a failed message is never picked up by itself

    settings.EJIA_SMS_BACKEND = "ejia.core.sms.MemoryBackend"
    retried = outbox_retry(actor=dave, message=message)
    assert (retried.status, retried.attempts, retried.retries, retried.retried_by) == ("pending", 0, 1, dave)
    event = AuditEvent.objects.get(action="core.outbox_retry")
    assert event.actor == dave and event.object_id == str(message.public_id)
    assert outbox_send().sent == 1 and len(sent_to("13800000005")) == 1

    with pytest.raises(OutboxError, match="只有发送失败的短信可以重新发送"):
        outbox_retry(actor=dave, message=message)


def test_a_message_without_a_mobile_number_is_kept_visible_and_never_sent():
    blank = enqueue("no-phone", recipient="")
    landline = enqueue("landline", recipient="0543-3161234")
    assert blank.status == landline.status == OutboxMessage.Status.NO_RECIPIENT
    assert blank.last_error == "未登记手机号码" and landline.last_error == "手机号码格式不正确"
    assert outbox_send().due == 0


def test_a_number_is_stored_normalised():
    assert enqueue(recipient="+86 138-0000-0006").recipient == "13800000006"


def test_an_unknown_template_fails_the_change_loudly():
    with pytest.raises(OutboxError, match="没有名为“nope”的短信模板"):
        outbox_enqueue(dedup_key="x", recipient="13800000000", template="nope", context={})


def test_many_messages_are_written_at_once_and_a_key_already_written_is_skipped():
    enqueue("m1")
    messages = [Message(f"m{i}", "13800000000", "withdrawn", CONTEXT, area_path="371600/", subject="S") for i in (1, 2)]
    assert outbox_enqueue_many(messages) == 1
    assert OutboxMessage.objects.count() == 2
    assert OutboxMessage.objects.get(dedup_key="m2").area_path == "371600/"


def _race(*attempts) -> list[str]:
    return race(*attempts, expected={OutboxError: lambda exc: "refused"})


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_four_senders_at_once_send_every_message_exactly_once():
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent PostgreSQL sessions")
    phones = [f"1370000{n:04d}" for n in range(40)]
    for n, phone in enumerate(phones):
        enqueue(f"race-{n}", recipient=phone)
    # Each was sent on its commit (tasks run inline here): put them all back in the queue.
    OutboxMessage.objects.update(status=OutboxMessage.Status.PENDING, attempts=0, sent_at=None)
    MemoryBackend.sent[:] = [row for row in MemoryBackend.sent if row[0] not in phones]
    outcomes = _race(*[lambda: str(outbox_send().sent)] * 4)
    assert sum(int(o) for o in outcomes) == 40, outcomes
    assert sorted(to for to, _, _ in MemoryBackend.sent if to in phones) == phones
    assert set(OutboxMessage.objects.values_list("status", "attempts")) == {("sent", 1)}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_five_staff_sending_a_failed_message_again_at_once_queue_it_once(dave):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    message = enqueue("race-retry", recipient="13700009999")
    OutboxMessage.objects.filter(pk=message.pk).update(status=OutboxMessage.Status.FAILED, attempts=5)

    def retry():
        outbox_retry(actor=dave, message=message)
        return "ok"

    outcomes = _race(*[retry] * 5)
    assert sorted(outcomes) == ["ok"] + ["refused"] * 4, outcomes
    assert OutboxMessage.objects.get(pk=message.pk).retries == 1
    assert AuditEvent.objects.filter(action="core.outbox_retry").count() == 1
