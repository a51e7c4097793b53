"""一键核对: check every current member of a household against every department source.

`check_start` records the check and one `CheckSource` per source in one transaction, then
queues one background task per source (queue "verification"): each source answers on its
own, slow ones (banks) later. `check_source_run` asks the source — its committed snapshot,
or its online adapter where one is configured — for every member, and stores what it found;
the last source to answer turns the findings into verified facts and differences.

Whoever calls `check_start` has checked the members' authorisations (授权书); this app does
not know about cases. Every query and every rerun writes an audit event naming the actor.
"""

from __future__ import annotations

import datetime as dt
import json
import time

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ejia.core import crypto
from ejia.core.audit import audit_record
from ejia.dashboards.tasks import enqueue_current_after_commit
from ejia.registry.models import ID_PURPOSE, Household, Person
from ejia.verification import findings as fnd
from ejia.verification.models import (
    CheckSource,
    CheckStatus,
    DataSource,
    SourceRecord,
    SourceSnapshot,
    VerificationCheck,
)
from ejia.verification.online import SourceFailed, query_online


class CheckRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _mode(source: DataSource) -> str:
    base = source.base_url or getattr(settings, "EJIA_EXCHANGE_ONLINE_BASE_URL", "")
    return CheckSource.Mode.ONLINE if source.online_enabled and base else CheckSource.Mode.SNAPSHOT


def check_start(
    *,
    actor,
    household: Household,
    members: list[Person],
    reason: str,
    reference: str = "",
    purpose: str = VerificationCheck.Purpose.APPLICATION,
    declared: dict | None = None,
    relations: dict[str, str] | None = None,
    sources: list[DataSource] | None = None,
    run: bool = True,
) -> VerificationCheck:
    """Record a check of `members` and queue one task per source (unless `run` is False)."""
    if not members:
        raise CheckRefused("这个家庭没有在册成员，无法核对。")
    if not reason.strip():
        raise CheckRefused("请写明查询事由。")
    sources = list(sources if sources is not None else DataSource.objects.all())
    if not sources:
        raise CheckRefused("尚未配置任何部门数据源，请联系数据交换管理员。")
    relations = relations or {}
    with transaction.atomic():
        check = VerificationCheck.objects.create(
            household=household,
            purpose=purpose,
            reference=reference,
            reason=reason.strip()[:200],
            requested_by=actor,
            members=[
                {
                    "person": str(p.public_id),
                    "name": p.name,
                    "masked_id": p.id_number_masked,
                    # The keyed blind index (never the number): snapshot sources are read by it.
                    "index": p.id_number_index,
                    "relation": relations.get(str(p.public_id), ""),
                }
                for p in members
            ],
            declared=declared or {},
        )
        CheckSource.objects.bulk_create([CheckSource(verification=check, source=s, mode=_mode(s)) for s in sources])
        audit_record(
            actor=actor,
            action="verification.check_start",
            obj=check,
            reason=check.reason,
            data={
                "household": str(household.public_id),
                "reference": reference,
                "members": len(members),
                "sources": [s.code for s in sources],
            },
        )
    if run:
        check_enqueue(check)
    return check


def check_enqueue(check: VerificationCheck) -> None:
    """Queue the check's pending sources: every online source as its own task (a slow bank
    waits alone), the snapshot sources together as one task — they are indexed reads of this
    database, answered in milliseconds, where a task each would cost more than the answer."""
    from ejia.verification.tasks import run_check_snapshots, run_check_source

    rows = list(check.sources.filter(status=CheckSource.Status.PENDING).values_list("pk", "mode"))
    if any(mode == CheckSource.Mode.SNAPSHOT for _pk, mode in rows):
        run_check_snapshots.enqueue(check.pk)
    for pk, mode in rows:
        if mode == CheckSource.Mode.ONLINE:
            run_check_source.enqueue(pk)


def check_source_rerun(*, actor, check_source_id: int) -> CheckSource:
    """Ask one source again (after a failure, or for fresher data). A second click while the
    source is still being asked does nothing."""
    with transaction.atomic():
        row = CheckSource.objects.select_for_update().select_related("verification", "source").get(pk=check_source_id)
        if row.is_open:
            return row
        row.status = CheckSource.Status.PENDING
        row.error = ""
        row.mode = _mode(row.source)
        row.save(update_fields=["status", "error", "mode"])
        check = VerificationCheck.objects.select_for_update().get(pk=row.verification_id)
        check.status = CheckStatus.RUNNING
        check.finished_at = None
        check.save(update_fields=["status", "finished_at", "updated_at"])
        audit_record(
            actor=actor,
            action="verification.source_rerun",
            obj=check,
            reason=check.reason,
            data={"source": row.source.code},
        )
    from ejia.verification.tasks import run_check_source

    run_check_source.enqueue(row.pk)
    return row


def _persons(check: VerificationCheck) -> list[Person]:
    order = [m["person"] for m in check.members]
    persons = {str(p.public_id): p for p in Person.objects.filter(public_id__in=order)}
    return [persons[p] for p in order if p in persons]


