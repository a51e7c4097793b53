"""The audit event log: append (`audit_record`) and verify (`audit_verify`).

Every service that changes state calls `audit_record` inside its transaction. Entries are
chained: hash_n = HMAC(key, hash_{n-1} ‖ canonical(entry_n)). The head (seq, hash) is also
kept outside the table in a file, written after commit, so that cutting off the newest
entries (truncation) is detected too.

Reads that must be recorded at a high rate (every API call) use `access_record` instead: one
INSERT into the append-only AccessEvent table, no lock on the chain's head. `access_seal`
(run every minute by `manage.py ejia_audit_seal`) seals the unsealed rows into the chain with
one `audit.access_seal` event carrying their count and digest; `audit_verify` checks every
sealed batch against its seal. Until it is sealed (at most a minute or so) a row is only as
safe as the table; after, any edit, deletion or move is detected.

Retention (`access_purge`, `manage.py ejia_access_purge`, daily): the access log is kept
`EJIA_ACCESS_RETENTION_DAYS` (default 190, never less than 184: 网络安全法 Art. 21(3) keeps
network logs at least six months; PIPL Art. 19 no longer than needed). A purge deletes whole
sealed batches whose every row is older than that, after checking each against its seal, and
records one `audit.access_purge` chain event naming the seals it emptied; `audit_verify`
accepts an empty seal only when such a later event names it.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection, connections, router, transaction
from django.db.models import Count, Min
from django.utils import timezone

from ejia.core.idnumber import mask_in_text
from ejia.core.models import AccessEvent, AuditChainHead, AuditEvent

GENESIS = "0" * 64
SEAL_ACTION = "audit.access_seal"
SEAL_BATCH = 10_000  # access events per seal event
PURGE_ACTION = "audit.access_purge"
# Six months is at most 184 days (July to December): 网络安全法 Art. 21(3).
ACCESS_RETENTION_MIN_DAYS = 184
PURGE_ROWS = 50_000  # access events deleted per purge event (one transaction)
PURGE_SEALS = 500  # seals named by one purge event at most


def _sanitize(value: Any) -> Any:
    """No plaintext ID number may enter the log: mask any that a caller passes in."""
    if isinstance(value, str):
        return mask_in_text(value)
    if isinstance(value, dict):
        return {str(k): _sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitize(v) for v in value]
    return value


def _canonical(event: AuditEvent) -> bytes:
    body = {
        "seq": event.seq,
        "created_at": event.created_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": event.actor_id,
        "actor_label": event.actor_label,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "reason": event.reason,
        "data": event.data,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def compute_hash(prev_hash: str, event: AuditEvent) -> str:
    key = settings.EJIA_AUDIT_KEY.encode("utf-8")
    return hmac.new(key, prev_hash.encode("ascii") + b"\x00" + _canonical(event), hashlib.sha256).hexdigest()


def actor_label_for(actor) -> str:
    if actor is None:
        return "system"
    unit = getattr(actor, "unit", None)
    name = actor.get_full_name() or actor.get_username()
    return f"{actor.get_username()}（{name}{'，' + unit.name if unit else ''}）"


def audit_record(
    *,
    actor,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    reason: str = "",
    data: dict | None = None,
) -> AuditEvent:
    """Append one event. Call inside the service's transaction; it joins it."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(getattr(obj, "public_id", None) or obj.pk)
    db = connections[router.db_for_write(AuditEvent)]
    # No savepoint: an audit write that fails fails the whole service transaction anyway, and
    # this runs on every state change (two statements saved each time).
    with transaction.atomic(using=db.alias, savepoint=False):
        statements = _chain_statements(db)
        with db.cursor() as cursor:
            cursor.execute(statements.lock)
            row = cursor.fetchone()
        if row is None:  # the first event ever: the head row is made, then locked
            AuditChainHead.objects.using(db.alias).get_or_create(pk=1)
            with db.cursor() as cursor:
                cursor.execute(statements.lock)
                row = cursor.fetchone()
        head_seq, head_hash = row
        event = AuditEvent(
            seq=head_seq + 1,
            created_at=timezone.now(),
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=actor_label_for(actor if getattr(actor, "pk", None) else None),
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            reason=_sanitize(reason or ""),
            data=_sanitize(data or {}),
            prev_hash=head_hash,
        )
        # Round-trip the JSON so the hash covers exactly what the database will return.
        event.data = json.loads(json.dumps(event.data, ensure_ascii=False, default=str))
        event.hash = compute_hash(head_hash, event)
        event.pk = _chain_append(db, statements, event)
        event._state.adding, event._state.db = False, db.alias
        seq, digest = event.seq, event.hash
        transaction.on_commit(lambda: write_anchor(seq, digest), using=db.alias)
    return event


