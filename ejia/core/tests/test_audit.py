import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ejia.core.audit import audit_record, audit_verify, write_anchor
from ejia.core.models import AuditChainHead, AuditEvent


@pytest.fixture
def chain(db):
    events = [
        audit_record(actor=None, action="test.step", object_type="thing", object_id=str(i), reason=f"第{i}步")
        for i in range(1, 6)
    ]
    head = AuditChainHead.objects.get(pk=1)
    write_anchor(head.seq, head.hash)  # on_commit does not fire inside a test transaction
    return events


def test_an_intact_chain_verifies(chain):
    result = audit_verify()
    assert result.ok and result.checked == 5
    call_command("ejia_audit_verify")


def test_editing_an_entry_is_detected(chain):
    AuditEvent.objects.filter(seq=3).update(reason="改过的理由")
    result = audit_verify()
    assert not result.ok and result.first_broken_seq == 3


def test_deleting_an_entry_is_detected(chain):
    AuditEvent.objects.filter(seq=2).delete()
    result = audit_verify()
    assert not result.ok and result.first_broken_seq == 2


def test_reordering_entries_is_detected(chain):
    a, b = AuditEvent.objects.get(seq=2), AuditEvent.objects.get(seq=4)
    AuditEvent.objects.filter(pk=a.pk).update(seq=-2)
    AuditEvent.objects.filter(pk=b.pk).update(seq=2)
    AuditEvent.objects.filter(pk=a.pk).update(seq=4)
    result = audit_verify()
    assert not result.ok and result.first_broken_seq == 2


def test_truncating_the_newest_entries_is_detected_even_with_the_head_row_rewritten(chain):
    AuditEvent.objects.filter(seq__gte=4).delete()
    last = AuditEvent.objects.get(seq=3)
    AuditChainHead.objects.filter(pk=1).update(seq=3, hash=last.hash)
    result = audit_verify()
    assert not result.ok
    assert "截断" in result.problem
    with pytest.raises(CommandError):
        call_command("ejia_audit_verify")


def test_plaintext_id_numbers_never_enter_the_log(db):
    event = audit_record(
        actor=None, action="person.lookup", reason="查询37160219800101001X", data={"id": "37160219800101001X"}
    )
    stored = AuditEvent.objects.get(pk=event.pk)
    assert "37160219800101001X" not in stored.reason
    assert "37160219800101001X" not in json.dumps(stored.data)
    assert audit_verify().ok
