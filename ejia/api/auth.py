"""API authentication: client-credentials tokens (short-lived JWTs signed with EdDSA), the
auth class every protected operation uses, the per-client rate limit and the call audit.

    @router.get("/things", auth=client_auth(ApiScope.CATALOGUE_READ))
    def things(request): principal = request.auth  # ApiPrincipal

`client_auth(scope)` verifies the token, loads the client (remembered a few seconds per process:
a disabled client's tokens stop at once in the process that disabled it, within
EJIA_API_AUTH_CACHE_SECONDS in the others; ejia.api.credentials), keeps to the client's rate limit (429 + Retry-After), asks the access policy
(ejia.accounts.policies.api_require: the same capabilities and reaches as staff) and records
the call in the access log under the client (sealed into the audit chain by the seal job).
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings
from django.core.cache import cache
from ninja.security import HttpBearer

from ejia.accounts.policies import api_require
from ejia.api import credentials
from ejia.api.errors import ApiError
from ejia.api.keys import ALGORITHM, signing_key
from ejia.api.models import ApiClient
from ejia.core.audit import access_record
from ejia.core.sms import mask_phone

AUDIENCE = "ejia-api"


@dataclass
class ApiPrincipal:
    """Who calls: the client, the scopes granted to this token (and still granted to the
    client), and the service account the client acts as (None for public-only clients)."""

    client: ApiClient
    scopes: frozenset[str]
    user: object | None

    @property
    def client_name(self) -> str:
        return self.client.name


def token_issue(client: ApiClient, requested: list[str] | None = None) -> tuple[str, int, list[str]]:
    """A signed token for `client`, limited to the requested scopes (default: all it has)."""
    granted = set(client.scopes)
    scopes = sorted(granted if not requested else granted.intersection(requested))
    now = int(time.time())
    lifetime = settings.EJIA_API_TOKEN_SECONDS
    key = signing_key()
    claims = {
        "iss": settings.EJIA_API_ISSUER,
        "aud": AUDIENCE,
        "sub": client.client_id,
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(scopes),
    }
    token = jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})
    return token, lifetime, scopes


def token_claims(token: str) -> dict | None:
    """The claims of a valid token of ours, or None (bad signature, expired, not for us)."""
    try:
        return jwt.decode(
            token,
            signing_key().public,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=settings.EJIA_API_ISSUER,
            options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            leeway=5,
        )
    except jwt.PyJWTError:
        return None


def rate_limit(client: ApiClient) -> None:
    """At most `rate_limit_per_minute` calls per client per clock minute (shared cache)."""
    limit = client.rate_limit_per_minute
    if not limit:
        return
    now = time.time()
    window = int(now // 60)
    key = f"ejia:api:rate:{client.pk}:{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=120)
        count = 1
    if count > limit:
        retry = max(1, math.ceil((window + 1) * 60 - now))
        raise ApiError(
            429,
            "rate_limited",
            f"调用过于频繁：每分钟最多 {limit} 次，请 {retry} 秒后再试。",
            headers={"Retry-After": str(retry)},
        )


def active_client(client_id) -> ApiClient | None:
    """The enabled client `client_id` with its service account, unit and division; remembered
    for EJIA_API_AUTH_CACHE_SECONDS in this process (ejia.api.credentials)."""
    client = credentials.CLIENTS.get(client_id)
    if client is None:
        client = (
            ApiClient.objects.select_related("service_user__unit__division", "service_user__unit__department", "unit")
            .filter(client_id=client_id, is_active=True)
            .first()
        )
        if client is not None:
            credentials.CLIENTS.put(client_id, client)
    return client


def principal_for(claims: dict) -> ApiPrincipal | None:
    client = active_client(claims.get("sub"))
    if client is None:
        return None
    user = client.service_user
    if user is not None and not user.is_active:
        return None
    scopes = frozenset(str(claims.get("scope", "")).split()) & frozenset(client.scopes)
    return ApiPrincipal(client=client, scopes=scopes, user=user)


def audit_call(request, principal: ApiPrincipal, scope: str) -> None:
    """Every authenticated call, allowed or not, in the access log (one INSERT, no chain lock;
    sealed into the audit chain every minute, see ejia.core.audit.access_seal). A citizen's
    call through the app names the citizen's phone, masked as staff pages show it."""
    data = {"client_id": principal.client.client_id, "method": request.method, "path": request.path, "scope": scope}
    phone = getattr(principal, "phone", "")
    if phone:
        data["phone"] = mask_phone(phone)
    access_record(actor=principal.user, action="api.call", obj=principal.client, data=data)


class ClientAuth(HttpBearer):
    """Bearer token auth for one scope; `request.auth` is the ApiPrincipal."""

    def __init__(self, scope: str):
        super().__init__()
        self.scope = scope

    def authenticate(self, request, token: str):
        claims = token_claims(token)
        if claims is None:
            return None
        principal = principal_for(claims)
        if principal is None:
            return None
        rate_limit(principal.client)
        request.ejia_api_principal = principal
        try:
            api_require(principal, self.scope)
        finally:
            audit_call(request, principal, self.scope)
        return principal


def client_auth(scope: str) -> ClientAuth:
    return ClientAuth(scope)
