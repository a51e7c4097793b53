"""Retention of the API access log: whole sealed batches older than EJIA_ACCESS_RETENTION_DAYS
go, each recorded by an `audit.access_purge` chain event; unsealed and young rows stay; the chain
still verifies, and rows that vanish without a purge event are still found."""

from __future__ import annotations

import contextlib
import datetime as dt
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from ejia.core import audit
from ejia.core.audit import (
    PURGE_ACTION,
    SEAL_ACTION,
    AccessRetentionError,
    access_purge,
    access_record,
    access_seal,
    audit_verify,
)
from ejia.core.models import AccessEvent, AuditEvent

NOW = timezone.now()
OLD = NOW - dt.timedelta(days=200)
YOUNG = NOW - dt.timedelta(days=10)


@contextlib.contextmanager
def at(when: dt.datetime):
    """The platform's clock reads `when` (records and seals made meanwhile carry it)."""
    with mock.patch.object(timezone, "now", return_value=when):
        yield


def record(n: int, when: dt.datetime, tag: str = "") -> None:
    with at(when):
        for i in range(n):
            access_record(actor=None, action="api.call", object_type="api.apiclient", object_id="c", data={tag: i})


def seal(when: dt.datetime, batch: int = audit.SEAL_BATCH) -> list[AuditEvent]:
    with at(when):
        access_seal(batch=batch)
    return list(AuditEvent.objects.filter(action=SEAL_ACTION).order_by("seq"))


@pytest.fixture
def history(db, settings):
    """Two old seals (2 + 1 rows), one seal with an old and a young row, one young seal, and
    one row not sealed yet."""
    settings.EJIA_ACCESS_RETENTION_DAYS = 190
    record(3, OLD, "old")
    seal(OLD, batch=2)
    record(1, OLD + dt.timedelta(minutes=1), "old-mixed")
    record(1, YOUNG, "young-mixed")
    seal(YOUNG)
    record(2, YOUNG + dt.timedelta(minutes=1), "young")
    seals = seal(YOUNG + dt.timedelta(minutes=1))
    record(1, NOW, "unsealed")
    assert [s.data["count"] for s in seals] == [2, 1, 2, 2]
    return seals


def test_the_purge_deletes_the_old_sealed_batches_only(history):
    result = access_purge(now=NOW)
    assert (result.events, result.seals, result.rows, result.broken) == (1, 2, 3, [])
    # The mixed batch stays whole (one of its rows is young), the young batch and the unsealed row stay.
    left = AccessEvent.objects.order_by("id")
    assert [next(iter(e.data)) for e in left] == ["old-mixed", "young-mixed", "young", "young", "unsealed"]
    assert not AccessEvent.objects.filter(sealed_seq__in=[history[0].seq, history[1].seq]).exists()
    purge = AuditEvent.objects.get(action=PURGE_ACTION)
    assert purge.actor is None and purge.actor_label == "system"
    assert purge.data["seals"] == [[history[0].seq, 2], [history[1].seq, 1]] and purge.data["rows"] == 3
    assert purge.data["days"] == 190
    # Nothing more is old enough: a second run deletes and records nothing.
    again = access_purge(now=NOW)
    assert (again.events, again.rows) == (0, 0) and AuditEvent.objects.filter(action=PURGE_ACTION).count() == 1


def test_the_chain_verifies_after_a_purge(history):
    access_purge(now=NOW)
    result = audit_verify(check_anchor=False)
    assert result.ok, str(result)
    assert (result.sealed, result.purged, result.unsealed) == (4, 3, 1)
    assert "3 条接口访问记录已过保存期限按记载清理" in str(result)
    # Later, the rest grows old and goes too; the chain still verifies.
    later = access_purge(now=NOW + dt.timedelta(days=365))
    assert later.rows == 4 and AccessEvent.objects.count() == 1  # the unsealed row stays
    result = audit_verify(check_anchor=False)
    assert result.ok and (result.sealed, result.purged, result.unsealed) == (0, 7, 1), str(result)


def test_old_unsealed_rows_are_never_deleted(db):
    record(2, OLD, "old")
    result = access_purge(now=NOW, days=190)
    assert result.rows == 0 and AccessEvent.objects.count() == 2
    assert not AuditEvent.objects.filter(action=PURGE_ACTION).exists()


def test_rows_deleted_without_a_purge_event_are_still_detected(history):
    access_purge(now=NOW)
    # The mixed seal's rows deleted by hand: no purge event names it.
    AccessEvent.objects.filter(sealed_seq=history[2].seq).delete()
    result = audit_verify(check_anchor=False)
    assert not result.ok and result.first_broken_seq == history[2].seq and "现有 0 条" in result.problem


def test_a_row_put_back_under_a_purged_seal_is_detected(history):
    access_purge(now=NOW)
    record(1, OLD, "forged")
    AccessEvent.objects.filter(data__has_key="forged").update(sealed_seq=history[0].seq)
    result = audit_verify(check_anchor=False)
    assert not result.ok and "不属于任何封存" in result.problem


