"""`Idempotency-Key` for creating POSTs: a retry gets the first answer, not a second creation.

    @router.post("/things", auth=client_auth(...), response={201: Thing}, openapi_extra=IDEMPOTENCY_DOC)
    @idempotent
    def thing_create(request, payload: ThingIn): ...

The same key with the same body (method, path and raw body bytes) replays the stored answer;
with a different body it is refused with 409. The key is claimed by inserting its row in the
same transaction as the work: a concurrent duplicate waits on the unique (client, key) index
until the first commits, then finds its answer (PostgreSQL; SQLite serialises writers anyway).
Views return `Status(code, body)`. A router module using it must not say
`from __future__ import annotations`: ninja reads the view's annotations through the wrapper,
whose globals are this module's, so they must be real types, not strings. A failed call (any error answer) keeps nothing, so the client may retry it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from ninja.responses import NinjaJSONEncoder, Status

from ejia.api.errors import ApiError
from ejia.api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200

IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": HEADER,
            "required": False,
            "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
            "description": "重试时带上同一键：同一请求体返回首次结果，不同请求体返回 409。",
        }
    ]
}


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(request.method.encode("ascii") + b" " + request.path.encode("utf-8") + b"\n")
    digest.update(request.body or b"")
    return digest.hexdigest()


def _jsonable(body):
    return json.loads(json.dumps(body, cls=NinjaJSONEncoder, ensure_ascii=False))


def _conflict(message: str) -> ApiError:
    return ApiError(409, "idempotency_conflict", message, field=HEADER)


def _replay(record: IdempotencyRecord, fingerprint: str):
    if record.body_hash != fingerprint:
        raise _conflict("该 Idempotency-Key 已用于另一个不同内容的请求，请为新请求换一个键。")
    return Status(record.status_code, record.response_body)


def _split(result) -> tuple[int, object]:
    if isinstance(result, Status):
        return result.status_code, result.value
    if isinstance(result, tuple):
        return result
    return 200, result


def idempotent(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        key = request.headers.get(HEADER, "")
        if not key:
            return view(request, *args, **kwargs)
        if len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ApiError(
                400,
                "invalid_idempotency_key",
                f"Idempotency-Key 须为不超过 {MAX_KEY_LENGTH} 个字符的文本。",
                field=HEADER,
            )
        client = request.auth.client
        fingerprint = _fingerprint(request)
        window = timezone.now() - dt.timedelta(hours=settings.EJIA_API_IDEMPOTENCY_HOURS)
        # One read for both cases: the key's answer within the window, or its expired row
        # (deleted, so the key may be claimed again); a new key, the usual case, costs one query.
        found = IdempotencyRecord.objects.filter(client=client, key=key).first()
        if found is not None and found.created_at >= window:
            return _replay(found, fingerprint)
        if found is not None:
            IdempotencyRecord.objects.filter(client=client, key=key, created_at__lt=window).delete()
        with transaction.atomic():
            try:
                with transaction.atomic():
                    record = IdempotencyRecord.objects.create(
                        client=client, key=key, operation=request.path[:200], body_hash=fingerprint
                    )
            except IntegrityError:
                # A concurrent duplicate claimed the key and committed first: its answer is ours.
                found = IdempotencyRecord.objects.filter(client=client, key=key).first()
                if found is None or found.status_code is None:
                    raise _conflict("同一 Idempotency-Key 的请求正在处理，请稍后重试。") from None
                return _replay(found, fingerprint)
            result = view(request, *args, **kwargs)
            status, body = _split(result)
            if status >= 400:
                transaction.set_rollback(True)  # an error answer keeps nothing: the client may retry
                return Status(status, body)
            record.status_code, record.response_body = status, _jsonable(body)
            record.save(update_fields=["status_code", "response_body"])
        return Status(status, record.response_body)

    return wrapped
