"""Online exchange: the HTTP JSON adapter that asks a department about one person.

POST {base_url}/sources/{code}/query with {"id_number": …} in the body (never in the URL).
Per source: a timeout, retries with exponential backoff and jitter, a rate limit and a circuit
breaker. Breaker and rate-limit state live in the database (`SourceCircuit`), so every web and
worker process shares them. A source that cannot answer raises `SourceFailed` — a failure is
never reported as "nothing found".
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ejia.core import crypto
from ejia.core.audit import audit_record
from ejia.verification.models import PERSON_INDEX_PURPOSE, DataSource, SourceCircuit

# Department systems sit on the government network, never behind the environment's proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, f"EJIA_EXCHANGE_{name}", default))


class SourceFailed(Exception):
    """The source did not answer usably; `message` is Chinese, `kind` is machine-readable."""

    def __init__(self, message: str, *, kind: str, attempts: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind  # circuit_open | timeout | http | connection | bad_response | not_configured
        self.attempts = attempts


@dataclass
class QueryResult:
    source: str
    found: bool
    records: list[dict] = field(default_factory=list)
    as_of: str | None = None
    elapsed_ms: int = 0
    attempts: int = 1


class _Retryable(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def _admit(source: DataSource) -> float:
    """Check the breaker and take a rate-limit slot; returns seconds to wait for the slot."""
    now = timezone.now()
    with transaction.atomic():
        SourceCircuit.objects.get_or_create(source=source)
        circuit = SourceCircuit.objects.select_for_update().get(source=source)
        fields = []
        if circuit.state == SourceCircuit.State.OPEN:
            if circuit.open_until and circuit.open_until > now:
                wait = (circuit.open_until - now).total_seconds()
                raise SourceFailed(
                    f"{source.name}接口连续失败，已暂停调用（熔断），约 {wait:.0f} 秒后自动重试。", kind="circuit_open"
                )
            # Cool-down over: this caller is the one trial request.
            circuit.state = SourceCircuit.State.HALF_OPEN
            fields.append("state")
        elif circuit.state == SourceCircuit.State.HALF_OPEN:
            stale = dt.timedelta(seconds=source.timeout_seconds * (source.retries + 1) + 5)
            if circuit.updated_at > now - stale:
                raise SourceFailed(f"{source.name}接口正在试探恢复，请稍后重试。", kind="circuit_open")
        rate = max(source.rate_limit_per_second, 0.01)
        slot = max(now, circuit.next_slot_at or now)
        circuit.next_slot_at = slot + dt.timedelta(seconds=1 / rate)
        fields.append("next_slot_at")
        circuit.save(update_fields=[*fields, "updated_at"])
    return (slot - now).total_seconds()


def _record_outcome(source: DataSource, *, ok: bool, error: str = "") -> None:
    threshold = int(_setting("BREAKER_THRESHOLD", 5))
    cooldown = _setting("BREAKER_COOLDOWN_SECONDS", 30)
    with transaction.atomic():
        circuit = SourceCircuit.objects.select_for_update().get(source=source)
        if ok:
            circuit.state = SourceCircuit.State.CLOSED
            circuit.consecutive_failures = 0
            circuit.open_until = None
        else:
            circuit.consecutive_failures += 1
            circuit.last_error = error[:300]
            if circuit.state == SourceCircuit.State.HALF_OPEN or circuit.consecutive_failures >= threshold:
                circuit.state = SourceCircuit.State.OPEN
                circuit.open_until = timezone.now() + dt.timedelta(seconds=cooldown)
        circuit.save(update_fields=["state", "consecutive_failures", "open_until", "last_error", "updated_at"])


def _post(url: str, body: bytes, timeout: float) -> dict:
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator-configured department endpoint
        url, data=body, method="POST", headers={"Content-Type": "application/json", "Accept": "application/json"}
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            payload = response.read(10 * 1024 * 1024 + 1)
    except urllib.error.HTTPError as exc:
        if exc.code in (429, 500, 502, 503, 504):
            raise _Retryable("http", f"部门接口返回错误 {exc.code}") from None
        raise SourceFailed(f"部门接口拒绝了请求（HTTP {exc.code}）。", kind="http") from None
    except TimeoutError:
        raise _Retryable("timeout", f"部门接口在 {timeout:g} 秒内没有应答（超时）") from None
    except (urllib.error.URLError, ConnectionError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or "timed out" in str(reason):
            raise _Retryable("timeout", f"部门接口在 {timeout:g} 秒内没有应答（超时）") from None
        raise _Retryable("connection", "无法连接部门接口") from None
    if len(payload) > 10 * 1024 * 1024:
        raise _Retryable("bad_response", "部门接口应答过大")
    try:
        data = json.loads(payload)
    except ValueError:
        raise _Retryable("bad_response", "部门接口应答不是有效的 JSON") from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("found"), bool)
        or not isinstance(data.get("records"), list)
    ):
        raise _Retryable("bad_response", "部门接口应答格式不符")
    return data


def query_online(*, source: DataSource, id_number: str, actor=None, reason: str = "") -> QueryResult:
    """Ask one department about one person. Raises SourceFailed; never returns a failure as
    an empty result."""
    base = source.base_url or getattr(settings, "EJIA_EXCHANGE_ONLINE_BASE_URL", "")
    if not (source.online_enabled and base):
        raise SourceFailed(f"{source.name}未开通线上接口。", kind="not_configured")
    person_index = crypto.blind_index(id_number, purpose=PERSON_INDEX_PURPOSE)
    try:
        wait = _admit(source)
    except SourceFailed as exc:
        # Refused by the open circuit: audited, but not counted as another failure of the
        # department (that would keep extending the cool-down).
        _audit_query(actor, source, reason, person_index, outcome="failed", kind=exc.kind, attempts=0)
        raise
    if wait > 0:
        time.sleep(wait)
    url = f"{base.rstrip('/')}/sources/{source.code}/query"
    body = json.dumps({"id_number": id_number}).encode("utf-8")
    backoff = _setting("BACKOFF_SECONDS", 0.2)
    started = time.monotonic()
    attempts = 0
    last: _Retryable | None = None
    try:
        for attempt in range(source.retries + 1):
            attempts = attempt + 1
            try:
                data = _post(url, body, source.timeout_seconds)
            except _Retryable as exc:
                last = exc
                if attempt < source.retries:
                    time.sleep(backoff * (2**attempt) * (0.5 + random.random()))
                continue
            break
        else:
            raise SourceFailed(
                f"{source.name}查询失败：{last.message}（已尝试 {attempts} 次）。", kind=last.kind, attempts=attempts
            )
    except SourceFailed as exc:
        exc.attempts = exc.attempts or attempts
        _record_outcome(source, ok=False, error=exc.message)
        _audit_query(actor, source, reason, person_index, outcome="failed", kind=exc.kind, attempts=exc.attempts)
        raise
    _record_outcome(source, ok=True)
    elapsed = int((time.monotonic() - started) * 1000)
    result = QueryResult(
        source=source.code,
        found=data["found"],
        records=data["records"],
        as_of=data.get("as_of"),
        elapsed_ms=elapsed,
        attempts=attempts,
    )
    _audit_query(
        actor, source, reason, person_index, outcome="found" if result.found else "not_found", attempts=attempts
    )
    return result


def _audit_query(actor, source, reason, person_index, *, outcome: str, attempts: int, kind: str = "") -> None:
    data = {"person": person_index[:16], "outcome": outcome, "attempts": attempts}
    if kind:
        data["kind"] = kind
    audit_record(actor=actor, action="exchange.online_query", obj=source, reason=reason, data=data)
