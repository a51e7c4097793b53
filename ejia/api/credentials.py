"""Who a credential is, remembered for a few seconds in this process.

Every API call used to look its credential up again: a citizen token's session and app
client, or a client token's client, service account, unit and division (one query of three
joins, 1.5–2 ms of the ~10 ms of CPU an app call cost; issue #20). Here the answer of that
lookup is kept per process for `EJIA_API_AUTH_CACHE_SECONDS` (default 5; 0 turns it off):

- a change made in this process forgets everything at once: a client saved or disabled, a
  citizen's logout, a staff account or a role saved or deleted (signals, ejia.api.apps, and
  the explicit `forget()` of the services that write with UPDATE);
- a change made in another process (another gunicorn worker) reaches this one within
  `EJIA_API_AUTH_CACHE_SECONDS`: a disabled client, a revoked citizen token, a deactivated
  service account stop working there at most that long after the change;
- what the credential itself says is checked on every call: a JWT's signature, audience
  and expiry; a citizen token's expiry; the scopes a JWT names (intersected with the
  client's on every call).

Unknown or refused credentials are not remembered (a flood of bad tokens cannot fill it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction

MAX_ENTRIES = 10_000


class CredentialMemo:
    """key → value for at most `EJIA_API_AUTH_CACHE_SECONDS` by `clock` (monotonic seconds)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._entries: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry[0]:
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            return None
        return entry[1]

    def put(self, key: Any, value: Any) -> None:
        seconds = settings.EJIA_API_AUTH_CACHE_SECONDS
        if seconds <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (self.clock() + seconds, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


# Client tokens: client_id → the ApiClient (service account, unit and division loaded).
CLIENTS = CredentialMemo()
# Citizen tokens: SHA-256 of the token → the AppSession (its client loaded).
CITIZEN_SESSIONS = CredentialMemo()


def _clear() -> None:
    CLIENTS.clear()
    CITIZEN_SESSIONS.clear()


def forget(*_args, **_kwargs) -> None:
    """Forget every remembered credential of this process (a signal receiver, too): now, and
    again when the current transaction commits, since a call served meanwhile by another
    thread may have remembered what it read before the change was committed."""
    _clear()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_clear)
