"""DCI Social Registry API v1.0.0 (docs/dci.md) for partner registries (scope dci:search).

The body is the DCI envelope itself (`{signature, header, message}`), checked by ejia.api.dci;
answers are the spec's envelopes, signed with our key (published at /.well-known/jwks.json).
The async forms answer an acknowledgement and post the result later to the partner's
registered callback address (ejia.api.dci.transactions, ejia.api.dci.delivery).
"""

from __future__ import annotations

import json
from typing import Any

from django.http import JsonResponse
from ninja import Router

from ejia.accounts.policies import ApiScope
from ejia.api.auth import client_auth
from ejia.api.dci import envelope as env
from ejia.api.dci.search import sync_search
from ejia.api.dci.subscriptions import subscribe_accept, unsubscribe_accept
from ejia.api.dci.transactions import our_signature, partner_of, search_accept, sync_txn_status, txn_status_accept
from ejia.api.errors import Error

router = Router(tags=["DCI社会登记"], auth=client_auth(ApiScope.DCI_SEARCH))

# DCI envelopes and acknowledgements (the spec's shapes, not ours); 401/403 of the token check
# and 429 of the rate limit keep the API's error shape.
RESPONSES = {200: dict, 400: dict, 401: dict, 403: dict, 422: Error, 429: Error}
ASYNC_RESPONSES = {**RESPONSES, 409: dict}
STATUS_RESPONSES = {**RESPONSES, 404: dict}


def _body(request) -> tuple[Any, JsonResponse | None]:
    try:
        return json.loads(request.body or b"null"), None
    except (ValueError, UnicodeDecodeError):
        error = env.DciError(env.ERR_REQUEST_BAD, "请求体不是有效的JSON。")
        return None, JsonResponse(env.error_ack(error), status=400)


def _answer(status: int, body: dict) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


@router.post("/registry/sync/search", summary="同步查询（DCI registry/sync/search）", response=RESPONSES)
def registry_sync_search(request):
    body, refused = _body(request)
    if refused:
        return refused
    return _answer(*sync_search(body, partner_of(request.auth.client), signer=our_signature))


@router.post(
    "/registry/search",
    summary="异步查询（DCI registry/search：先应答ACK，结果回调 on-search）",
    response=ASYNC_RESPONSES,
)
def registry_search(request):
    body, refused = _body(request)
    if refused:
        return refused
    return _answer(*search_accept(body, client=request.auth.client))


@router.post(
    "/registry/txn/status",
    summary="异步查询事务状态（DCI registry/txn/status：结果回调 txn/on-status）",
    response=STATUS_RESPONSES,
)
def registry_txn_status(request):
    body, refused = _body(request)
    if refused:
        return refused
    return _answer(*txn_status_accept(body, client=request.auth.client))


@router.post(
    "/registry/sync/txn/status", summary="同步查询事务状态（DCI registry/sync/txn/status）", response=STATUS_RESPONSES
)
def registry_sync_txn_status(request):
    body, refused = _body(request)
    if refused:
        return refused
    return _answer(*sync_txn_status(body, client=request.auth.client))


@router.post(
    "/registry/subscribe",
    summary="订阅登记变化（DCI registry/subscribe：先应答ACK，结果回调 on-subscribe，变化时回调 notify）",
    response=RESPONSES,
)
def registry_subscribe(request):
    body, refused = _body(request)
    if refused:
        return refused
    return _answer(*subscribe_accept(body, client=request.auth.client))


@router.post(
    "/registry/unsubscribe",
    summary="取消订阅（DCI registry/unsubscribe：先应答ACK，结果回调 on-unsubscribe）",
    response=RESPONSES,
)
def registry_unsubscribe(request):
    body, refused = _body(request)
    if refused:
        return refused
    return _answer(*unsubscribe_accept(body, client=request.auth.client))