def _snapshot_answer(source: DataSource, indexes: dict[str, str]) -> tuple[SourceSnapshot, dict[str, list[dict]]]:
    """The records of the source's committed snapshot for the persons (blind index → person uuid)."""
    snapshot = SourceSnapshot.objects.filter(source=source, status=SourceSnapshot.Status.COMMITTED).first()
    if snapshot is None:
        raise SourceFailed(f"{source.name}尚未导入任何数据，无法核对。请先完成线下数据交换。", kind="no_snapshot")
    found: dict[str, list[dict]] = {}
    rows = SourceRecord.objects.filter(snapshot=snapshot, person_index__in=list(indexes)).order_by("row_number")
    for index, data in rows.values_list("person_index", "data"):
        record = data if isinstance(data, dict) else json.loads(data)
        found.setdefault(indexes[index], []).append(record)
    return snapshot, found


def _online_answer(source: DataSource, persons: list[Person], *, actor, reason: str) -> tuple[dict, str | None, int]:
    found: dict[str, list[dict]] = {}
    as_of: str | None = None
    attempts = 0
    for person in persons:
        number = crypto.decrypt(person.id_number_ciphertext, purpose=ID_PURPOSE)
        result = query_online(source=source, id_number=number, actor=actor, reason=reason)
        attempts += result.attempts
        if result.records:
            found[str(person.public_id)] = [r for r in result.records if isinstance(r, dict)]
        as_of = as_of or result.as_of
    return found, as_of, attempts


def check_source_run(*, check_source_id: int) -> CheckSource:
    """Ask one source about every member of the check; the task's body.

    A snapshot source is a few indexed reads of this database: it is asked, answered and
    audited in one short transaction. An online source is marked running first (the report
    shows 查询中 while the department thinks) and asked with no transaction held open."""
    with transaction.atomic():
        row = (
            CheckSource.objects.select_for_update(of=("self",))
            .select_related("verification__requested_by__unit", "source")
            .get(pk=check_source_id)
        )
        if row.status != CheckSource.Status.PENDING:
            return row  # another worker took it, or it already answered
        row.runs += 1
        row.started_at = timezone.now()
        if row.mode == CheckSource.Mode.SNAPSHOT:
            return _record(row, _outcome(lambda: _ask_snapshot(row)))
        row.status = CheckSource.Status.RUNNING
        row.save(update_fields=["status", "started_at", "runs"])
    outcome = _outcome(lambda: _ask_online(row))
    with transaction.atomic():
        return _record(row, outcome, online=True)


def _indexes(check: VerificationCheck) -> dict[str, str]:
    """Blind index → person uuid of the members checked."""
    indexes = {m["index"]: m["person"] for m in check.members if m.get("index")}
    if len(indexes) != len(check.members):  # checks recorded before members carried their index
        indexes = {p.id_number_index: str(p.public_id) for p in _persons(check)}
    return indexes


def _as_of(snapshot: SourceSnapshot, found: dict[str, list[dict]]) -> dt.date | None:
    """The date the department's rows speak for (余额日期, 数据日期) where they carry one, else
    the day the file was loaded."""
    dated = [d for d in (_date(r.get("as_of")) for records in found.values() for r in records) if d]
    if dated:
        return min(dated)
    return timezone.localtime(snapshot.committed_at).date() if snapshot.committed_at else None


def _ask_snapshot(row: CheckSource):
    snapshot, found = _snapshot_answer(row.source, _indexes(row.verification))
    return found, _as_of(snapshot, found), snapshot, 1


def check_snapshots_run(*, check_id: int) -> int:
    """Answer every pending snapshot source of a check in one transaction: one read of the
    committed snapshots, one of their records for the members, one audit event per source.
    Returns the number of sources answered (0 when another worker already did)."""
    with transaction.atomic():
        rows = list(
            CheckSource.objects.select_for_update(of=("self",))
            .select_related("verification__requested_by__unit", "source")
            .filter(verification_id=check_id, mode=CheckSource.Mode.SNAPSHOT, status=CheckSource.Status.PENDING)
        )
        if not rows:
            return 0
        started = time.monotonic()
        check = rows[0].verification
        indexes = _indexes(check)
        snapshots = {
            s.source_id: s
            for s in SourceSnapshot.objects.filter(
                source_id__in=[r.source_id for r in rows], status=SourceSnapshot.Status.COMMITTED
            )
        }
        found: dict[int, dict[str, list[dict]]] = {s.pk: {} for s in snapshots.values()}
        records = SourceRecord.objects.filter(snapshot_id__in=list(found), person_index__in=list(indexes))
        for snapshot_id, index, data in records.order_by("row_number").values_list(
            "snapshot_id", "person_index", "data"
        ):
            record = data if isinstance(data, dict) else json.loads(data)
            found[snapshot_id].setdefault(indexes[index], []).append(record)
        elapsed = int((time.monotonic() - started) * 1000)
        now = timezone.now()
        for row in rows:
            snapshot = snapshots.get(row.source_id)
            row.runs += 1
            row.started_at = row.finished_at = now
            row.attempts, row.elapsed_ms, row.snapshot = 1, elapsed, snapshot
            if snapshot is None:
                row.status, row.findings, row.as_of = CheckSource.Status.FAILED, {}, None
                row.error = f"{row.source.name}尚未导入任何数据，无法核对。请先完成线下数据交换。"
            else:
                row.status, row.error = CheckSource.Status.DONE, ""
                row.findings = found[snapshot.pk]
                row.as_of = _as_of(snapshot, row.findings)
        CheckSource.objects.bulk_update(
            rows,
            [
                "status",
                "error",
                "findings",
                "as_of",
                "snapshot",
                "attempts",
                "elapsed_ms",
                "runs",
                "started_at",
                "finished_at",
            ],
        )
        for row in rows:
            _audit_snapshot_query(check, row)
        _finish_if_complete(check.pk)
    return len(rows)


