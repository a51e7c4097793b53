"""POST /api/v1/oauth2/client/token: OAuth 2.0 client credentials (RFC 6749 §4.4).

The body is a form (application/x-www-form-urlencoded, the standard) or JSON, with
grant_type=client_credentials, client_id, client_secret and optionally scope (space-separated);
the client may instead send its id and secret as HTTP Basic credentials.
"""

from __future__ import annotations

import base64
import binascii
import json

from ninja import Router, Schema

from ejia.api.auth import token_issue
from ejia.api.errors import ApiError, Error
from ejia.api.services import client_authenticate
from ejia.core.audit import audit_record

router = Router(tags=["认证"])


class TokenOut(Schema):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


TOKEN_REQUEST_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            media: {
                "schema": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_id": {"type": "string", "maxLength": 64},
                        "client_secret": {"type": "string", "maxLength": 200},
                        "scope": {"type": "string", "maxLength": 500},
                    },
                }
            }
            for media in ("application/x-www-form-urlencoded", "application/json")
        },
    }
}


def _fields(request) -> dict[str, str]:
    content_type = request.content_type or ""
    if content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "bad_request", "请求体不是有效的 JSON。") from None
        if not isinstance(data, dict):
            raise ApiError(400, "bad_request", "请求体应为 JSON 对象。")
    else:
        data = request.POST
    fields = {}
    for name in ("grant_type", "client_id", "client_secret", "scope"):
        value = data.get(name, "")
        if not isinstance(value, str):
            raise ApiError(422, "invalid_request", f"{name} 应为文本。", field=f"body.{name}")
        fields[name] = value
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            pair = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(401, "invalid_client", "Authorization 头中的客户端凭证格式不正确。") from None
        client_id, _, secret = pair.partition(":")
        fields["client_id"], fields["client_secret"] = client_id, secret
    return fields


@router.post(
    "/client/token",
    response={200: TokenOut, 400: Error, 401: Error, 422: Error},
    openapi_extra=TOKEN_REQUEST_DOC,
    summary="以客户端凭证换取访问令牌",
)
def client_token(request):
    fields = _fields(request)
    if fields["grant_type"] != "client_credentials":
        raise ApiError(400, "unsupported_grant_type", "grant_type 须为 client_credentials。", field="body.grant_type")
    if not fields["client_id"] or not fields["client_secret"]:
        raise ApiError(401, "invalid_client", "缺少 client_id 或 client_secret。", field="body.client_id")
    client = client_authenticate(fields["client_id"], fields["client_secret"])
    if client is None:
        raise ApiError(401, "invalid_client", "客户端标识或密钥不正确，或该客户端已停用。", field="body.client_secret")
    requested = fields["scope"].split() if fields["scope"] else None
    unknown = sorted(set(requested or ()) - set(client.scopes))
    if unknown:
        raise ApiError(400, "invalid_scope", f"该客户端未获授权的范围：{' '.join(unknown)}。", field="body.scope")
    token, lifetime, scopes = token_issue(client, requested)
    audit_record(
        actor=client.service_user,
        action="api.token",
        obj=client,
        data={"client_id": client.client_id, "scopes": scopes},
    )
    return {"access_token": token, "token_type": "Bearer", "expires_in": lifetime, "scope": " ".join(scopes)}
