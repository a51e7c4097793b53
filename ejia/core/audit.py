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
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from ejia.core.idnumber import mask_in_text
from ejia.core.models import AccessEvent, AuditChainHead, AuditEvent

GENESIS = "0" * 64
SEAL_ACTION = "audit.access_seal"
SEAL_BATCH = 10_000  # access events per seal event


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
    # No savepoint: an audit write that fails fails the whole service transaction anyway, and
    # this runs on every state change (two statements saved each time).
    with transaction.atomic(savepoint=False):
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            seq=head.seq + 1,
            created_at=timezone.now(),
            actor=actor if getattr(actor, "pk", None) else None,
            actor_label=actor_label_for(actor if getattr(actor, "pk", None) else None),
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            reason=_sanitize(reason or ""),
            data=_sanitize(data or {}),
            prev_hash=head.hash,
        )
        # Round-trip the JSON so the hash covers exactly what the database will return.
        event.data = json.loads(json.dumps(event.data, ensure_ascii=False, default=str))
        event.hash = compute_hash(head.hash, event)
        event.save(force_insert=True)
        head.seq, head.hash = event.seq, event.hash
        head.save(update_fields=["seq", "hash"])
        seq, digest = event.seq, event.hash
        transaction.on_commit(lambda: write_anchor(seq, digest))
    return event


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
    connection = connections[router.db_for_write(AccessEvent)]
    # The same INSERT the ORM writes, its text made once per database: every API call makes
    # one, and compiling it through the ORM cost more CPU than the rest of the call's audit.
    sql = _ACCESS_INSERT.get(connection.alias)
    if sql is None:
        sql = _ACCESS_INSERT[connection.alias] = _access_insert_sql(connection)
    params = [_ACCESS_COLUMNS[name].get_db_prep_save(values[name], connection) for name in _ACCESS_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


_ACCESS_COLUMNS = {
    name: AccessEvent._meta.get_field(name.removesuffix("_id") if name == "actor_id" else name)
    for name in ("created_at", "actor_id", "actor_label", "action", "object_type", "object_id", "data", "sealed_seq")
}
_ACCESS_INSERT: dict[str, str] = {}


def _access_insert_sql(connection) -> str:
    quote = connection.ops.quote_name
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

    def __str__(self) -> str:
        if self.ok:
            text = f"审计链完整：已校验 {self.checked} 条记录"
            if self.sealed or self.unsealed:
                text += f"，{self.sealed} 条接口访问记录与封存摘要相符"
            if self.unsealed:
                text += f"，另有 {self.unsealed} 条接口访问记录尚待封存"
            return text + "。"
        if self.first_broken_seq is None:
            return f"审计记录校验未通过：{self.problem}（已校验 {self.checked} 条）"
        return f"审计链在第 {self.first_broken_seq} 条处断开：{self.problem}（已校验 {self.checked} 条）"


def audit_verify(*, check_anchor: bool = True, batch: int = 5000) -> VerifyResult:
    """Walk the chain in order and report the first broken link."""
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    last_id = 0
    seals: list[AuditEvent] = []
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
    for seal in seals:
        problem = _seal_problem(seal)
        if problem:
            return VerifyResult(False, checked, seal.seq, problem)
    sealed = sum(int((seal.data or {}).get("count") or 0) for seal in seals)
    stamped = AccessEvent.objects.filter(sealed_seq__isnull=False).count()
    if stamped != sealed:
        problem = f"有 {stamped - sealed} 条接口访问记录标为已封存，却不属于任何封存（记录被插入或移动）"
        return VerifyResult(False, checked, None, problem, sealed=sealed)
    unsealed = AccessEvent.objects.filter(sealed_seq__isnull=True).count()
    return VerifyResult(True, checked, sealed=sealed, unsealed=unsealed)
