"""The audit event log: append (`audit_record`) and verify (`audit_verify`).

Every service that changes state calls `audit_record` inside its transaction. Entries are
chained: hash_n = HMAC(key, hash_{n-1} ‖ canonical(entry_n)). The head (seq, hash) is also
kept outside the table in a file, written after commit, so that cutting off the newest
entries (truncation) is detected too.
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
from django.db import transaction
from django.utils import timezone

from ejia.core.idnumber import mask_in_text
from ejia.core.models import AuditChainHead, AuditEvent

GENESIS = "0" * 64


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

    def __str__(self) -> str:
        if self.ok:
            return f"审计链完整：已校验 {self.checked} 条记录。"
        return f"审计链在第 {self.first_broken_seq} 条处断开：{self.problem}（已校验 {self.checked} 条）"


def audit_verify(*, check_anchor: bool = True, batch: int = 5000) -> VerifyResult:
    """Walk the chain in order and report the first broken link."""
    prev_hash = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    last_id = 0
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
    return VerifyResult(True, checked)