def test_a_purge_event_edited_to_name_another_seal_breaks_the_chain(history):
    access_purge(now=NOW)
    purge = AuditEvent.objects.get(action=PURGE_ACTION)
    data = dict(purge.data, seals=purge.data["seals"] + [[history[2].seq, 2]], rows=5)
    AuditEvent.objects.filter(pk=purge.pk).update(data=data)
    AccessEvent.objects.filter(sealed_seq=history[2].seq).delete()
    result = audit_verify(check_anchor=False)
    assert not result.ok and result.first_broken_seq == purge.seq and "内容哈希不符" in result.problem


def test_a_tampered_old_batch_is_kept_as_evidence(history):
    victim = AccessEvent.objects.filter(sealed_seq=history[1].seq).get()
    AccessEvent.objects.filter(pk=victim.pk).update(data={"old": 99})
    result = access_purge(now=NOW)
    assert result.broken == [history[1].seq] and result.rows == 2
    assert AccessEvent.objects.filter(pk=victim.pk).exists()
    verified = audit_verify(check_anchor=False)
    assert not verified.ok and verified.first_broken_seq == history[1].seq


def test_the_command_reports_a_kept_broken_seal_as_a_failure(history, settings):
    AccessEvent.objects.filter(sealed_seq=history[0].seq).update(data={"old": 99})
    settings.EJIA_ACCESS_RETENTION_DAYS = 190
    with at(NOW), pytest.raises(CommandError, match="do not match"):
        call_command("ejia_access_purge")
    assert AccessEvent.objects.filter(sealed_seq=history[1].seq).count() == 0  # the intact one went


def test_each_purge_event_covers_at_most_a_bounded_number_of_rows(history, monkeypatch):
    monkeypatch.setattr(audit, "PURGE_ROWS", 1)
    result = access_purge(now=NOW + dt.timedelta(days=365))
    assert (result.events, result.seals, result.rows) == (4, 4, 7)
    assert [e.data["rows"] for e in AuditEvent.objects.filter(action=PURGE_ACTION)] == [2, 1, 2, 2]
    assert audit_verify(check_anchor=False).ok


def test_less_than_six_months_is_refused(db, settings):
    with pytest.raises(AccessRetentionError, match="184"):
        access_purge(days=183)
    with pytest.raises(CommandError, match="六个月"):
        call_command("ejia_access_purge", "--days", "30")
    settings.EJIA_ACCESS_RETENTION_DAYS = 100
    with pytest.raises(AccessRetentionError):
        access_purge()


def test_the_command_and_the_task(history, settings, capsys):
    from ejia.core.tasks import purge_access_events

    with at(NOW):
        call_command("ejia_access_purge")
    assert "deleted 3 access event(s) of 2 seal(s) in 1 purge event(s)" in capsys.readouterr().out
    with at(NOW + dt.timedelta(days=365)):
        assert purge_access_events.call() == 4
    assert audit_verify(check_anchor=False).ok


@pytest.mark.django_db(transaction=True)
def test_purge_concurrent_with_seals_writes_and_a_verify_on_postgresql(settings):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the race needs PostgreSQL's row locks and snapshots")
    from conftest import race

    settings.EJIA_ACCESS_RETENTION_DAYS = 190
    record(30, OLD, "old")
    seal(OLD, batch=7)
    record(8, OLD, "old-unsealed")  # two whole seals of the racing sealers (batch 4)

    def purge():
        return f"purged {access_purge(now=NOW).rows}"

    def sealer():
        return f"sealed {access_seal(batch=4).sealed}"

    def write():
        record(15, NOW, "new")
        return "wrote 15"

    def verify():
        result = audit_verify(check_anchor=False)
        return "verified" if result.ok else str(result)

    outcomes = race(purge, sealer, purge, sealer, write, verify)
    assert sorted(o.split()[0] for o in outcomes) == ["purged", "purged", "sealed", "sealed", "verified", "wrote"], (
        outcomes
    )
    access_seal()
    access_purge(now=NOW)  # what the racing purges could not see yet (rows sealed meanwhile)
    # Every old row that a seal covered is gone exactly once; the new rows are all sealed and kept.
    assert not AccessEvent.objects.filter(data__has_key="old").exists()
    assert AccessEvent.objects.filter(data__has_key="new").count() == 15
    purged = [s for e in AuditEvent.objects.filter(action=PURGE_ACTION) for s in e.data["seals"]]
    assert len({seq for seq, _ in purged}) == len(purged) and sum(c for _, c in purged) == 30 + 8
    result = audit_verify(check_anchor=False)
    assert result.ok and result.purged == 38 and result.sealed == 15 and result.unsealed == 0, str(result)


def test_the_chain_check_names_rows_left_unsealed_too_long(db, settings):
    settings.EJIA_ACCESS_SEAL_ALERT_MINUTES = 10
    record(1, NOW - dt.timedelta(minutes=11), "late")
    record(1, NOW, "fresh")
    with at(NOW):
        result = audit_verify(check_anchor=False)
    assert result.ok and (result.unsealed, result.stale) == (2, 1)
    assert "其中 1 条已超过 10 分钟，封存任务可能已停止" in str(result)
    access_seal()
    assert "已超过" not in str(audit_verify(check_anchor=False))
