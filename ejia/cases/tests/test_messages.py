"""The applicant's messages from intake: the receipt goes through the outbox with the case,
to the number the form gave or, failing that, the one the registry holds for the applicant."""

import pytest
from django.db import transaction

from ejia.cases.intake import intake_prefill
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member
from ejia.cases.tracking import TrackingError, sms_code_send
from ejia.core.models import OutboxMessage
from ejia.core.sms import MemoryBackend
from ejia.registry.services import household_create, membership_add, person_ensure
from ejia.registry.tests.factories import new_id, village

pytestmark = pytest.mark.django_db


class BrokenBackend:
    def send(self, phone, text):
        raise ConnectionError("gateway down")


def test_the_receipt_is_written_with_the_case_and_sent_after_commit(bob, catalogue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        case = case_submit(actor=bob, channel="window", idempotency_key="r1", data=application())
    receipt = OutboxMessage.objects.get(template="case_received")
    assert receipt.subject == case.reference and receipt.area_path == case.division.path
    assert receipt.status == OutboxMessage.Status.SENT and case.reference in receipt.text
    assert any(to == "13812345678" and case.reference in text for to, text, _ in MemoryBackend.sent)


def test_no_case_no_receipt_when_the_intake_transaction_fails(bob, catalogue):
    with pytest.raises(RuntimeError), transaction.atomic():
        case_submit(actor=bob, channel="window", idempotency_key="r2", data=application())
        raise RuntimeError("the server died before the commit")
    assert not OutboxMessage.objects.exists()


def test_the_registry_phone_is_carried_into_the_case_when_the_form_leaves_it_blank(bob, catalogue):
    number = new_id()
    person = person_ensure(actor=bob, id_number=number, name="王秀兰", phone="139 0543 2211")
    household = household_create(actor=bob, division=village(), address="黄河二路1号")
    membership_add(actor=bob, household=household, person=person, relation="02")

    draft = intake_prefill(user=bob, id_number=number)
    assert draft["phone"] == "139 0543 2211"  # shown on the form, editable

    head = member("王秀兰", income_month_fen=20000)
    head["id_number"] = number
    case = case_submit(actor=bob, channel="window", idempotency_key="r3", data=application(head, phone=""))
    assert case.phone == "13905432211"
    assert OutboxMessage.objects.get(template="case_received").recipient == "13905432211"


def test_an_application_without_any_mobile_number_leaves_a_visible_unsent_receipt(bob, catalogue):
    case = case_submit(actor=bob, channel="window", idempotency_key="r4", data=application(phone=""))
    receipt = OutboxMessage.objects.get(template="case_received")
    assert case.phone == "" and receipt.status == OutboxMessage.Status.NO_RECIPIENT


def test_a_login_code_the_gateway_refused_is_withdrawn_so_the_citizen_can_ask_again(settings):
    settings.EJIA_SMS_BACKEND = f"{__name__}.BrokenBackend"
    with pytest.raises(TrackingError, match="短信发送失败"):
        sms_code_send(phone="13900001111")
    settings.EJIA_SMS_BACKEND = "ejia.core.sms.MemoryBackend"
    sms_code_send(phone="13900001111")  # not "请60秒后再试"
    assert MemoryBackend.sent[-1][0] == "13900001111"
    assert not OutboxMessage.objects.exists()  # the code itself is never stored readable
