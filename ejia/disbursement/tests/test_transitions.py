"""Batches, lines and entitlements move only through their transition tables, each move audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ejia.core.models import AuditEvent
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentLine
from ejia.disbursement.services import entitlement_create, entitlement_end, entitlement_resume, entitlement_suspend
from ejia.disbursement.tests.conftest import MAY, household
from ejia.disbursement.transitions import (
    BATCH,
    ENTITLEMENT,
    LINE,
    BatchAction,
    LineAction,
    TransitionRefused,
    batch_transition,
    line_transition,
)

pytestmark = pytest.mark.django_db


def test_every_state_is_reached_by_some_move_and_every_move_names_known_states():
    for table in (BATCH, LINE, ENTITLEMENT):
        states = set(table.states.values)
        assert {m.target for m in table.moves} == states, table.noun
        assert {m.source for m in table.moves} - {None} <= states
        assert {m.action for m in table.moves} == set(table.actions.values)


def _built(dave, programmes):
    hh = household()
    entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    return batch_build(actor=dave, county="371602", period=MAY)


def test_a_batch_move_outside_the_table_is_refused_in_chinese(dave, grace, programmes):
    batch = _built(dave, programmes)
    with pytest.raises(TransitionRefused, match="发放批次当前状态为“已生成，待复核发放”，不能“对账”"):
        batch_transition(actor=grace, batch_id=batch.pk, action=BatchAction.RECONCILE)
    batch.refresh_from_db()
    assert batch.status == PaymentBatch.Status.BUILT


def test_a_move_writes_an_audit_event_with_both_states(dave, grace, programmes):
    batch = _built(dave, programmes)
    batch_release(actor=grace, batch=batch)
    event = AuditEvent.objects.filter(action="disbursement.batch_release").get()
    assert event.actor == grace and event.data["from"] == "built" and event.data["to"] == "released"


def test_a_line_move_outside_the_table_is_refused(dave, grace, programmes):
    batch = _built(dave, programmes)
    line = batch.lines.get()
    with pytest.raises(TransitionRefused, match="发放明细当前状态为“待银行处理”，不能“按银行金额确认”"):
        line_transition(actor=grace, line_id=line.pk, action=LineAction.ACCEPT)
    with pytest.raises(TransitionRefused, match="不能“转入后续批次重新发放”"):
        line_transition(actor=grace, line_id=line.pk, action=LineAction.REISSUE)
    line.refresh_from_db()
    assert line.status == PaymentLine.Status.PENDING


def test_only_county_payment_staff_may_move_a_line(bob, dave, programmes):
    line = _built(dave, programmes).lines.get()
    with pytest.raises(TransitionRefused, match="您的角色不能办理发放明细"):
        line_transition(actor=bob, line_id=line.pk, action=LineAction.BANK_PAID)


def test_an_ended_entitlement_cannot_be_suspended_or_resumed(bob, dave, programmes):
    hh = household()
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    entitlement_end(actor=bob, entitlement=ent, from_month=MAY, reason="迁出本市")
    with pytest.raises(DisbursementError, match="待遇当前状态为“已终止”，不能“暂停发放”"):
        entitlement_suspend(actor=bob, entitlement=ent, reason="测试")
    with pytest.raises(DisbursementError, match="不能“恢复发放”"):
        entitlement_resume(actor=bob, entitlement=ent, reason="测试")
    ent.refresh_from_db()
    assert ent.status == Entitlement.Status.ENDED
    moves = AuditEvent.objects.filter(action="disbursement.entitlement_end", object_id=str(ent.public_id))
    assert moves.get().data["to"] == "ended"


def test_the_batch_page_names_every_line_state_in_chinese(client, dave, programmes):
    batch = _built(dave, programmes)
    client.force_login(dave)
    page = client.get(reverse("disbursement:batch_detail", args=[batch.public_id])).content.decode()
    for _value, label in PaymentLine.Status.choices:
        assert str(label) in page
    for raw in ("failed", "returned", "mismatch", "reissued"):
        assert f">{raw}<" not in page
