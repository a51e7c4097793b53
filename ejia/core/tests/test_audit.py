import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ejia.core.audit import SEAL_ACTION, access_record, access_seal, audit_record, audit_verify, write_anchor
from ejia.core.models import AccessEvent, AuditChainHead, AuditEvent


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


# ---------------------------------------------------------------- access events and their seals


@pytest.fixture
def accesses(db):
    for i in range(5):
        access_record(actor=None, action="api.call", object_type="api.apiclient", object_id="c", data={"n": i})
    return list(AccessEvent.objects.order_by("id"))


def test_access_events_are_sealed_once_into_the_chain(accesses):
    assert AuditEvent.objects.count() == 0  # recording a read touches no chain row
    result = access_seal()
    assert (result.seals, result.sealed) == (1, 5)
    seal = AuditEvent.objects.get(action=SEAL_ACTION)
    assert seal.data["count"] == 5 and seal.data["first_id"] == accesses[0].id
    assert set(AccessEvent.objects.values_list("sealed_seq", flat=True)) == {seal.seq}
    # Idempotent: nothing new, nothing written.
    assert access_seal().seals == 0 and AuditEvent.objects.count() == 1
    verified = audit_verify(check_anchor=False)
    assert verified.ok and verified.sealed == 5 and verified.unsealed == 0
    # New reads wait for the next seal and are reported as such, not as a failure.
    access_record(actor=None, action="api.call", data={"n": 5})
    verified = audit_verify(check_anchor=False)
    assert verified.ok and verified.unsealed == 1 and "尚待封存" in str(verified)
    call_command("ejia_audit_seal")
    assert AuditEvent.objects.filter(action=SEAL_ACTION).count() == 2
    assert audit_verify(check_anchor=False).unsealed == 0


def test_a_seal_covers_at_most_a_batch(accesses):
    result = access_seal(batch=2)
    assert (result.seals, result.sealed) == (3, 5)
    assert [e.data["count"] for e in AuditEvent.objects.filter(action=SEAL_ACTION)] == [2, 2, 1]
    assert audit_verify(check_anchor=False).ok


def test_a_tampered_access_event_is_detected_after_sealing(accesses):
    access_seal()
    AccessEvent.objects.filter(pk=accesses[2].pk).update(data={"n": 99})
    result = audit_verify(check_anchor=False)
    seal = AuditEvent.objects.get(action=SEAL_ACTION)
    assert not result.ok and result.first_broken_seq == seal.seq and "封存摘要不符" in result.problem
    with pytest.raises(CommandError):
        call_command("ejia_audit_verify", "--no-anchor")


def test_a_removed_access_event_is_detected_after_sealing(accesses):
    access_seal()
    AccessEvent.objects.filter(pk=accesses[0].pk).delete()
    result = audit_verify(check_anchor=False)
    assert not result.ok and "现有 4 条" in result.problem


def test_an_access_event_unsealed_or_moved_after_sealing_is_detected(accesses):
    access_seal()
    AccessEvent.objects.filter(pk=accesses[1].pk).update(sealed_seq=None)
    assert not audit_verify(check_anchor=False).ok
    AccessEvent.objects.filter(pk=accesses[1].pk).update(sealed_seq=12345)
    result = audit_verify(check_anchor=False)
    assert not result.ok and "封存摘要不符" in result.problem


def test_an_access_event_slipped_in_under_no_seal_is_detected(accesses):
    access_seal()
    forged = AccessEvent.objects.create(
        created_at=accesses[0].created_at, actor_label="system", action="api.call", data={"n": 7}
    )
    AccessEvent.objects.filter(pk=forged.pk).update(sealed_seq=999)
    result = audit_verify(check_anchor=False)
    assert not result.ok and "不属于任何封存" in result.problem and result.first_broken_seq is None
    assert str(result).startswith("审计记录校验未通过")


def test_a_seal_event_itself_is_part_of_the_chain(accesses):
    access_seal()
    AuditEvent.objects.filter(action=SEAL_ACTION).update(data={"count": 5, "digest": "0" * 64})
    result = audit_verify(check_anchor=False)
    assert not result.ok and "内容哈希不符" in result.problem


@pytest.mark.django_db(transaction=True)
def test_concurrent_seals_and_writes_seal_every_row_once_on_postgresql():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks")
    from conftest import race

    for i in range(40):
        access_record(actor=None, action="api.call", data={"n": i})

    def seal():
        return f"sealed {access_seal(batch=15).sealed}"

    def write():
        for i in range(20):
            access_record(actor=None, action="api.call", data={"late": i})
        return "wrote 20"

    outcomes = race(seal, seal, seal, write)
    assert "wrote 20" in outcomes and all(o.startswith(("sealed", "wrote")) for o in outcomes), outcomes
    access_seal()  # what the writer added after the last seal picked its rows
    counts = [e.data["count"] for e in AuditEvent.objects.filter(action=SEAL_ACTION)]
    assert sum(counts) == 60 and all(0 < c <= 15 for c in counts[:-1])
    assert not AccessEvent.objects.filter(sealed_seq__isnull=True).exists()
    result = audit_verify(check_anchor=False)
    assert result.ok and result.sealed == 60, str(result)


def test_an_access_event_is_one_insert_and_reads_back_as_recorded(db, bob):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from ejia.core.idnumber import mask_in_text

    before = timezone.now()
    number = "37160219780601001X"
    with CaptureQueriesContext(connection) as queries:
        access_record(
            actor=bob, action="api.call", object_type="api.apiclient", object_id=7, data={"q": f"查 {number}", "n": [1]}
        )
    assert len(queries) == 1 and queries[0]["sql"].startswith("INSERT")
    event = AccessEvent.objects.get()
    assert event.actor == bob and event.actor_label.startswith(bob.username)
    assert (event.action, event.object_type, event.object_id, event.sealed_seq) == (
        "api.call",
        "api.apiclient",
        "7",
        None,
    )
    assert event.data == {"q": mask_in_text(f"查 {number}"), "n": [1]} and number not in event.data["q"]
    assert before <= event.created_at <= timezone.now()
    access_record(actor=None, action="api.call")
    assert AccessEvent.objects.order_by("id").last().actor is None
