"""Searches for a person's number stay out of URLs, browser history and access logs.

A clerk finds a household or a case by an ID number, and the outbox by a phone number. A GET
form would put that number into the address bar, the browser history of a shared township
PC, the Referer of the next page and every access log on the way. So the search forms post
their text; the view keeps it in the session (sealed with the field key, like every other
stored ID number) under a short random handle and sends the browser to `?s=<handle>`: paging,
reloading and the back button work from the handle, which means nothing outside this session.

Text that cannot name a person (a reference number such as 371602-20260501-0001, a batch
number) may stay in the URL as `?q=…`, so that links to a reference keep working.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from django.http import QueryDict

from ejia.core import crypto, idnumber
from ejia.core.sms import normalise_mobile

SESSION_KEY = "ejia_searches"
PURPOSE = "search.query"
KEEP = 12  # handles per session; an older one says "search again"
HANDLE_RE = re.compile(r"^[A-Za-z0-9_-]{6,32}$")
# Longer digit runs than the 8 of a reference's date part: phone, ID, bank account numbers.
LONG_DIGITS = re.compile(r"\d{9,}")


def names_no_person(text: str) -> bool:
    """True if `text` may ride in a URL: no phone or ID number (typed with spaces or hyphens
    too) and no other run of more than 8 digits."""
    text = text or ""
    if normalise_mobile(text) or idnumber.is_valid(re.sub(r"[\s+-]", "", text)):
        return False
    return not LONG_DIGITS.search(re.sub(r"[\s+]", "", text))


def remember(request, text: str) -> str:
    """The handle under which this session keeps `text` (the same handle for the same text)."""
    kept: dict[str, str] = dict(request.session.get(SESSION_KEY, {}))
    for handle, sealed in kept.items():
        if _open(sealed) == text:
            return handle
    handle = secrets.token_urlsafe(6)
    kept[handle] = crypto.encrypt(text, purpose=PURPOSE)
    # Dicts keep insertion order: the oldest handles go first.
    request.session[SESSION_KEY] = dict(list(kept.items())[-KEEP:])
    return handle


def recall(request, handle: str) -> str | None:
    """The text kept under `handle` in this session, or None (another session's, or expired)."""
    if not HANDLE_RE.match(handle or ""):
        return None
    return _open(request.session.get(SESSION_KEY, {}).get(handle))


def _open(sealed: str | None) -> str | None:
    if not sealed:
        return None
    try:
        return crypto.decrypt(sealed, purpose=PURPOSE)
    except crypto.DecryptionError:
        return None  # sealed under a key that is gone: search again


@dataclass
class Search:
    """What a search page was asked for, and how its links carry it."""

    query: str = ""
    # The URL parameters that carry the query: {"q": text}, {"s": handle} or {}.
    carried: dict[str, str] = field(default_factory=dict)
    # The page was opened with a handle this session no longer knows.
    expired: bool = False

    def params(self, **extra: str) -> str:
        """The query string for a link that keeps this search (paging, tabs), without "?"."""
        qd = QueryDict(mutable=True)
        qd.update(self.carried)
        for key, value in extra.items():
            if value not in ("", None):
                qd[key] = str(value)
        return qd.urlencode()

    def url(self, path: str, **extra: str) -> str:
        params = self.params(**extra)
        return f"{path}?{params}" if params else path


def search_post(request, text: str) -> Search:
    """A posted search: text that names no person rides in `q`, anything else in a handle."""
    text = (text or "").strip()
    if not text:
        return Search()
    if names_no_person(text):
        return Search(query=text, carried={"q": text})
    return Search(query=text, carried={"s": remember(request, text)})


def search_get(request) -> tuple[Search, bool]:
    """The search a GET asks for, and whether the URL should change: a `q` that may name a
    person (an old bookmark, a typed address) moves into a handle at once."""
    handle = request.GET.get("s", "")
    if handle:
        text = recall(request, handle)
        if text is None:
            return Search(expired=True), False
        return Search(query=text, carried={"s": handle}), False
    text = request.GET.get("q", "").strip()
    if not text:
        return Search(), False
    if names_no_person(text):
        return Search(query=text, carried={"q": text}), False
    return search_post(request, text), True


def search_asked(request) -> tuple[Search, bool]:
    """The search a request asks for (its form field is `q`), and whether the browser should
    be sent on to the search's URL: after a post, or a GET whose `q` may name a person."""
    if request.method == "POST":
        return search_post(request, request.POST.get("q", "")), True
    return search_get(request)
