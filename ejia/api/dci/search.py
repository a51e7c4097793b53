"""Sync search: one signed DCI envelope in, one `on-search` envelope out.

The partner (a registered client with the DCI scope) is described by `Partner`: its sender_id,
the JWKS it registered, its data agreement and the area it may search (a division code; the
city for a provincial partner). Every search is restricted to that area before its own criteria.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ejia.api.dci import envelope as env
from ejia.api.dci import signing
from ejia.api.dci.query import CriteriaError, ParsedQuery, attribute_q, encode_cursor, parse_criteria
from ejia.api.dci.records import Agreement, group_records_page, member_records_page

RECEIVER_ID = "ejia.binzhou"


def receiver_id() -> str:
    return getattr(settings, "EJIA_DCI_RECEIVER_ID", RECEIVER_ID)


@dataclass(frozen=True)
class Partner:
    sender_id: str
    jwks: dict
    agreement: Agreement
    division_code: str  # the area the partner may search (a subtree of divisions)


def check_envelope(body: Any, partner: Partner, *, action: str) -> env.Envelope:
    """Parse, authenticate and check the addressing of a request; DciError when refused."""
    envelope = env.parse_envelope(body)
    header = envelope.header
    if header.sender_id != partner.sender_id:
        raise env.DciError(env.ERR_SENDER_ID, "header.sender_id 与登记的客户端不一致。", http_status=403)
    if header.receiver_id and header.receiver_id != receiver_id():
        raise env.DciError(env.ERR_RECEIVER_ID, f"header.receiver_id 应为 {receiver_id()}。")
    raw = body if isinstance(body, dict) else {}
    signing.verify(envelope.signature, raw.get("header"), raw.get("message"), jwks=partner.jwks)
    if header.action != action:
        raise env.DciError(env.ERR_REQUEST_BAD, f"header.action 应为 {action}。")
    return envelope


def _one(item: Any, partner: Partner, seen: set[str]) -> dict[str, Any]:
    reference_id = item.get("reference_id") if isinstance(item, dict) else None
    answer: dict[str, Any] = {"reference_id": str(reference_id or ""), "timestamp": env.timestamp()}
    try:
        if not reference_id or not isinstance(reference_id, str):
            raise CriteriaError(env.RJCT_REFERENCE_ID, "每个查询须有 reference_id。")
        if reference_id in seen:
            raise CriteriaError(env.RJCT_REFERENCE_ID_DUPLICATE, f"reference_id 重复：{reference_id}")
        seen.add(reference_id)
        parsed = parse_criteria(item.get("search_criteria"))
        data, pagination = run(parsed, partner)
    except CriteriaError as exc:
        answer.update(status="rjct", status_reason_code=exc.code, status_reason_message=exc.message)
        return answer
    answer.update(status="succ", data=data, pagination=pagination)
    return answer


def run(parsed: ParsedQuery, partner: Partner) -> tuple[dict[str, Any], dict[str, Any]]:
    """One page of records matching `parsed` inside the partner's area."""
    condition: Q = attribute_q("division_code", "eq", partner.division_code) & parsed.households
    page = parsed.page
    pager = group_records_page if parsed.entity == "Group" else member_records_page
    records, total, last_pk = pager(condition, page, partner.agreement, today=timezone.localdate())
    pagination: dict[str, Any] = {"page_size": page.size, "page_number": page.number, "total_count": total}
    if last_pk is not None and len(records) == page.size:
        pagination["next_cursor"] = encode_cursor(last_pk)
    return {"version": env.DCI_VERSION, "reg_records": records}, pagination


def search_requests(envelope: env.Envelope) -> tuple[str, list]:
    """The transaction id and the batch of a search message; DciError(err.request.bad) if absent."""
    message = envelope.message
    transaction_id = message.get("transaction_id")
    requests = message.get("search_request")
    if not isinstance(transaction_id, str) or not transaction_id or len(transaction_id) > 99:
        raise env.DciError(env.ERR_REQUEST_BAD, "message.transaction_id 须为1至99个字符。")
    if not isinstance(requests, list) or not requests:
        raise env.DciError(env.ERR_REQUEST_BAD, "message.search_request 须为非空列表。")
    return transaction_id, requests


def search_answer(envelope: env.Envelope, partner: Partner, *, correlation_id: str) -> tuple[dict, dict]:
    """(on-search header, on-search message) for a checked search envelope: the same answer
    whether it goes back at once (sync) or later to the partner's sender_uri (async)."""
    transaction_id, requests = search_requests(envelope)
    if len(requests) > env.MAX_BATCH or envelope.header.total_count != len(requests):
        code = env.RJCT_TOTAL_COUNT_LIMIT if len(requests) > env.MAX_BATCH else env.RJCT_TOTAL_COUNT_INVALID
        header = env.callback_header(
            action="on-search",
            status="rjct",
            sender_id=receiver_id(),
            receiver_id=partner.sender_id,
            total_count=len(requests),
            completed_count=0,
            reason_code=code,
            reason_message=f"header.total_count 须等于查询条数，且不超过{env.MAX_BATCH}条。",
        )
        return header, {"transaction_id": transaction_id, "correlation_id": correlation_id, "search_response": []}
    seen: set[str] = set()
    answers = [_one(item, partner, seen) for item in requests]
    header = env.callback_header(
        action="on-search",
        status="rjct" if all(a["status"] == "rjct" for a in answers) else "succ",
        sender_id=receiver_id(),
        receiver_id=partner.sender_id,
        total_count=len(answers),
        completed_count=len(answers),
    )
    return header, {"transaction_id": transaction_id, "correlation_id": correlation_id, "search_response": answers}


def sync_search(
    body: Any, partner: Partner, *, signer: Callable[[dict, dict], str] | None = None
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, response body): an on-search envelope, or an ERR acknowledgement."""
    try:
        envelope = check_envelope(body, partner, action="search")
        search_requests(envelope)
    except env.DciError as exc:
        return exc.http_status, env.error_ack(exc)
    header, message = search_answer(envelope, partner, correlation_id=env.new_id())
    return 200, signed(header, message, signer)


def signed(header: dict, message: dict, signer: Callable[[dict, dict], str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"header": header, "message": message}
    if signer is not None:
        body["signature"] = signer(header, message)
    return body