def _audit_snapshot_query(check: VerificationCheck, row: CheckSource) -> None:
    audit_record(
        actor=check.requested_by,
        action="verification.snapshot_query",
        obj=check,
        reason=check.reason,
        data={
            "source": row.source.code,
            "snapshot": str(row.snapshot.public_id) if row.snapshot else "",
            "members": len(check.members),
            "outcome": row.status,
            "found": sum(len(v) for v in row.findings.values()),
        },
    )


def _ask_online(row: CheckSource):
    check = row.verification
    found, as_of_text, attempts = _online_answer(
        row.source, _persons(check), actor=check.requested_by, reason=check.reason
    )
    return found, _date(as_of_text) or timezone.localdate(), None, attempts


def _outcome(ask) -> dict:
    started = time.monotonic()
    try:
        found, as_of, snapshot, attempts = ask()
        outcome = {"status": CheckSource.Status.DONE, "error": "", "found": found, "as_of": as_of}
        outcome |= {"snapshot": snapshot, "attempts": attempts}
    except SourceFailed as exc:
        outcome = {"status": CheckSource.Status.FAILED, "error": exc.message[:300], "attempts": exc.attempts}
    except Exception as exc:  # a bug or a broken record must show as a failed source, never as "nothing"
        outcome = {"status": CheckSource.Status.FAILED, "error": f"查询出错：{type(exc).__name__}", "attempts": 1}
    outcome["elapsed_ms"] = int((time.monotonic() - started) * 1000)
    return outcome


def _record(row: CheckSource, outcome: dict, *, online: bool = False) -> CheckSource:
    """Store one source's answer (or failure) in the caller's transaction; the last source to
    answer finishes the check."""
    check = row.verification
    row.status, row.error = outcome["status"], outcome["error"]
    row.findings = outcome.get("found") or {}
    row.as_of, row.snapshot = outcome.get("as_of"), outcome.get("snapshot")
    row.attempts, row.elapsed_ms = outcome["attempts"], outcome["elapsed_ms"]
    row.finished_at = timezone.now()
    fields = ["status", "error", "findings", "as_of", "snapshot", "attempts", "elapsed_ms", "finished_at"]
    row.save(update_fields=[*fields, "runs", "started_at"])
    if not online:
        # Online queries audit themselves, one event per person asked.
        _audit_snapshot_query(check, row)
    _finish_if_complete(check.pk)
    return row


def _date(text) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(text)[:10]) if text else None
    except ValueError:
        return None


def answers_of(check: VerificationCheck) -> list[fnd.Answer]:
    return [
        fnd.Answer(
            code=cs.source.code,
            kind=cs.source.kind,
            name=cs.source.name,
            status=cs.status,
            as_of=cs.as_of.isoformat() if cs.as_of else None,
            findings=cs.findings or {},
        )
        for cs in check.sources.select_related("source")
    ]


def _finish_if_complete(check_id: int) -> None:
    """When no source of the check is open any more, derive the facts (check row locked, so
    the last two sources to answer cannot both, or neither, finish it)."""
    check = VerificationCheck.objects.select_for_update().get(pk=check_id)
    statuses = set(check.sources.values_list("status", flat=True).distinct())
    if statuses & {CheckSource.Status.PENDING, CheckSource.Status.RUNNING}:
        return
    derived = fnd.derive(answers_of(check), [m["person"] for m in check.members], on=timezone.localdate())
    names = {m["person"]: m["name"] for m in check.members}
    check.facts = derived
    check.differences = fnd.differences(check.declared or {}, derived, names)
    check.status = CheckStatus.PARTIAL if CheckSource.Status.FAILED in statuses else CheckStatus.COMPLETE
    check.finished_at = timezone.now()
    check.save(update_fields=["facts", "differences", "status", "finished_at", "updated_at"])
    enqueue_current_after_commit(trigger="check_finished", parts=["data"])