# The chain's three statements, their text made once per database from the models (names
# quoted, every value a parameter): an intake appends five to seven events, and compiling them
# through the ORM cost more than the statements themselves.
_EVENT_FIELDS = tuple(
    AuditEvent._meta.get_field(name)
    for name in (
        "seq",
        "created_at",
        "actor",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "reason",
        "data",
        "prev_hash",
        "hash",
    )
)


@dataclass(frozen=True)
class _ChainStatements:
    lock: str  # the head's seq and hash, its row locked
    insert: str  # the event (PostgreSQL: and the head moved to it, one statement)
    move: str  # the head moved to the event (where the insert does not do it)


_CHAIN_STATEMENTS: dict[str, _ChainStatements] = {}


def _chain_statements(db) -> _ChainStatements:
    statements = _CHAIN_STATEMENTS.get(db.alias)
    if statements is not None:
        return statements
    quote = db.ops.quote_name
    head = quote(AuditChainHead._meta.db_table)
    events = quote(AuditEvent._meta.db_table)
    lock = f"SELECT {quote('seq')}, {quote('hash')} FROM {head} WHERE {quote('id')} = 1"  # noqa: S608
    if db.features.has_select_for_update:
        lock += " FOR UPDATE"
    columns = ", ".join(quote(f.column) for f in _EVENT_FIELDS)
    marks = ", ".join(["%s"] * len(_EVENT_FIELDS))
    insert = f"INSERT INTO {events} ({columns}) VALUES ({marks})"  # noqa: S608
    if db.features.can_return_columns_from_insert:
        insert += f" RETURNING {quote('id')}"
    move = f"UPDATE {head} SET {quote('seq')} = %s, {quote('hash')} = %s WHERE {quote('id')} = 1"  # noqa: S608
    if db.vendor == "postgresql":
        # One round trip: the head's UPDATE rides along as a data-modifying WITH, which
        # PostgreSQL runs exactly once whether or not the INSERT reads it.
        insert = f"WITH moved AS ({move} RETURNING 1) {insert}"
        move = ""
    statements = _CHAIN_STATEMENTS[db.alias] = _ChainStatements(lock=lock, insert=insert, move=move)
    return statements


def _chain_append(db, statements: _ChainStatements, event: AuditEvent) -> int:
    """Insert `event` and move the head to it (the head row is locked); the event's id."""
    values = [f.get_db_prep_save(getattr(event, f.attname), db) for f in _EVENT_FIELDS]
    with db.cursor() as cursor:
        if statements.move:
            cursor.execute(statements.insert, values)
            pk = cursor.fetchone()[0] if db.features.can_return_columns_from_insert else cursor.lastrowid
            cursor.execute(statements.move, [event.seq, event.hash])
        else:
            cursor.execute(statements.insert, [event.seq, event.hash, *values])
            pk = cursor.fetchone()[0]
    return pk


