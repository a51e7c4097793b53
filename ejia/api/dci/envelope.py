"""The DCI message envelope `{signature, header, message}` and the acknowledgements.

Header fields follow MsgHeader_V1.0.0 (request) and MsgCallbackHeader_V1.0.0 (response) of
social_api_v1.0.0.yaml; error codes are the spec's enums, kept verbatim so that a partner's
gateway can act on them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from django.utils import timezone
from pydantic import BaseModel, ConfigDict, Field, ValidationError

DCI_VERSION = "1.0.0"

# Transport / integrity errors (schema `Error.code`): answered with ack_status ERR.
ERR_REQUEST_BAD = "err.request.bad"
ERR_UNAUTHORIZED = "err.request.unauthorized"
ERR_FORBIDDEN = "err.request.forbidden"
ERR_NOT_FOUND = "err.request.not_found"
ERR_VERSION = "err.version.not_supported"
ERR_SENDER_ID = "err.sender_id.invalid"
ERR_SENDER_URI = "err.sender_uri.invalid"
ERR_RECEIVER_ID = "err.receiver_id.invalid"
ERR_SIGNATURE_MISSING = "err.signature.missing"
ERR_SIGNATURE_INVALID = "err.signature.invalid"
ERR_ENCRYPTION = "err.encryption.invalid"
ERROR_CODES = frozenset(
    {
        ERR_REQUEST_BAD,
        ERR_UNAUTHORIZED,
        ERR_FORBIDDEN,
        ERR_NOT_FOUND,
        "err.request.timeout",
        ERR_VERSION,
        "err.request.too_many_requests",
        ERR_SENDER_ID,
        ERR_SENDER_URI,
        ERR_RECEIVER_ID,
        ERR_SIGNATURE_MISSING,
        ERR_SIGNATURE_INVALID,
        ERR_ENCRYPTION,
        "err.service.unavailable",
    }
)

# Header-level rejections (MsgHeaderStatusReasonCode) and per-request ones (SearchStatusReasonCode).
RJCT_ACTION_INVALID = "rjct.action.invalid"
RJCT_TOTAL_COUNT_INVALID = "rjct.total_count.invalid"
RJCT_TOTAL_COUNT_LIMIT = "rjct.total_count.limit_exceeded"
RJCT_MESSAGE_TS_INVALID = "rjct.message_ts.invalid"
RJCT_REFERENCE_ID = "rjct.reference_id.invalid"
RJCT_REFERENCE_ID_DUPLICATE = "rjct.reference_id.duplicate"
RJCT_CRITERIA = "rjct.search_criteria.invalid"
RJCT_SORT = "rjct.sort.invalid"
RJCT_PAGINATION = "rjct.pagination.invalid"
RJCT_TOO_MANY = "rjct.search.too_many_records_found"

# How many search requests one message may batch.
MAX_BATCH = 20


class DciError(Exception):
    """A message the registry cannot take at all (answered ERR with the spec's code)."""

    def __init__(self, code: str, message: str, *, http_status: int = 400):
        assert code in ERROR_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


class MsgHeader(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = DCI_VERSION
    message_id: str = Field(min_length=1, max_length=99)
    message_ts: dt.datetime
    action: str = Field(min_length=1, max_length=40)
    sender_id: str = Field(min_length=1, max_length=200)
    sender_uri: str | None = Field(default=None, max_length=500)
    receiver_id: str | None = Field(default=None, max_length=200)
    total_count: int
    is_msg_encrypted: bool = False
    meta: dict[str, Any] | None = None


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore")

    signature: str | None = None
    header: MsgHeader
    message: dict[str, Any]


def parse_envelope(body: Any) -> Envelope:
    """The envelope of a request body, or DciError(err.request.bad) with a readable reason."""
    if not isinstance(body, dict):
        raise DciError(ERR_REQUEST_BAD, "请求体须为JSON对象，含header与message。")
    try:
        envelope = Envelope.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise DciError(ERR_REQUEST_BAD, f"报文格式不正确：{where}") from exc
    if envelope.header.message_ts.tzinfo is None:
        raise DciError(ERR_REQUEST_BAD, "报文格式不正确：header.message_ts 须带时区。")
    if envelope.header.version.split(".")[0] != DCI_VERSION.split(".")[0]:
        raise DciError(ERR_VERSION, f"不支持的报文版本：{envelope.header.version}")
    if envelope.header.is_msg_encrypted:
        raise DciError(ERR_ENCRYPTION, "本系统暂不接收加密报文（is_msg_encrypted须为false）。")
    return envelope


def timestamp(moment: dt.datetime | None = None) -> str:
    """ISO 8601 with the time zone (the spec's message_ts)."""
    return timezone.localtime(moment or timezone.now()).isoformat(timespec="milliseconds")


def new_id() -> str:
    return uuid.uuid4().hex


def ack(
    correlation_id: str, *, status: Literal["ACK", "NACK", "ERR"] = "ACK", code: str = "", message: str = ""
) -> dict[str, Any]:
    """The acknowledgement (`components/responses/Response`) of an accepted or refused message."""
    body: dict[str, Any] = {"ack_status": status, "timestamp": timestamp(), "correlation_id": correlation_id}
    if code:
        body["error"] = {"code": code, "message": message[:999]}
    return {"message": body}


def error_ack(error: DciError) -> dict[str, Any]:
    return ack(new_id(), status="ERR", code=error.code, message=error.message)


def callback_header(
    *,
    action: str,
    status: Literal["rcvd", "pdng", "succ", "rjct"],
    sender_id: str,
    receiver_id: str,
    total_count: int,
    completed_count: int,
    reason_code: str = "",
    reason_message: str = "",
) -> dict[str, Any]:
    """A response header (MsgCallbackHeader_V1.0.0): we are the sender, the partner the receiver."""
    header: dict[str, Any] = {
        "version": DCI_VERSION,
        "message_id": new_id(),
        "message_ts": timestamp(),
        "action": action,
        "status": status,
        "total_count": total_count,
        "completed_count": completed_count,
        "sender_id": sender_id,
        "receiver_id": receiver_id,
        "is_msg_encrypted": False,
    }
    if reason_code:
        header["status_reason_code"] = reason_code
        header["status_reason_message"] = reason_message[:999]
    return header
