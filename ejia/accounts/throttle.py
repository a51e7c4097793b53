"""Failed-login throttling, kept in the database so that every app process sees it.

Two limits, of different strength:

- per account: LOGIN_FAILURE_LIMIT failures for one username in the window lock that name,
  even with the right password, until the window has passed (or an administrator helps);
- per address: past LOGIN_FAILURE_LIMIT × 4 failures from one client address in the window,
  that address waits LOGIN_ADDRESS_PAUSE_SECONDS after each failure before its next try. It
  slows a guesser; it never locks anyone out, because a township office, or every client when
  the proxy is not configured, shares one address.

Behind the reverse proxy REMOTE_ADDR is the proxy: `client_ip` takes the client from
X-Forwarded-For, but only when the peer is a configured trusted proxy (EJIA_TRUSTED_PROXIES),
and then the right-most address that is not itself a trusted proxy (the left part of the
header is whatever the client chose to send).
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress

from django.conf import settings
from django.db.models import Count, Max, Q
from django.utils import timezone

from ejia.accounts.models import LoginFailure

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@functools.cache
def _networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket: count it as the IPv4 address it is.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: Address) -> bool:
    return any(address in network for network in _networks(tuple(settings.EJIA_TRUSTED_PROXIES)))


def client_ip(request) -> str | None:
    """The client's address: REMOTE_ADDR, or behind a trusted proxy the right-most address in
    X-Forwarded-For that is not a trusted proxy."""
    peer = _address(request.META.get("REMOTE_ADDR") or "")
    if peer is None:
        return None
    if not _trusted(peer):
        return str(peer)
    hops = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    nearest = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            # Not written by a proxy of ours: what lies beyond cannot be believed.
            break
        if not _trusted(address):
            return str(address)
        nearest = address
    return str(nearest)


def _window_start() -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def is_locked(username: str) -> bool:
    """Whether this name (a staff username, or a tracker key) has used up its failures."""
    recent = LoginFailure.objects.filter(at__gte=_window_start(), username__iexact=username)
    return recent.count() >= settings.LOGIN_FAILURE_LIMIT


def address_wait(ip: str | None) -> int:
    """Seconds this address must still wait before its next try (0: go ahead)."""
    if not ip:
        return 0
    found = LoginFailure.objects.filter(at__gte=_window_start(), ip_address=ip).aggregate(n=Count("pk"), last=Max("at"))
    if found["n"] < settings.LOGIN_FAILURE_LIMIT * 4:
        return 0
    ready = found["last"] + dt.timedelta(seconds=settings.LOGIN_ADDRESS_PAUSE_SECONDS)
    left = (ready - timezone.now()).total_seconds()
    return max(0, int(left + 0.999))


def record_failure(username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username[:150], ip_address=ip)


def clear_failures(username: str) -> None:
    LoginFailure.objects.filter(Q(username__iexact=username) | Q(at__lt=_window_start())).delete()
