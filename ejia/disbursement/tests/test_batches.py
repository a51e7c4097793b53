"""Monthly batches: one line per household, never twice, two people, bank file, return, reconciliation."""

from __future__ import annotations

import csv
import io
import threading

import pytest
from django.db import IntegrityError, connection, transaction

from ejia.disbursement.bankfiles import BankAnswer, bank_file_export, bank_return_import, return_file
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.exceptions import DisbursementError, ReconciliationError
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentItem, PaymentLine, add_months
from ejia.disbursement.reconciliation import batch_reconcile, line_reissue
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import MAY, household, person
from ejia.disbursement.transitions import LineAction
from ejia.registry.models import BenefitRecord

pytestmark = pytest.mark.django_db


def _dibao_household(dave, programmes, amount=60000, **kw):
    hh = household(**kw)
    entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=amount, start_month=MAY)
    return hh


def _return_csv(rows):
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["交易流水号", "金额（元）", "结果", "银行流水号", "说明"])
    w.writerows(rows)
    return out.getvalue().encode("utf-8")


def _bank_rows(content: bytes) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    return rows[6:]


def test_one_line_per_household_sums_every_programme(dave, programmes):
    hh = _dibao_household(dave, programmes)
    member = hh.memberships.get().person
    entitlement_create(
        actor=dave,
        household=hh,
        programme=programmes["disability_living_subsidy"],
        person=member,
        amount_fen=9000,
        start_month=MAY,
    )
    entitlement_create(actor=dave, household=hh, programme=programmes["linshi"], amount_fen=100000, start_month=MAY)
    batch = batch_build(actor=dave, county="371602", period=MAY)
    assert batch.status == PaymentBatch.Status.BUILT
    [line] = batch.lines.all()
    assert line.amount_fen == 60000 + 9000 + 100000
    assert line.items.count() == 3
    assert (batch.line_count, batch.total_fen) == (1, 169000)
    # The one-off payment is one period: next month pays the two monthly ones only.
    june = batch_build(actor=dave, county="371602", period=add_months(MAY, 1))
    assert june.lines.get().amount_fen == 69000


def test_building_twice_returns_the_same_batch_and_adds_nothing(dave, programmes):
    _dibao_household(dave, programmes)
    first = batch_build(actor=dave, county="371602", period=MAY)
    again = batch_build(actor=dave, county="371602", period=MAY)
    assert first.pk == again.pk
    assert PaymentLine.objects.count() == 1 and PaymentItem.objects.count() == 1


def test_the_database_refuses_a_second_item_for_the_same_entitlement_and_month(dave, programmes):
    _dibao_household(dave, programmes)
    batch = batch_build(actor=dave, county="371602", period=MAY)
    item = PaymentItem.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentItem.objects.create(line=batch.lines.get(), entitlement=item.entitlement, period=MAY, amount_fen=1)


def test_a_resumed_build_equals_a_clean_build(dave, programmes):
    for _ in range(7):
        _dibao_household(dave, programmes)
    partial = batch_build(actor=dave, county="371602", period=MAY, chunk_size=2, max_chunks=2)
    assert partial.status == PaymentBatch.Status.BUILDING
    done = batch_build(actor=dave, county="371602", period=MAY, chunk_size=3)
    assert done.status == PaymentBatch.Status.BUILT and done.line_count == 7
    assert PaymentItem.objects.count() == 7


def test_release_needs_a_second_person_and_is_idempotent(dave, grace, programmes):
    _dibao_household(dave, programmes)
    batch = batch_build(actor=dave, county="371602", period=MAY)
    with pytest.raises(DisbursementError, match="两人复核"):
        batch_release(actor=dave, batch=batch)
    released = batch_release(actor=grace, batch=batch)
    assert released.status == PaymentBatch.Status.RELEASED and released.released_by == grace
    assert batch_release(actor=grace, batch=batch).released_at == released.released_at


def test_the_database_refuses_preparer_as_releaser(dave, programmes):
    _dibao_household(dave, programmes)
    batch = batch_build(actor=dave, county="371602", period=MAY)
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentBatch.objects.filter(pk=batch.pk).update(released_by=dave)


