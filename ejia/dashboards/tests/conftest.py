"""Fixtures shared with the disbursement tests, and a county with a month paid through the real
services (entitlements, a batch built and released, the bank's answer imported)."""

from __future__ import annotations

import pytest

from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import MAY, bank_answer, grace, household, programmes  # noqa: F401


@pytest.fixture
def answered(dave, grace, programmes, django_capture_on_commit_callbacks):  # noqa: F811
    """May in 滨城区: one household paid (低保 ¥600 + 残疾人补贴 ¥229), one failed (低保 ¥1,212),
    one held for want of an account (低保 ¥500)."""
    first, second, third = household(), household(), household(account=None)
    dibao = programmes["dibao"]
    entitlement_create(actor=dave, household=first, programme=dibao, amount_fen=60000, start_month=MAY)
    entitlement_create(
        actor=dave,
        household=first,
        programme=programmes["disability_living_subsidy"],
        person=first.memberships.get().person,
        amount_fen=22900,
        start_month=MAY,
    )
    entitlement_create(actor=dave, household=second, programme=dibao, amount_fen=121200, start_month=MAY)
    entitlement_create(actor=dave, household=third, programme=dibao, amount_fen=50000, start_month=MAY)
    batch = batch_release(actor=grace, batch=batch_build(actor=dave, county="371602", period=MAY))
    bank_file_export(actor=grace, batch=batch)
    one, two = batch.lines.get(household=first), batch.lines.get(household=second)
    # The import queues a refresh of May once it commits.
    with django_capture_on_commit_callbacks(execute=True):
        bank_return_import(
            actor=grace,
            batch=batch,
            data=bank_answer(
                [one.reference, "829.00", "成功", "B1", ""], [two.reference, "1212.00", "失败", "", "账户冻结"]
            ),
        )
    return programmes
