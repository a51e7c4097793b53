"""DCI Social Registry API v1.0.0 (docs/dci.md) for partner registries (scope dci:search).

The body is the DCI envelope itself (`{signature, header, message}`), checked by ejia.api.dci;
answers are the spec's envelopes, signed with our key (published at /.well-known/jwks.json).
The async forms answer an acknowledgement and post the result later to the partner's
registered callback address (ejia.api.dci.transactions, ejia.api.dci.delivery).
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
from ejia.api.models import ApiClient

router = Router(tags=["DCI社会登记"], auth=client_auth(ApiScope.DCI_SEARCH))

# DCI envelopes and acknowledgements (the spec's shapes, not ours); 401/403 of the token check
# and 429 of the rate limit keep the API's error shape.
RESPONSES = {200: dict, 400: dict, 401: dict, 403: dict, 422: Error, 429: Error}
ASYNC_RESPONSES = {**RESPONSES, 409: dict}
STATUS_RESPONSES = {**RESPONSES, 404: dict}


def _handle(request, handler: Callable[[Any, ApiClient], tuple[int, dict]]) -> JsonResponse:
    """The envelope handling every DCI endpoint shares: the body must be JSON (else the ERR
    acknowledgement `err.request.bad`); `handler(body, client)` checks the envelope and answers
    (HTTP status, DCI body), sent as UTF-8 JSON."""
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        error = env.DciError(env.ERR_REQUEST_BAD, "请求体不是有效的JSON。")
        return JsonResponse(env.error_ack(error), status=400)
    status, answer = handler(body, request.auth.client)
    return JsonResponse(answer, status=status, json_dumps_params={"ensure_ascii": False})


def _sync_search(body: Any, client: ApiClient) -> tuple[int, dict]:
    return sync_search(body, partner_of(client), signer=our_signature)


def _keyword(service: Callable[..., tuple[int, dict]]) -> Callable[[Any, ApiClient], tuple[int, dict]]:
    return lambda body, client: service(body, client=client)


# (path, summary, responses, handler): one view each, all with the same envelope handling.
ENDPOINTS = (
    ("/registry/sync/search", "同步查询（DCI registry/sync/search）", RESPONSES, _sync_search),
    (
        "/registry/search",
        "异步查询（DCI registry/search：先应答ACK，结果回调 on-search）",
        ASYNC_RESPONSES,
        _keyword(search_accept),
    ),
    (
        "/registry/txn/status",
        "异步查询事务状态（DCI registry/txn/status：结果回调 txn/on-status）",
        STATUS_RESPONSES,
        _keyword(txn_status_accept),
    ),
    (
        "/registry/sync/txn/status",
        "同步查询事务状态（DCI registry/sync/txn/status）",
        STATUS_RESPONSES,
        _keyword(sync_txn_status),
    ),
    (
        "/registry/subscribe",
        "订阅登记变化（DCI registry/subscribe：先应答ACK，结果回调 on-subscribe，变化时回调 notify）",
        RESPONSES,
        _keyword(subscribe_accept),
    ),
    (
        "/registry/unsubscribe",
        "取消订阅（DCI registry/unsubscribe：先应答ACK，结果回调 on-unsubscribe）",
        RESPONSES,
        _keyword(unsubscribe_accept),
    ),
)


def _view(path: str, handler: Callable[[Any, ApiClient], tuple[int, dict]]):
    def view(request):
        return _handle(request, handler)

    # The name gives the operation id (ejia_api_routers_dci_registry_sync_search, …).
    view.__name__ = view.__qualname__ = "registry_" + path.removeprefix("/registry/").replace("/", "_")
    return view


for _path, _summary, _responses, _handler in ENDPOINTS:
    router.post(_path, summary=_summary, response=_responses)(_view(_path, _handler))
