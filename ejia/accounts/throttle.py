"""Failed-login throttling, kept in the database so that every app process sees it."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from ejia.accounts.models import LoginFailure


def client_ip(request) -> str | None:
    # Behind the production proxy REMOTE_ADDR is the proxy; gunicorn is configured with
    # forwarded_allow_ips so that Django sees the client address there.
    return request.META.get("REMOTE_ADDR") or None


def _window_start() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def is_locked(username: str, ip: str | None) -> bool:
    since = _window_start()
    limit = settings.LOGIN_FAILURE_LIMIT
    recent = LoginFailure.objects.filter(at__gte=since)
    if recent.filter(username__iexact=username).count() >= limit:
        return True
    # An address gets more room than one name: a shared township office has one address.
    return bool(ip) and recent.filter(ip_address=ip).count() >= limit * 4


def record_failure(username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username[:150], ip_address=ip)


def clear_failures(username: str) -> None:
    LoginFailure.objects.filter(Q(username__iexact=username) | Q(at__lt=_window_start())).delete()
