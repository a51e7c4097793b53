"""Registering API clients and rotating their secrets (writes: one transaction, audited).

Secrets are 256-bit random strings shown once; only their SHA-256 is stored (a random secret
of that length needs no slow password hash). A rotation adds a new secret and lets the old ones
expire after a grace period, so a client can switch without downtime: two secrets are valid
during the rotation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets as pysecrets
from collections.abc import Iterable

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ejia.accounts.models import OrgUnit, Role, StaffRole, User
from ejia.accounts.policies import API_KIND_SCOPES, API_SCOPE_ROLES, API_SCOPES
from ejia.accounts.role_rules import role_problems
from ejia.api.models import ApiClient, ApiClientSecret
from ejia.core.audit import audit_record

SECRET_PREFIX = "ejs_"  # noqa: S105 (a label, not a secret)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_secret(client: ApiClient, *, expires_at: dt.datetime | None = None) -> str:
    secret = SECRET_PREFIX + pysecrets.token_urlsafe(32)
    ApiClientSecret.objects.create(client=client, secret_hash=secret_hash(secret), expires_at=expires_at)
    return secret


def scope_problems(kind: str, scopes: Iterable[str], unit: OrgUnit | None) -> list[str]:
    problems = []
    allowed = API_KIND_SCOPES.get(kind, frozenset())
    for scope in scopes:
        if scope not in API_SCOPES:
            problems.append(f"没有“{scope}”这一授权范围。")
        elif scope not in allowed:
            problems.append(f"“{ApiClient.Kind(kind).label}”类接入系统不能获得“{scope}”授权。")
    roles = {API_SCOPE_ROLES[s] for s in scopes if s in API_SCOPE_ROLES}
    if roles and unit is None:
        problems.append("部门业务系统须指定所属单位（其部门）。")
    elif roles:
        problems.extend(role_problems(unit=unit, roles=roles))
    return problems


def client_create(
    *,
    actor: User | None,
    name: str,
    kind: str,
    client_id: str,
    scopes: Iterable[str],
    unit: OrgUnit | None = None,
    rate_limit_per_minute: int = 600,
    agreement_fields: Iterable[str] = (),
    agreement_mask_ids: bool = True,
    agreement_ref: str = "",
    sources: Iterable[str] = (),
) -> tuple[ApiClient, str]:
    """A new client and its first secret (returned once, never stored in clear). A client
    whose scopes need a staff role gets a service account at its unit holding those roles."""
    scopes = sorted(set(scopes))
    if kind not in ApiClient.Kind.values:
        raise ValidationError({"kind": "接入系统类型不正确。"})
    problems = scope_problems(kind, scopes, unit)
    if problems:
        raise ValidationError({"scopes": problems})
    sources = sorted(set(sources))
    if sources and "exchange:push" not in scopes:
        raise ValidationError({"sources": "只有获得“推送部门数据”授权的接入系统才能指定数据源。"})
    if sources:
        from ejia.verification.models import DataSource

        missing = sorted(set(sources) - set(DataSource.objects.filter(code__in=sources).values_list("code", flat=True)))
        if missing:
            raise ValidationError({"sources": f"没有这些数据源：{'、'.join(missing)}。"})
    if ApiClient.objects.filter(client_id=client_id).exists():
        raise ValidationError({"client_id": "该客户端标识已被使用。"})
    with transaction.atomic():
        client = ApiClient(
            name=name,
            kind=kind,
            client_id=client_id,
            scopes=scopes,
            unit=unit,
            rate_limit_per_minute=rate_limit_per_minute,
            agreement_fields=list(agreement_fields),
            agreement_mask_ids=agreement_mask_ids,
            agreement_ref=agreement_ref,
            sources=sorted(set(sources)),
        )
        client.full_clean(exclude=["service_user"])
        roles = sorted({API_SCOPE_ROLES[s] for s in scopes if s in API_SCOPE_ROLES})
        if roles:
            # The service account: no password (nobody signs in with it), the client's unit,
            # the roles its scopes need. Its actions are audited under its name "api:<id>".
            user = User.objects.create(
                username=f"api:{client_id}",
                display_name=f"接入系统：{name}",
                unit=unit,
                password=make_password(None),
                is_staff=False,
            )
            StaffRole.objects.bulk_create([StaffRole(user=user, role=Role(r)) for r in roles])
            client.service_user = user
        client.save()
        secret = _new_secret(client)
        audit_record(
            actor=actor,
            action="api.client.create",
            obj=client,
            data={"client_id": client_id, "kind": kind, "scopes": scopes, "unit": unit.name if unit else ""},
        )
    return client, secret


def _locked(client_id: str) -> ApiClient:
    client = ApiClient.objects.select_for_update().filter(client_id=client_id).first()
    if client is None:
        raise ValidationError({"client_id": f"没有客户端“{client_id}”。"})
    return client


def client_rotate(*, actor: User | None, client_id: str, grace_hours: int = 24) -> str:
    """A new secret; the client's current secrets stay valid for `grace_hours` more."""
    with transaction.atomic():
        client = _locked(client_id)
        until = timezone.now() + dt.timedelta(hours=grace_hours)
        client.secrets.filter(expires_at__isnull=True).update(expires_at=until)
        client.secrets.filter(expires_at__gt=until).update(expires_at=until)
        secret = _new_secret(client)
        audit_record(actor=actor, action="api.client.rotate", obj=client, data={"old_valid_until": until.isoformat()})
    return secret