def test_a_household_without_account_is_held_and_carried_to_the_next_month(dave, programmes):
    from ejia.core import crypto
    from ejia.registry.models import ACCOUNT_PURPOSE

    hh = _dibao_household(dave, programmes, account=None)
    may = batch_build(actor=dave, county="371602", period=MAY)
    line = may.lines.get()
    assert line.status == PaymentLine.Status.HELD and line.hold_reason == PaymentLine.HoldReason.NO_ACCOUNT
    assert may.line_count == 0 and may.held_count == 1
    hh.account_ciphertext = crypto.encrypt("6228480000000000999", purpose=ACCOUNT_PURPOSE)
    hh.account_holder = hh.memberships.get().person
    hh.save()
    june = batch_build(actor=dave, county="371602", period=add_months(MAY, 1))
    regular = june.lines.get(kind=PaymentLine.Kind.REGULAR)
    carried = june.lines.get(kind=PaymentLine.Kind.REISSUE)
    # May is paid again as a line of its own, never merged into June's amount.
    assert (regular.status, regular.amount_fen) == (PaymentLine.Status.PENDING, 60000)
    assert (carried.status, carried.amount_fen) == (PaymentLine.Status.PENDING, 60000)
    assert list(carried.items.values_list("period", flat=True)) == [MAY]
    line.refresh_from_db()
    assert line.status == PaymentLine.Status.REISSUED and line.reissued_to == carried
    assert (june.line_count, june.total_fen) == (2, 120000)


def test_a_household_without_the_account_holder_is_held_not_exported_blank(dave, grace, programmes):
    hh = _dibao_household(dave, programmes)
    hh.account_holder = None
    hh.save()
    _dibao_household(dave, programmes, amount=45050)
    batch = batch_build(actor=dave, county="371602", period=MAY)
    held = batch.lines.get(household=hh)
    assert held.status == PaymentLine.Status.HELD and held.hold_reason == PaymentLine.HoldReason.NO_HOLDER
    assert (batch.line_count, batch.total_fen, batch.held_count) == (1, 45050, 1)
    file = bank_file_export(actor=grace, batch=batch_release(actor=grace, batch=batch))
    rows = _bank_rows(file.content)
    assert len(rows) == 1 and rows[0][2] and rows[0][5] == "450.50"
    assert f"L{held.pk:010d}" not in file.content.decode("utf-8-sig")


def test_a_held_line_comes_back_before_release_once_the_holder_is_registered(dave, programmes):
    from ejia.disbursement.batches import held_lines_recheck

    hh = _dibao_household(dave, programmes)
    holder = hh.account_holder
    hh.account_holder = None
    hh.save()
    batch = batch_build(actor=dave, county="371602", period=MAY)
    assert held_lines_recheck(actor=dave, batch=batch) == 0
    hh.account_holder = holder
    hh.save()
    assert held_lines_recheck(actor=dave, batch=batch) == 1
    batch.refresh_from_db()
    line = batch.lines.get()
    assert line.status == PaymentLine.Status.PENDING and line.holder_name == holder.name and not line.hold_reason
    assert (batch.declared_line_count, batch.declared_total_fen, batch.held_count) == (1, 60000, 0)


def test_bank_file_has_header_checksum_and_no_formula(dave, grace, programmes):
    evil = person(name="=HYPERLINK(1)")
    _dibao_household(dave, programmes, head=evil)
    _dibao_household(dave, programmes, amount=45050)
    batch = batch_release(actor=grace, batch=batch_build(actor=dave, county="371602", period=MAY))
    file = bank_file_export(actor=grace, batch=batch)
    rows = list(csv.reader(io.StringIO(file.content.decode("utf-8-sig"))))
    assert rows[2] == ["笔数", "2"] and rows[3] == ["总金额（元）", "1050.50"]
    assert rows[4][1] == file.checksum and len(file.checksum) == 64
    assert rows[6][2] == "'=HYPERLINK(1)" and rows[6][3] == "6228480000000000123"
    again = bank_file_export(actor=grace, batch=batch, fmt="xlsx")
    assert again.checksum == file.checksum
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(again.content)).active
    assert ws.cell(7, 3).value == "'=HYPERLINK(1)" and ws.cell(7, 4).data_type == "s"
    batch.refresh_from_db()
    assert batch.status == PaymentBatch.Status.EXPORTED and batch.checksum == file.checksum


