"""The markup keeps within the Content-Security-Policy, and the header helpers say what they mean.
(The headers on real pages under production settings: tests/test_production_headers.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import RequestFactory

from ejia.core.headers import is_private_request, permissions_policy_header

ROOT = Path(__file__).resolve().parents[3]
TEMPLATES = sorted((ROOT / "ejia").glob("**/templates/**/*.html"))

# What `script-src 'self'` / `style-src 'self'` refuse to run or apply, written in a template.
INLINE = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "<style> element": re.compile(r"<style[\s>]", re.I),
    "event handler attribute": re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
    "htmx inline code (hx-on, js: values)": re.compile(r"\shx-on[:-]|hx-vals\s*=\s*[\"']\s*(js|javascript):", re.I),
}


def test_the_template_scan_sees_every_template():
    assert len(TEMPLATES) > 80
    assert ROOT / "ejia" / "templates" / "base.html" in TEMPLATES


@pytest.mark.parametrize("what", sorted(INLINE))
def test_no_template_carries_inline_script_or_style(what):
    pattern = INLINE[what]
    found = [
        f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, match.start()) + 1}"
        for path in TEMPLATES
        for text in [path.read_text(encoding="utf-8")]
        for match in pattern.finditer(text)
    ]
    assert not found, (
        f"{what} (refused by the CSP; use a class in static/ejia/ejia.css or a data- attribute handled by static/ejia/ejia.js): {found}"
    )


@pytest.mark.parametrize(
    "snippet",
    [
        '<img class="x" style="max-height:80px">',
        "<script>alert(1)</script>",
        '<form onsubmit="return confirm(1)">',
        "<style>.x{}</style>",
        '<a href="javascript:void(0)">',
        '<button hx-on:click="x()">',
    ],
)
def test_the_scan_catches_what_it_looks_for(snippet):
    assert any(pattern.search(snippet) for pattern in INLINE.values())


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="/static/ejia/ejia.js"></script>',
        '<script id="data" type="application/json">{}</script>',
        '<div class="progress-bar" data-width="37">',
        '<select data-autosubmit name="county">',
        '<input name="question" placeholder="online">',
    ],
)
def test_the_scan_leaves_what_the_csp_allows(snippet):
    assert not any(pattern.search(snippet) for pattern in INLINE.values())


def test_the_permissions_policy_is_written_in_the_structured_header_syntax():
    assert permissions_policy_header({"camera": [], "fullscreen": ["self"]}) == "camera=(), fullscreen=(self)"
    header = permissions_policy_header(settings.EJIA_PERMISSIONS_POLICY)
    assert "camera=()" in header and "microphone=()" in header and "geolocation=()" in header


def test_what_counts_as_private(rf: RequestFactory, bob):
    from django.contrib.auth.models import AnonymousUser

    def request(path, user=None, cookie=True):
        req = rf.get(path)
        if cookie:
            req.COOKIES[settings.SESSION_COOKIE_NAME] = "x"
        req.user = user or AnonymousUser()
        return req

    assert is_private_request(request("/staff/login/", cookie=False))  # a staff path, signed in or not
    assert is_private_request(request("/track/mine/"))  # behind the citizens' phone login
    assert is_private_request(request("/apply/sign/"))
    assert not is_private_request(request("/programmes/"))  # the public catalogue
    assert not is_private_request(request("/programmes/", cookie=False))
    assert is_private_request(request("/programmes/", user=bob))  # in a staff member's browser