def client_set_active(*, actor: User | None, client_id: str, active: bool) -> ApiClient:
    """Disable (or re-enable) a client: its tokens stop working at the next call in this
    process, within EJIA_API_AUTH_CACHE_SECONDS in the other workers (ejia.api.credentials)."""
    with transaction.atomic():
        client = _locked(client_id)
        client.is_active = active
        client.save(update_fields=["is_active", "updated_at"])  # forgets remembered credentials (signal)
        if client.service_user_id:
            User.objects.filter(pk=client.service_user_id).update(is_active=active)
        audit_record(actor=actor, action="api.client.enable" if active else "api.client.disable", obj=client)
    return client


def client_authenticate(client_id: str, secret: str) -> ApiClient | None:
    """The active client whose unexpired secret this is, or None."""
    client = ApiClient.objects.filter(client_id=client_id, is_active=True).first()
    if client is None or not secret:
        return None
    wanted = secret_hash(secret)
    now = timezone.now()
    for row in client.secrets.all():
        if (row.expires_at is None or row.expires_at > now) and hmac.compare_digest(row.secret_hash, wanted):
            return client
    return None


def client_set_jwks(*, actor: User | None, client_id: str, jwks: dict) -> ApiClient:
    """Register a partner's public signing keys (a JWKS with a `kid` on every key)."""
    import jwt

    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ValidationError({"jwks": 'JWKS 须为 {"keys": [...]}，至少一把公钥。'})
    for key in keys:
        if not isinstance(key, dict) or not key.get("kid") or "d" in key:
            raise ValidationError({"jwks": "每把公钥须有 kid，且不得含私钥部分。"})
        try:
            jwt.PyJWK(key)
        except jwt.PyJWKError as exc:
            raise ValidationError({"jwks": f"公钥 {key.get('kid')} 无法解析。"}) from exc
    with transaction.atomic():
        client = _locked(client_id)
        client.jwks = {"keys": keys}
        client.save(update_fields=["jwks", "updated_at"])
        audit_record(actor=actor, action="api.client.jwks", obj=client, data={"kids": [k["kid"] for k in keys]})
    return client


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def client_set_callback_uri(*, actor: User | None, client_id: str, uri: str) -> ApiClient:
    """Register where a partner receives DCI callbacks (on-search, txn/on-status, notify).

    HTTPS only (plain HTTP on the loopback interface, for a gateway on the same machine and for
    tests); no credentials, query or fragment: messages name a sender_uri under this address."""
    from urllib.parse import urlsplit

    uri = (uri or "").strip()
    if uri:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        if parts.scheme not in ("https", "http") or not host:
            raise ValidationError({"callback_uri": "回调地址须为 https:// 开头的完整网址。"})
        if parts.scheme == "http" and host not in LOOPBACK_HOSTS:
            raise ValidationError({"callback_uri": "回调地址须使用 https（仅本机地址可用 http）。"})
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValidationError({"callback_uri": "回调地址不得含用户名、密码、查询参数或片段。"})
        if len(uri) > 500:
            raise ValidationError({"callback_uri": "回调地址过长（最多500个字符）。"})
    with transaction.atomic():
        client = _locked(client_id)
        client.callback_uri = uri.rstrip("/")
        client.save(update_fields=["callback_uri", "updated_at"])
        audit_record(
            actor=actor, action="api.client.callback_uri", obj=client, data={"callback_uri": client.callback_uri}
        )
    return client
