"""Reconciliation that ends: corrected returns, the bank's amount accepted by a second person,
failures re-issued into a named later batch as lines of their own, the history follows the bank."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from ejia.core.models import AuditEvent
from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.exceptions import DisbursementError, ReconciliationError
from ejia.disbursement.models import PaymentBatch, PaymentLine, PaymentReturn, add_months
from ejia.disbursement.reconciliation import (
    batch_reconcile,
    line_accept_bank_amount,
    line_reissue,
    reissue_targets,
)
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import MAY, bank_answer, household
from ejia.registry.models import BenefitRecord

pytestmark = pytest.mark.django_db
JUNE = add_months(MAY, 1)


@pytest.fixture
def exported(dave, grace, programmes):
    """Two households in an exported May batch: 低保 ¥600 + 残疾人补贴 ¥229 = ¥829, and ¥1,212."""
    first = household()
    entitlement_create(actor=dave, household=first, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    entitlement_create(
        actor=dave,
        household=first,
        programme=programmes["disability_living_subsidy"],
        person=first.memberships.get().person,
        amount_fen=22900,
        start_month=MAY,
    )
    second = household()
    entitlement_create(actor=dave, household=second, programme=programmes["dibao"], amount_fen=121200, start_month=MAY)
    batch = batch_release(actor=grace, batch=batch_build(actor=dave, county="371602", period=MAY))
    bank_file_export(actor=grace, batch=batch)
    batch.refresh_from_db()
    return batch, batch.lines.get(household=first), batch.lines.get(household=second)


def test_a_corrected_return_wins_and_the_first_answer_is_kept(grace, exported):
    batch, mismatched, other = exported
    bank_return_import(
        actor=grace,
        batch=batch,
        data=bank_answer(
            [mismatched.reference, "828.00", "成功", "B1", ""], [other.reference, "1212.00", "成功", "B2", ""]
        ),
    )
    mismatched.refresh_from_db()
    assert mismatched.status == PaymentLine.Status.MISMATCH and mismatched.bank_amount_fen == 82800
    assert not BenefitRecord.objects.filter(household=mismatched.household).exists()
    with pytest.raises(ReconciliationError, match=re.escape("应发 ¥829.00，银行回盘 ¥828.00，差额 -¥1.00")):
        batch_reconcile(actor=grace, batch=batch)

    result = bank_return_import(
        actor=grace, batch=batch, data=bank_answer([mismatched.reference, "829.00", "成功", "B1c", ""])
    )
    assert (result.paid, result.corrected) == (1, 1)
    mismatched.refresh_from_db()
    assert mismatched.status == PaymentLine.Status.PAID and mismatched.bank_reference == "B1c"
    assert list(mismatched.returns.values_list("status", "bank_amount_fen")) == [("paid", 82900), ("mismatch", 82800)]
    assert (
        sum(BenefitRecord.objects.filter(household=mismatched.household).values_list("amount_fen", flat=True)) == 82900
    )
    # The same file again changes nothing and adds no history.
    again = bank_return_import(
        actor=grace, batch=batch, data=bank_answer([mismatched.reference, "829.00", "成功", "B1c", ""])
    )
    assert again.unchanged == 1 and mismatched.returns.count() == 2
    assert batch_reconcile(actor=grace, batch=batch).status == PaymentBatch.Status.RECONCILED


def test_a_correction_that_the_money_did_not_arrive_takes_it_out_of_the_history(grace, exported):
    batch, line, _other = exported
    bank_return_import(actor=grace, batch=batch, data=bank_answer([line.reference, "829.00", "成功", "B1", ""]))
    assert BenefitRecord.objects.filter(household=line.household).count() == 2
    bank_return_import(actor=grace, batch=batch, data=bank_answer([line.reference, "829.00", "退回", "B1", "户名不符"]))
    line.refresh_from_db()
    assert line.status == PaymentLine.Status.RETURNED
    assert not BenefitRecord.objects.filter(household=line.household).exists()


def test_the_bank_amount_is_accepted_by_a_second_person_with_a_reason(client, dave, grace, exported):
    batch, line, other = exported
    bank_return_import(
        actor=grace,
        batch=batch,
        data=bank_answer([line.reference, "828.00", "成功", "B1", ""], [other.reference, "1212.00", "成功", "B2", ""]),
    )
    with pytest.raises(DisbursementError, match="须填写书面理由"):
        line_accept_bank_amount(actor=dave, line=line, reason="  ")
    with pytest.raises(DisbursementError, match="银行回盘由您导入，须由另一位工作人员确认"):
        line_accept_bank_amount(actor=grace, line=line, reason="手续费")
    accepted = line_accept_bank_amount(actor=dave, line=line, reason="银行扣除跨行手续费 1 元，已电话核实")
    assert accepted.status == PaymentLine.Status.ACCEPTED and accepted.accepted_by == dave
    records = BenefitRecord.objects.filter(household=line.household)
    # The history adds up to what the bank paid; the largest item carries the difference.
    assert sorted(records.values_list("amount_fen", flat=True)) == [22900, 59900]
    assert "银行实付 ¥828.00" in records.get(amount_fen=59900).note
    assert AuditEvent.objects.filter(action="disbursement.line_accept_bank_amount", actor=dave).exists()
    # The household's 360° page shows what the bank paid, and why it differs.
    client.force_login(dave)
    page = client.get(reverse("registry:household_detail", args=[line.household.public_id])).content.decode()
    assert 'data-testid="household-payments"' in page
    assert "<strong>¥828.00</strong>" in page and "已到账，按银行金额确认" in page and "跨行手续费" in page
    batch = batch_reconcile(actor=dave, batch=batch)
    assert batch.status == PaymentBatch.Status.RECONCILED
    event = AuditEvent.objects.get(action="disbursement.batch_reconcile")
    assert event.data["bank_paid_fen"] == 82800 + 121200


def test_a_failure_is_reissued_into_a_built_later_batch_at_once_as_its_own_line(dave, grace, exported, programmes):
    batch, line, other = exported
    bank_return_import(
        actor=grace,
        batch=batch,
        data=bank_answer(
            [line.reference, "829.00", "成功", "B1", ""], [other.reference, "1212.00", "失败", "", "账户冻结"]
        ),
    )
    june = batch_build(actor=dave, county="371602", period=JUNE)
    assert (june.declared_line_count, june.declared_total_fen) == (2, 82900 + 121200)
    labels = [t.label for t in reissue_targets(batch)]
    assert labels[0].startswith(june.reference) and "尚未生成" in labels[1]
    with pytest.raises(DisbursementError, match="更晚月份"):
        line_reissue(actor=grace, line=other, period=MAY)
    line_reissue(actor=grace, line=other, period=JUNE, reason="已更换账户")
    other.refresh_from_db()
    assert other.status == PaymentLine.Status.REISSUED
    june.refresh_from_db()
    new = other.reissued_to
    assert (new.batch, new.kind, new.amount_fen) == (june, PaymentLine.Kind.REISSUE, 121200)
    # Not merged: the household's June regular line is still ¥1,212 on its own.
    assert june.lines.get(household=other.household, kind=PaymentLine.Kind.REGULAR).amount_fen == 121200
    assert (june.declared_line_count, june.declared_total_fen) == (3, 82900 + 2 * 121200)
    # The failed line's answer cannot be changed once its money went into another batch.
    with pytest.raises(DisbursementError, match="已转入后续批次重新发放"):
        bank_return_import(actor=grace, batch=batch, data=bank_answer([other.reference, "1212.00", "成功", "B9", ""]))
    assert batch_reconcile(actor=grace, batch=batch).status == PaymentBatch.Status.RECONCILED


def test_a_released_later_batch_cannot_take_a_reissue(dave, grace, exported):
    batch, _line, other = exported
    bank_return_import(actor=grace, batch=batch, data=bank_answer([other.reference, "1212.00", "失败", "", ""]))
    june = batch_release(actor=grace, batch=batch_build(actor=dave, county="371602", period=JUNE))
    assert all(t.batch != june for t in reissue_targets(batch))
    with pytest.raises(DisbursementError, match="已复核发放，不能再加入明细"):
        line_reissue(actor=grace, line=other, period=JUNE)
    other.refresh_from_db()
    assert other.status == PaymentLine.Status.FAILED and not other.reissue_requested
    assert PaymentReturn.objects.filter(line=other).count() == 1


def test_a_correction_clears_an_acceptance_and_a_reissue_not_yet_carried(dave, grace, exported):
    batch, line, other = exported
    bank_return_import(
        actor=grace,
        batch=batch,
        data=bank_answer(
            [line.reference, "828.00", "成功", "B1", ""], [other.reference, "1212.00", "失败", "", "冻结"]
        ),
    )
    line_accept_bank_amount(actor=dave, line=line, reason="手续费")
    line_reissue(actor=grace, line=other, period=JUNE)
    other.refresh_from_db()
    assert other.reissue_requested and other.reissue_period == JUNE
    # The bank corrects both: the full amount arrived after all, and so did the "failed" transfer.
    result = bank_return_import(
        actor=grace,
        batch=batch,
        data=bank_answer([line.reference, "829.00", "成功", "B1", ""], [other.reference, "1212.00", "成功", "B2", ""]),
    )
    assert (result.paid, result.corrected) == (2, 2)
    line.refresh_from_db()
    other.refresh_from_db()
    assert line.status == PaymentLine.Status.PAID and line.accepted_by is None and line.accept_reason == ""
    assert other.status == PaymentLine.Status.PAID and not other.reissue_requested and other.reissue_period is None
    # June's batch has nothing to carry now: the money arrived once.
    june = batch_build(actor=dave, county="371602", period=JUNE)
    assert not june.lines.filter(kind=PaymentLine.Kind.REISSUE).exists()
    assert sum(BenefitRecord.objects.filter(household=line.household).values_list("amount_fen", flat=True)) == 82900
