"""DCI Social Registry API v1.0.0 (docs/dci.md) for partner registries (scope dci:search).

The body is the DCI envelope itself (`{signature, header, message}`), checked by ejia.api.dci;
answers are the spec's envelopes, signed with our key (published at /.well-known/jwks.json).
"""

from __future__ import annotations

import json

from django.http import JsonResponse
from ninja import Router

from ejia.accounts.policies import ApiScope
from ejia.api.auth import client_auth
from ejia.api.dci import envelope as env
from ejia.api.dci import signing
from ejia.api.dci.records import AGREEMENT_FIELDS, Agreement
from ejia.api.dci.search import Partner, sync_search
from ejia.api.errors import Error
from ejia.api.keys import signing_key

router = Router(tags=["DCI社会登记"], auth=client_auth(ApiScope.DCI_SEARCH))

CITY_CODE = "371600"


def partner_of(client) -> Partner:
    """The partner as the DCI code sees it: its keys, its agreement, its area."""
    fields = AGREEMENT_FIELDS.intersection(client.agreement_fields or [])
    division = client.unit.division.code if client.unit_id else CITY_CODE
    return Partner(
        sender_id=client.client_id,
        jwks=client.jwks or {},
        agreement=Agreement.of(fields, mask_ids=client.agreement_mask_ids),
        division_code=division,
    )


def _our_signature(header: dict, message: dict) -> str:
    key = signing_key()
    return signing.sign(header, message, private_key=key.private, kid=key.kid)


# DCI envelopes and acknowledgements (the spec's shapes, not ours); 401/403 of the token check
# and 429 of the rate limit keep the API's error shape.
RESPONSES = {200: dict, 400: dict, 401: dict, 403: dict, 422: Error, 429: Error}


@router.post("/registry/sync/search", summary="同步查询（DCI registry/sync/search）", response=RESPONSES)
def registry_sync_search(request):
    try:
        body = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        error = env.DciError(env.ERR_REQUEST_BAD, "请求体不是有效的JSON。")
        return JsonResponse(env.error_ack(error), status=400)
    status, answer = sync_search(body, partner_of(request.auth.client), signer=_our_signature)
    return JsonResponse(answer, status=status, json_dumps_params={"ensure_ascii": False})
