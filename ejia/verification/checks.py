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
        _enqueue(check.sources.values_list("pk", flat=True))
    return check


def _enqueue(pks) -> None:
    from ejia.verification.tasks import run_check_source

    for pk in list(pks):
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
    _enqueue([row.pk])
    return row


def _persons(check: VerificationCheck) -> list[Person]:
    order = [m["person"] for m in check.members]
    persons = {str(p.public_id): p for p in Person.objects.filter(public_id__in=order)}
    return [persons[p] for p in order if p in persons]


def _snapshot_answer(source: DataSource, persons: list[Person]) -> tuple[SourceSnapshot, dict[str, list[dict]]]:
    snapshot = SourceSnapshot.objects.filter(source=source, status=SourceSnapshot.Status.COMMITTED).first()
    if snapshot is None:
        raise SourceFailed(f"{source.name}尚未导入任何数据，无法核对。请先完成线下数据交换。", kind="no_snapshot")
    by_index = {p.id_number_index: str(p.public_id) for p in persons}
    found: dict[str, list[dict]] = {}
    rows = SourceRecord.objects.filter(snapshot=snapshot, person_index__in=list(by_index)).order_by("row_number")
    for index, data in rows.values_list("person_index", "data"):
        record = data if isinstance(data, dict) else json.loads(data)
        found.setdefault(by_index[index], []).append(record)
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
    """Ask one source about every member of the check; the task's body."""
    with transaction.atomic():
        row = CheckSource.objects.select_for_update().select_related("verification", "source").get(pk=check_source_id)
        if row.status != CheckSource.Status.PENDING:
            return row  # another worker took it, or it already answered
        row.status = CheckSource.Status.RUNNING
        row.started_at = timezone.now()
        row.runs += 1
        row.save(update_fields=["status", "started_at", "runs"])
    check = row.verification
    source = row.source
    persons = _persons(check)
    started = time.monotonic()
    snapshot = None
    as_of = None
    attempts = 1
    try:
        if row.mode == CheckSource.Mode.ONLINE:
            found, as_of_text, attempts = _online_answer(source, persons, actor=check.requested_by, reason=check.reason)
            as_of = _date(as_of_text) or timezone.localdate()
        else:
            snapshot, found = _snapshot_answer(source, persons)
            # The date the department's rows speak for (余额日期, 数据日期) where they carry one,
            # else the day the file was loaded.
            dated = [_date(r.get("as_of")) for records in found.values() for r in records]
            dated = [d for d in dated if d]
            as_of = min(dated) if dated else None
            if as_of is None and snapshot.committed_at:
                as_of = timezone.localtime(snapshot.committed_at).date()
        status, error = CheckSource.Status.DONE, ""
    except SourceFailed as exc:
        found, status, error, attempts = {}, CheckSource.Status.FAILED, exc.message[:300], exc.attempts
    except Exception as exc:  # a bug or a broken record must show as a failed source, never as "nothing"
        found, status, error = {}, CheckSource.Status.FAILED, f"查询出错：{type(exc).__name__}"
    elapsed = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        check = VerificationCheck.objects.select_for_update().get(pk=check.pk)
        CheckSource.objects.filter(pk=row.pk).update(
            status=status,
            findings=found,
            error=error,
            snapshot=snapshot,
            as_of=as_of,
            attempts=attempts,
            finished_at=timezone.now(),
            elapsed_ms=elapsed,
        )
        if row.mode == CheckSource.Mode.SNAPSHOT:
            # Online queries audit themselves, one event per person asked.
            audit_record(
                actor=check.requested_by,
                action="verification.snapshot_query",
                obj=check,
                reason=check.reason,
                data={
                    "source": source.code,
                    "snapshot": str(snapshot.public_id) if snapshot else "",
                    "members": len(persons),
                    "outcome": status,
                    "found": sum(len(v) for v in found.values()),
                },
            )
        _finish_if_complete(check)
    row.refresh_from_db()
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


def _finish_if_complete(check: VerificationCheck) -> None:
    """Called with the check row locked: when no source is open any more, derive the facts."""
    statuses = list(check.sources.values_list("status", flat=True))
    if any(s in (CheckSource.Status.PENDING, CheckSource.Status.RUNNING) for s in statuses):
        return
    derived = fnd.derive(answers_of(check), [m["person"] for m in check.members], on=timezone.localdate())
    names = {m["person"]: m["name"] for m in check.members}
    check.facts = derived
    check.differences = fnd.differences(check.declared or {}, derived, names)
    check.status = CheckStatus.PARTIAL if CheckSource.Status.FAILED in statuses else CheckStatus.COMPLETE
    check.finished_at = timezone.now()
    check.save(update_fields=["facts", "differences", "status", "finished_at", "updated_at"])
