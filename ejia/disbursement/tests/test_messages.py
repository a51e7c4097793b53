"""Households hear about their money through the outbox: a payment the bank reports paid,
and every written notice (end, suspension, amount change, gradual exit)."""

from __future__ import annotations

import csv
import io

import pytest

from ejia.cases.workflow.tests.conftest import procedures, submit_case  # noqa: F401
from ejia.core.models import OutboxMessage
from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.messages import household_phones
from ejia.disbursement.services import entitlement_create, entitlement_end, entitlement_suspend
from ejia.disbursement.tests.conftest import MAY, household, person
from ejia.registry.models import Household, Person

pytestmark = pytest.mark.django_db


def _return_csv(rows):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["交易流水号", "金额（元）", "结果", "银行流水号", "说明"])
    w.writerows(rows)
    return out.getvalue().encode("utf-8")


def _household(phone: str):
    head = person("赵桂英")
    Person.objects.filter(pk=head.pk).update(phone=phone)
    return household(head=head)


def test_a_paid_line_tells_the_household_once_and_a_failed_line_does_not(dave, grace, programmes):
    paid_hh, failed_hh = _household("13905430001"), _household("13905430002")
    for hh in (paid_hh, failed_hh):
        entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    batch = batch_release(actor=grace, batch=batch_build(actor=dave, county="371602", period=MAY))
    rows = list(csv.reader(io.StringIO(bank_file_export(actor=grace, batch=batch).content.decode("utf-8-sig"))))[6:]
    ref = {r[1]: r for r in rows}
    paid_ref = next(k for k in ref if batch.lines.get(pk=int(k[1:])).household_id == paid_hh.pk)
    failed_ref = next(k for k in ref if k != paid_ref)
    answer = _return_csv([[paid_ref, "600.00", "成功", "B1", ""], [failed_ref, "600.00", "失败", "", "账户冻结"]])
    bank_return_import(actor=grace, batch=batch, data=answer)
    bank_return_import(actor=grace, batch=batch, data=answer)  # the same answer again changes nothing

    [message] = OutboxMessage.objects.filter(template="payment_paid")
    assert message.recipient == "13905430001" and message.area_path == paid_hh.division.path
    assert "2026年5月" in message.text and "¥600.00" in message.text and "最低生活保障" in message.text
    assert message.subject.startswith("371602-202605")


def test_a_written_notice_goes_to_the_household_by_sms(dave, programmes):
    hh = _household("13905430003")
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    entitlement_suspend(actor=dave, entitlement=ent, reason="连续两次入户未遇")
    entitlement_end(actor=dave, entitlement=ent, from_month=MAY, reason="家庭收入超过低保标准")
    texts = list(OutboxMessage.objects.filter(template="benefit_notice").values_list("recipient", "text"))
    assert [r for r, _ in texts] == ["13905430003", "13905430003"]
    assert "暂停发放" in texts[0][1] and "连续两次入户未遇" in texts[0][1]
    assert "终止通知书" in texts[1][1] and "家庭收入超过低保标准" in texts[1][1]


def test_a_household_without_any_number_gets_a_visible_unsent_notice(dave, programmes):
    hh = household()
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    entitlement_end(actor=dave, entitlement=ent, from_month=MAY, reason="本人申请退出")
    message = OutboxMessage.objects.get(template="benefit_notice")
    assert message.status == OutboxMessage.Status.NO_RECIPIENT and message.last_error == "未登记手机号码"


def test_the_number_is_the_one_the_latest_application_gave(submit_case):  # noqa: F811
    case = submit_case()
    Person.objects.filter(pk=case.applicant_id).update(phone="13900000000")
    Household.objects.filter(pk=case.household_id).update(account_holder=case.applicant)
    assert household_phones([case.household_id]) == {case.household_id: "13812345678"}


def test_else_the_account_holders_else_the_heads(dave, programmes):
    holder = person("钱多")
    Person.objects.filter(pk=holder.pk).update(phone="13905430009")
    hh = household(head=holder)
    head_only = _household("13905430008")
    nobody = household(account=None)
    assert household_phones([hh.pk, head_only.pk, nobody.pk]) == {
        hh.pk: "13905430009",
        head_only.pk: "13905430008",
        nobody.pk: "",
    }