def access_record(
    *, actor, action: str, obj: Any = None, object_type: str = "", object_id: str = "", data: dict | None = None
) -> None:
    """Record one read (e.g. an API call): a single INSERT, no chain lock. Sealed into the
    chain later by `access_seal`. Works inside or outside a transaction."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(getattr(obj, "public_id", None) or obj.pk)
    actor = actor if getattr(actor, "pk", None) else None
    values = {
        "created_at": timezone.now(),
        "actor_id": actor.pk if actor is not None else None,
        "actor_label": actor_label_for(actor),
        "action": action,
        "object_type": object_type,
        "object_id": str(object_id),
        "data": _sanitize(data or {}),
        "sealed_seq": None,
    }
    db = connections[router.db_for_write(AccessEvent)]
    # The same INSERT the ORM writes, its text made once per database: every API call makes
    # one, and compiling it through the ORM cost more CPU than the rest of the call's audit.
    sql = _ACCESS_INSERT.get(db.alias)
    if sql is None:
        sql = _ACCESS_INSERT[db.alias] = _access_insert_sql(db)
    params = [_ACCESS_COLUMNS[name].get_db_prep_save(values[name], db) for name in _ACCESS_COLUMNS]
    with db.cursor() as cursor:
        cursor.execute(sql, params)


_ACCESS_COLUMNS = {
    name: AccessEvent._meta.get_field(name.removesuffix("_id") if name == "actor_id" else name)
    for name in ("created_at", "actor_id", "actor_label", "action", "object_type", "object_id", "data", "sealed_seq")
}
_ACCESS_INSERT: dict[str, str] = {}


def _access_insert_sql(db) -> str:
    quote = db.ops.quote_name
    columns = ", ".join(quote(field.column) for field in _ACCESS_COLUMNS.values())
    marks = ", ".join(["%s"] * len(_ACCESS_COLUMNS))
    # Names from the model, quoted; every value is a parameter.
    return f"INSERT INTO {quote(AccessEvent._meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608


def _access_canonical(row: dict) -> bytes:
    body = {
        "id": row["id"],
        "created_at": row["created_at"].astimezone(dt.UTC).isoformat(timespec="microseconds"),
        "actor": row["actor_id"],
        "actor_label": row["actor_label"],
        "action": row["action"],
        "object_type": row["object_type"],
        "object_id": row["object_id"],
        "data": row["data"],
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


ACCESS_FIELDS = ("id", "created_at", "actor_id", "actor_label", "action", "object_type", "object_id", "data")


def access_digest(rows) -> tuple[int, str]:
    """(count, HMAC-SHA256 over the rows in id order) of AccessEvent value dicts."""
    mac = hmac.new(settings.EJIA_AUDIT_KEY.encode("utf-8"), b"ejia-access-seal\x00", hashlib.sha256)
    count = 0
    for row in rows:
        mac.update(_access_canonical(row) + b"\n")
        count += 1
    return count, mac.hexdigest()


@dataclass
class SealResult:
    seals: int = 0
    sealed: int = 0


def access_seal(*, batch: int = SEAL_BATCH) -> SealResult:
    """Seal every unsealed access event into the chain, `batch` rows per chain event.

    Idempotent and safe to run concurrently: each seal holds the chain's head lock from the
    moment it picks its rows, so a second run waits and then finds them sealed; with nothing
    to seal it writes nothing. Rows are picked by id (a row that commits late, with a smaller
    id than rows already sealed, is simply sealed by the next run) and stamped by id list, so
    a seal covers exactly the rows its digest was computed over."""
    result = SealResult()
    while True:
        with transaction.atomic():
            AuditChainHead.objects.select_for_update().get_or_create(pk=1)
            rows = list(
                AccessEvent.objects.filter(sealed_seq__isnull=True).order_by("id").values(*ACCESS_FIELDS)[:batch]
            )
            if not rows:
                return result
            count, digest = access_digest(rows)
            event = audit_record(
                actor=None,
                action=SEAL_ACTION,
                object_type="core.accessevent",
                data={"first_id": rows[0]["id"], "last_id": rows[-1]["id"], "count": count, "digest": digest},
            )
            ids = [row["id"] for row in rows]
            for start in range(0, len(ids), 1000):
                AccessEvent.objects.filter(pk__in=ids[start : start + 1000]).update(sealed_seq=event.seq)
        result.seals += 1
        result.sealed += count
        if count < batch:
            return result


class AccessRetentionError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class AccessPurgeResult:
    days: int
    cutoff: dt.datetime
    events: int = 0  # purge events written (one per transaction)
    seals: int = 0  # seals whose rows were deleted
    rows: int = 0  # access events deleted
    broken: list[int] = field(default_factory=list)  # seals kept because their rows do not match them


def access_retention_days() -> int:
    return int(settings.EJIA_ACCESS_RETENTION_DAYS)


def _purge_candidates(after_seq: int, cutoff: dt.datetime, result: AccessPurgeResult):
    """The next run of old, intact seals from the oldest still holding rows: ([(seq, count)],
    the last seq looked at, whether a young seal ended the run). Reads only, no lock: sealed
    rows never change (a change is what the digest check finds)."""
    start = (
        AccessEvent.objects.filter(sealed_seq__isnull=False, sealed_seq__gt=after_seq)
        .aggregate(first=Min("sealed_seq"))
        .get("first")
    )
    if start is None:
        return [], after_seq, True
    picked: list[tuple[int, int]] = []
    rows_total = 0
    last_seq = after_seq
    seals = AuditEvent.objects.filter(action=SEAL_ACTION, seq__gte=start).order_by("seq")[:PURGE_SEALS]
    for seal in seals:
        rows = list(AccessEvent.objects.filter(sealed_seq=seal.seq).order_by("id").values(*ACCESS_FIELDS))
        if not rows:  # purged before, or deleted (audit_verify reports that)
            last_seq = seal.seq
            continue
        # Rows are sealed in id order, so the seals after a young one hold younger rows still
        # (a row that committed late may sit in a later seal: it waits for that one): stop.
        if max(row["created_at"] for row in rows) >= cutoff:
            return picked, last_seq, True
        last_seq = seal.seq
        count, digest = access_digest(rows)
        expected = seal.data or {}
        if count != expected.get("count") or digest != expected.get("digest"):
            result.broken.append(seal.seq)  # the evidence stays for the auditor
            continue
        picked.append((seal.seq, count))
        rows_total += count
        if rows_total >= PURGE_ROWS:
            break
    return picked, last_seq, not seals


def access_purge(*, actor=None, days: int | None = None, now: dt.datetime | None = None) -> AccessPurgeResult:
    """Delete the sealed access events older than `days` (default: the setting), whole seals
    only: a seal is emptied when every one of its rows is older than the cut-off and the rows
    still match its count and digest. Unsealed rows are never touched. Each transaction
    (at most PURGE_ROWS rows) records one `audit.access_purge` event naming its seals."""
    days = access_retention_days() if days is None else days
    if days < ACCESS_RETENTION_MIN_DAYS:
        raise AccessRetentionError(
            f"接口访问记录至少保存 {ACCESS_RETENTION_MIN_DAYS} 天（网络安全法第二十一条：网络日志留存不少于六个月）。"
        )
    cutoff = (now or timezone.now()) - dt.timedelta(days=days)
    result = AccessPurgeResult(days, cutoff)
    after_seq = 0
    while True:
        picked, after_seq, done = _purge_candidates(after_seq, cutoff, result)
        if picked:
            _purge_seals(picked, actor=actor, days=days, cutoff=cutoff, result=result)
        if done:
            return result


def _purge_seals(
    picked: list[tuple[int, int]], *, actor, days: int, cutoff: dt.datetime, result: AccessPurgeResult
) -> None:
    """Delete the rows of these seals and record the purge, in one transaction. The seal events
    are locked first, so two purges that picked the same seals take turns, and the second finds
    them empty and leaves them out."""
    with transaction.atomic():
        seqs = [seq for seq, _ in picked]
        list(AuditEvent.objects.select_for_update().filter(seq__in=seqs).order_by("seq").values_list("seq"))
        present = dict(
            AccessEvent.objects.filter(sealed_seq__in=seqs)
            .order_by()
            .values_list("sealed_seq")
            .annotate(n=Count("id"))
            .values_list("sealed_seq", "n")
        )
        for seq, count in picked:
            if present.get(seq, 0) not in (0, count):
                raise AccessRetentionError(
                    f"审计链第 {seq} 条封存的接口访问记录条数已变（封存 {count} 条，现有 {present[seq]} 条），未清理。"
                )
        todo = [(seq, count) for seq, count in picked if present.get(seq)]
        if not todo:
            return  # another purge emptied them meanwhile
        expected = sum(count for _, count in todo)
        deleted, _ = AccessEvent.objects.filter(sealed_seq__in=[seq for seq, _ in todo]).delete()
        if deleted != expected:
            raise AccessRetentionError(
                f"清理接口访问记录时条数不符（封存 {expected} 条，删除时 {deleted} 条），已撤销本次清理。"
            )
        # The chain's head lock is taken here, after the delete: other writers wait only for
        # this event and the commit.
        audit_record(
            actor=actor,
            action=PURGE_ACTION,
            object_type="core.accessevent",
            data={"days": days, "cutoff": cutoff.isoformat(), "rows": deleted, "seals": [list(p) for p in todo]},
        )
    result.events += 1
    result.seals += len(todo)
    result.rows += deleted


def _seal_problem(seal: AuditEvent) -> str:
    """Why the access events stamped with this seal do not match it ("" if they do)."""
    rows = AccessEvent.objects.filter(sealed_seq=seal.seq).order_by("id").values(*ACCESS_FIELDS)
    count, digest = access_digest(rows.iterator(chunk_size=2000))
    expected = seal.data or {}
    if count != expected.get("count") or digest != expected.get("digest"):
        return (
            f"接口访问记录第 {expected.get('first_id')}–{expected.get('last_id')} 条的封存摘要不符"
            f"（封存 {expected.get('count')} 条，现有 {count} 条；记录被篡改、删除或移动）"
        )
    return ""


def anchor_path() -> Path:
    return Path(settings.EJIA_AUDIT_ANCHOR_FILE)


def read_anchor() -> dict | None:
    path = anchor_path()
    try:
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"seq": -1, "hash": "unreadable"}


def write_anchor(seq: int, digest: str) -> None:
    """Keep the highest (seq, hash) seen; concurrent writers serialise on a file lock."""
    path = anchor_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        current = read_anchor()
        if current and current.get("seq", 0) >= seq:
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"seq": seq, "hash": digest}), "utf-8")
        os.replace(tmp, path)


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str = ""
    sealed: int = 0  # access events checked against their seals
    unsealed: int = 0  # access events not sealed yet (the seal job runs every minute)
    purged: int = 0  # access events deleted by a purge after their retention (their seals stay)
    stale: int = 0  # unsealed access events older than EJIA_ACCESS_SEAL_ALERT_MINUTES (seal job stopped?)

    def __str__(self) -> str:
        if self.ok:
            text = f"审计链完整：已校验 {self.checked} 条记录"
            if self.sealed or self.unsealed:
                text += f"，{self.sealed} 条接口访问记录与封存摘要相符"
            if self.purged:
                text += f"，{self.purged} 条接口访问记录已过保存期限按记载清理"
            if self.unsealed:
                text += f"，另有 {self.unsealed} 条接口访问记录尚待封存"
            if self.stale:
                text += (
                    f"（其中 {self.stale} 条已超过 {settings.EJIA_ACCESS_SEAL_ALERT_MINUTES} 分钟，"
                    "封存任务可能已停止，请检查 ejia_audit_seal）"
                )
            return text + "。"
        if self.first_broken_seq is None:
            return f"审计记录校验未通过：{self.problem}（已校验 {self.checked} 条）"
        return f"审计链在第 {self.first_broken_seq} 条处断开：{self.problem}（已校验 {self.checked} 条）"


def audit_verify(*, check_anchor: bool = True, batch: int = 5000) -> VerifyResult:
    """Walk the chain in order and report the first broken link.

    On PostgreSQL, outside a transaction, the whole check reads one snapshot (REPEATABLE READ),
    so a seal or a purge that commits meanwhile is either wholly seen or not at all."""
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return _audit_verify(check_anchor=check_anchor, batch=batch)
    return _audit_verify(check_anchor=check_anchor, batch=batch)


def _audit_verify(*, check_anchor: bool, batch: int) -> VerifyResult:
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    last_id = 0
    seals: list[AuditEvent] = []
    seal_counts: dict[int, int] = {}  # seal seq -> rows it sealed
    purged: dict[int, int] = {}  # seal seq -> seq of the purge event that emptied it
    while True:
        rows = list(AuditEvent.objects.filter(seq__gt=last_id).order_by("seq")[:batch])
        if not rows:
            break
        for event in rows:
            if event.seq != expected_seq:
                problem = f"序号不连续：应为 {expected_seq}，实为 {event.seq}（记录被删除或重排）"
                return VerifyResult(False, checked, expected_seq, problem)
            if event.prev_hash != prev_hash:
                return VerifyResult(False, checked, event.seq, "前序哈希不符（记录被删除、插入或重排）")
            if compute_hash(prev_hash, event) != event.hash:
                return VerifyResult(False, checked, event.seq, "内容哈希不符（记录被篡改）")
            if event.action == SEAL_ACTION:
                seals.append(event)
                seal_counts[event.seq] = int((event.data or {}).get("count") or 0)
            elif event.action == PURGE_ACTION:
                problem = _purge_problem(event, seal_counts, purged)
                if problem:
                    return VerifyResult(False, checked, event.seq, problem)
            prev_hash = event.hash
            expected_seq += 1
            checked += 1
            last_seq = event.seq
        last_id = rows[-1].seq
    head = AuditChainHead.objects.filter(pk=1).first()
    if head and (head.seq != last_seq or (last_seq and head.hash != prev_hash)):
        return VerifyResult(False, checked, last_seq + 1, "链头记录与日志末尾不符（末尾记录被删除）")
    if check_anchor:
        anchor = read_anchor()
        if anchor is not None:
            if anchor.get("seq", 0) > last_seq:
                return VerifyResult(
                    False,
                    checked,
                    last_seq + 1,
                    f"外部锚点记载到第 {anchor['seq']} 条，日志只到第 {last_seq} 条（被截断）",
                )
            if anchor.get("seq"):
                row = AuditEvent.objects.filter(seq=anchor["seq"]).first()
                if row is None or row.hash != anchor.get("hash"):
                    return VerifyResult(False, checked, anchor["seq"], "外部锚点哈希与日志不符")
    # The access events: each sealed batch against its seal, and no row claiming a seal that
    # is not one (a row moved to another seq than a seal's is counted by no seal).
    # A seal a later purge event emptied is expected to have no rows: a row still (or again)
    # stamped with it is counted by no seal below.
    for seal in seals:
        if seal.seq in purged:
            continue
        problem = _seal_problem(seal)
        if problem:
            return VerifyResult(False, checked, seal.seq, problem)
    sealed = sum(count for seq, count in seal_counts.items() if seq not in purged)
    purged_rows = sum(seal_counts[seq] for seq in purged)
    stamped = AccessEvent.objects.filter(sealed_seq__isnull=False).count()
    if stamped != sealed:
        problem = f"有 {stamped - sealed} 条接口访问记录标为已封存，却不属于任何封存（记录被插入或移动）"
        return VerifyResult(False, checked, None, problem, sealed=sealed, purged=purged_rows)
    unsealed = AccessEvent.objects.filter(sealed_seq__isnull=True).count()
    stale = 0
    if unsealed:
        since = timezone.now() - dt.timedelta(minutes=int(settings.EJIA_ACCESS_SEAL_ALERT_MINUTES))
        stale = AccessEvent.objects.filter(sealed_seq__isnull=True, created_at__lt=since).count()
    return VerifyResult(True, checked, sealed=sealed, unsealed=unsealed, purged=purged_rows, stale=stale)


def _purge_problem(event: AuditEvent, seal_counts: dict[int, int], purged: dict[int, int]) -> str:
    """A purge event may only name earlier seals, each once, with the count each sealed;
    records them as purged ("" if all is well)."""
    data = event.data or {}
    entries = data.get("seals") or []
    total = 0
    for entry in entries:
        try:
            seq, count = int(entry[0]), int(entry[1])
        except (TypeError, ValueError, IndexError):
            return "接口访问记录清理事件的内容无法识别"
        if seq not in seal_counts:
            return f"清理事件所列第 {seq} 条不是此前的封存事件"
        if seq in purged:
            return f"第 {seq} 条封存已在第 {purged[seq]} 条清理过，又被清理一次"
        if count != seal_counts[seq]:
            return f"清理事件所记第 {seq} 条封存的条数（{count}）与封存时（{seal_counts[seq]}）不符"
        purged[seq] = event.seq
        total += count
    if total != data.get("rows"):
        return f"清理事件所记条数（{data.get('rows')}）与所列封存合计（{total}）不符"
    return ""