def test_reconciliation_waits_for_every_answer_then_a_failure_is_reissued_as_its_own_line(dave, grace, programmes):
    households = [_dibao_household(dave, programmes) for _ in range(3)]
    batch = batch_release(actor=grace, batch=batch_build(actor=dave, county="371602", period=MAY))
    rows = _bank_rows(bank_file_export(actor=grace, batch=batch).content)
    refs = [r[1] for r in rows]
    bank_return_import(
        actor=grace,
        batch=batch,
        data=_return_csv([[refs[0], "600.00", "成功", "B1", ""], [refs[1], "600.00", "成功", "B2", ""]]),
    )
    with pytest.raises(ReconciliationError) as exc:
        batch_reconcile(actor=grace, batch=batch)
    assert "银行回盘缺少 1 笔" in str(exc.value) and refs[2] in str(exc.value)
    bank_return_import(actor=grace, batch=batch, data=_return_csv([[refs[2], "600.00", "失败", "", "账户已冻结"]]))
    with pytest.raises(ReconciliationError) as exc:
        batch_reconcile(actor=grace, batch=batch)
    assert f"{refs[2]}：发放失败（账户已冻结），尚未安排重新发放" in str(exc.value)
    failed = PaymentLine.objects.get(pk=int(refs[2][1:]))
    line_reissue(actor=grace, line=failed, period=add_months(MAY, 1), reason="已更换账户")
    batch = batch_reconcile(actor=grace, batch=batch)
    assert batch.status == PaymentBatch.Status.RECONCILED
    assert BenefitRecord.objects.filter(source="payment").count() == 2
    assert not BenefitRecord.objects.filter(household=households[2]).exists()
    june = batch_build(actor=dave, county="371602", period=add_months(MAY, 1))
    assert sorted(june.lines.filter(household=failed.household).values_list("kind", "amount_fen")) == [
        ("regular", 60000),
        ("reissue", 60000),
    ]
    failed.refresh_from_db()
    assert failed.status == PaymentLine.Status.REISSUED and failed.reissued_to.batch == june
    assert june.lines.exclude(household=failed.household).first().amount_fen == 60000


def test_a_return_file_written_as_the_bank_sends_it_is_read_back_line_by_line(dave, grace, programmes):
    for amount in (60000, 45050, 30000):
        _dibao_household(dave, programmes, amount=amount)
    batch = batch_release(actor=grace, batch=batch_build(actor=dave, county="371602", period=MAY))
    bank_file_export(actor=grace, batch=batch)
    paid, failed, returned = (batch.lines.get(amount_fen=amount) for amount in (60000, 45050, 30000))
    data = return_file(
        [
            BankAnswer(paid.pk, paid.amount_fen, LineAction.BANK_PAID, "B1"),
            BankAnswer(failed.pk, failed.amount_fen, LineAction.BANK_FAILED, note="账户已冻结"),
            BankAnswer(returned.pk, returned.amount_fen, LineAction.BANK_RETURNED, "R3", "户名与账户不符"),
        ]
    )
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows[0] == ["交易流水号", "金额（元）", "结果", "银行流水号", "说明"]
    assert rows[2] == [failed.reference, "450.50", "失败", "", "账户已冻结"]
    result = bank_return_import(actor=grace, batch=batch, data=data)
    assert (result.paid, result.failed, result.returned, result.mismatch) == (1, 1, 1, 0)
    for line, status in ((paid, "paid"), (failed, "failed"), (returned, "returned")):
        line.refresh_from_db()
        assert line.status == status
    assert (paid.bank_reference, returned.bank_reference) == ("B1", "R3")


