"""Message signatures: a JWS (RFC 7515) with detached payload over the canonical JSON of
`{"header": …, "message": …}`.

Canonical JSON: keys sorted by code point at every level, no insignificant whitespace
(separators "," and ":"), UTF-8 without escaping non-ASCII, numbers as Python's json writes
integers (the envelope carries no floats we sign differently; a float is refused). This is
RFC 8785 (JCS) for the values DCI messages use. The `signature` field holds the compact
serialisation with the payload left out: `<protected header>..<signature>`; the protected
header names the algorithm (EdDSA, ES256 or RS256) and the `kid` of the sender's key, which the
receiver looks up in the JWKS the sender registered with us (and we publish ours at
/.well-known/jwks.json). A receiver that wants the spec's example `Signature: …` header form can
wrap it; the bytes signed are the same.
"""

from __future__ import annotations

import json
from typing import Any

import jwt
from jwt.exceptions import InvalidTokenError, PyJWKError

from ejia.api.dci.envelope import ERR_SIGNATURE_INVALID, ERR_SIGNATURE_MISSING, DciError

ALGORITHMS = ("EdDSA", "ES256", "RS256")


def _no_floats(value: Any) -> Any:
    if isinstance(value, float):
        raise DciError(ERR_SIGNATURE_INVALID, "签名报文中不得含浮点数（规范化JSON只支持整数）。")
    if isinstance(value, dict):
        for item in value.values():
            _no_floats(item)
    elif isinstance(value, list):
        for item in value:
            _no_floats(item)
    return value


def canonical(header: Any, message: Any) -> bytes:
    """The bytes that are signed: canonical JSON of {"header": header, "message": message}."""
    document = _no_floats({"header": header, "message": message})
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sign(header: dict, message: dict, *, private_key: Any, kid: str, algorithm: str = "EdDSA") -> str:
    """The detached compact JWS over the canonical header+message."""
    return jwt.api_jws.encode(
        canonical(header, message),
        private_key,
        algorithm=algorithm,
        headers={"kid": kid},
        is_payload_detached=True,
    )


def verify(signature: str | None, header: dict, message: dict, *, jwks: dict | None) -> str:
    """Check the signature against the sender's registered JWKS; returns the key id used.

    Raises DciError err.signature.missing / err.signature.invalid (never a bare exception)."""
    if not signature:
        raise DciError(ERR_SIGNATURE_MISSING, "报文缺少签名（signature）。", http_status=401)
    try:
        unverified = jwt.get_unverified_header(signature)
    except InvalidTokenError as exc:
        raise DciError(ERR_SIGNATURE_INVALID, "签名格式不正确。", http_status=401) from exc
    kid = unverified.get("kid")
    algorithm = unverified.get("alg")
    if algorithm not in ALGORITHMS:
        raise DciError(ERR_SIGNATURE_INVALID, f"不支持的签名算法：{algorithm}", http_status=401)
    keys = [k for k in (jwks or {}).get("keys", []) if isinstance(k, dict) and k.get("kid") == kid]
    if not kid or not keys:
        raise DciError(ERR_SIGNATURE_INVALID, "签名所用密钥未在本系统登记。", http_status=401)
    try:
        key = jwt.PyJWK(keys[0], algorithm=algorithm).key
        jwt.api_jws.decode_complete(signature, key, algorithms=[algorithm], detached_payload=canonical(header, message))
    except (InvalidTokenError, PyJWKError) as exc:
        raise DciError(ERR_SIGNATURE_INVALID, "签名验证失败。", http_status=401) from exc
    return kid
