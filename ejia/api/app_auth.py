"""The citizens' app: a citizen's personal token (phone + SMS code, through the app's client).

The app is a registered ApiClient of kind 群众手机App holding the scope `app:citizen`. It asks
for SMS codes and exchanges phone + code for a citizen token with its own client token
(client credentials); the citizen token then stands alone, but stays bound to that client (a
disabled client's citizen tokens stop, its rate limit counts them) and to the phone: it reaches only the applications made with that phone, through the same selectors and
services as the portal's pages. Tokens are opaque random strings stored hashed, valid for
EJIA_API_CITIZEN_TOKEN_SECONDS; the app logs in again after that. Logging out or disabling the
app stops a token at once in the worker process that did it, within EJIA_API_AUTH_CACHE_SECONDS
(5 s) in the others (ejia.api.credentials).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ejia.accounts.policies import ApiScope, api_require
from ejia.api import credentials
from ejia.api.auth import ApiPrincipal, ClientAuth, audit_call, rate_limit
from ejia.api.models import ApiClient, AppSession
from ejia.core.audit import audit_record
from ejia.core.sms import mask_phone

TOKEN_PREFIX = "ejc_"  # noqa: S105 (a label, not a secret)


def citizen_token_seconds() -> int:
    return settings.EJIA_API_CITIZEN_TOKEN_SECONDS


@dataclass
class CitizenPrincipal(ApiPrincipal):
    """The app's client acting for one citizen, known by the phone verified by SMS code."""

    phone: str = ""
    session: AppSession | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def citizen_token_issue(*, client: ApiClient, phone: str) -> tuple[str, int]:
    """A new personal token for `phone` (already verified by SMS code) through the app `client`."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    lifetime = citizen_token_seconds()
    with transaction.atomic():
        AppSession.objects.create(
            client=client,
            phone=phone,
            token_hash=_hash(token),
            expires_at=timezone.now() + dt.timedelta(seconds=lifetime),
        )
        audit_record(
            actor=None,
            action="api.app.login",
            obj=client,
            data={"client_id": client.client_id, "phone": mask_phone(phone)},
        )
    return token, lifetime


def citizen_token_revoke(*, session: AppSession) -> None:
    with transaction.atomic():
        AppSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
        credentials.forget()  # an UPDATE: no signal
        audit_record(
            actor=None,
            action="api.app.logout",
            obj=session.client,
            data={"client_id": session.client.client_id, "phone": mask_phone(session.phone)},
        )


def citizen_session(token: str) -> AppSession | None:
    """The live session of a citizen token (not revoked, not expired, its app enabled);
    remembered for EJIA_API_AUTH_CACHE_SECONDS in this process (ejia.api.credentials), its
    expiry checked on every call."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    token_hash = _hash(token)
    now = timezone.now()
    session = credentials.CITIZEN_SESSIONS.get(token_hash)
    if session is None:
        session = (
            AppSession.objects.select_related("client")
            .filter(token_hash=token_hash, revoked_at__isnull=True, expires_at__gt=now, client__is_active=True)
            .first()
        )
        if session is None:
            return None
        credentials.CITIZEN_SESSIONS.put(token_hash, session)
    return session if session.expires_at > now else None


class CitizenAuth(ClientAuth):
    """Bearer citizen token; `request.auth` is the CitizenPrincipal (scope app:citizen)."""

    def __init__(self):
        super().__init__(ApiScope.CITIZEN_APP)

    def authenticate(self, request, token: str):
        session = citizen_session(token)
        if session is None:
            return None
        client = session.client
        principal = CitizenPrincipal(
            client=client, scopes=frozenset(client.scopes), user=None, phone=session.phone, session=session
        )
        rate_limit(client)
        request.ejia_api_principal = principal
        try:
            api_require(principal, self.scope)
        finally:
            audit_call(request, principal, self.scope)
        return principal


def citizen_auth() -> CitizenAuth:
    return CitizenAuth()