def test_a_suspended_entitlement_is_skipped(dave, programmes):
    from ejia.disbursement.services import entitlement_suspend

    _dibao_household(dave, programmes)
    ent = Entitlement.objects.get()
    entitlement_suspend(actor=dave, entitlement=ent, reason="连续两次联系不上")
    assert batch_build(actor=dave, county="371602", period=MAY).lines.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_builds_and_releases_give_one_batch(dave, grace, programmes):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers; the row locks matter on PostgreSQL")
    for _ in range(20):
        _dibao_household(dave, programmes)
    errors, batches = [], []

    def run(fn):
        try:
            batches.append(fn())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(lambda: batch_build(actor=dave, county="371602", period=MAY, chunk_size=3),))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len({b.pk for b in batches}) == 1
    assert PaymentLine.objects.count() == 20 and PaymentItem.objects.count() == 20
    batch = PaymentBatch.objects.get()
    threads = [threading.Thread(target=run, args=(lambda: batch_release(actor=grace, batch=batch),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    batch.refresh_from_db()
    assert batch.status == PaymentBatch.Status.RELEASED and batch.released_by_id == grace.pk


def test_a_decision_after_its_months_batch_is_built_is_paid_once_as_arrears(dave, programmes):
    _dibao_household(dave, programmes)
    batch_build(actor=dave, county="371602", period=MAY)
    late = household()
    main = entitlement_create(
        actor=dave, household=late, programme=programmes["dibao"], amount_fen=50000, start_month=MAY
    )
    one_off = entitlement_create(
        actor=dave, household=late, programme=programmes["linshi"], amount_fen=80000, start_month=MAY
    )
    assert main.start_month == MAY and one_off.start_month == add_months(MAY, 1)
    june = batch_build(actor=dave, county="371602", period=add_months(MAY, 1))
    regular = june.lines.get(household=late, kind=PaymentLine.Kind.REGULAR)
    arrears = june.lines.get(household=late, kind=PaymentLine.Kind.ARREARS)
    assert regular.amount_fen == 50000 + 80000  # June and the one-off
    assert arrears.amount_fen == 50000 and list(arrears.items.values_list("entitlement", "period")) == [(main.pk, MAY)]
    again = batch_build(actor=dave, county="371602", period=add_months(MAY, 2))
    assert list(again.lines.filter(household=late).values_list("kind", "amount_fen")) == [("regular", 50000)]


def test_arrears_are_one_item_per_missed_month_and_never_paid_twice(dave, programmes):
    hh = household()
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=50000, start_month=MAY)
    july = add_months(MAY, 2)
    batch = batch_build(actor=dave, county="371602", period=july)
    arrears = batch.lines.get(kind=PaymentLine.Kind.ARREARS)
    assert sorted(arrears.items.values_list("period", flat=True)) == [MAY, add_months(MAY, 1)]
    assert arrears.amount_fen == 100000 and batch.lines.get(kind=PaymentLine.Kind.REGULAR).amount_fen == 50000
    assert (batch.line_count, batch.total_fen) == (2, 150000)
    # Building the skipped June afterwards finds June already paid (as arrears): nothing twice.
    june = batch_build(actor=dave, county="371602", period=add_months(MAY, 1))
    assert june.lines.count() == 0
    assert PaymentItem.objects.filter(entitlement=ent).count() == 3


def test_an_amount_change_cannot_reach_back_into_a_built_month(bob, dave, programmes):
    from ejia.disbursement.services import entitlement_change_amount

    hh = _dibao_household(dave, programmes)
    batch_build(actor=dave, county="371602", period=MAY)
    with pytest.raises(DisbursementError, match="最早自 2026-06 起"):
        entitlement_change_amount(
            actor=bob, entitlement=Entitlement.objects.get(household=hh), amount_fen=1, from_month=MAY, reason="测试"
        )


def test_the_build_form_offers_a_skipped_month_that_still_owes_money(client, dave, programmes):
    from django.urls import reverse

    from ejia.accounts.models import Division
    from ejia.disbursement.batch_jobs import months_to_build

    _dibao_household(dave, programmes)
    county = Division.objects.get(code="371602")
    june, july = add_months(MAY, 1), add_months(MAY, 2)
    assert months_to_build(county, today=MAY) == [MAY, june]
    batch_build(actor=dave, county="371602", period=MAY)
    batch_build(actor=dave, county="371602", period=july)  # June was skipped
    assert months_to_build(county, today=july) == [june, add_months(MAY, 3)]
    client.force_login(dave)
    page = client.get(reverse("disbursement:batch_list")).content.decode()
    assert "2026-06（滨城区 有未发放的待遇）" in page
    batch_build(actor=dave, county="371602", period=june)
    assert june not in months_to_build(county, today=july)
