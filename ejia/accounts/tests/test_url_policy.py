"""Forgetting the access policy is impossible: every view behind a URL declares what it needs."""

from __future__ import annotations

from ejia.accounts.policies import PUBLIC, SIGNED_IN, Capability
from ejia.accounts.tests.urlwalk import routes


def test_every_view_declares_a_capability_or_is_public():
    undeclared = [f"{r.name} ({r.pattern})" for r in routes() if r.capability is None]
    assert undeclared == [], "views without a declared capability:\n" + "\n".join(undeclared)


def test_staff_pages_are_never_public_and_public_pages_are_outside_staff():
    wrong = []
    for r in routes():
        if (
            r.pattern.startswith("staff/")
            and r.capability == PUBLIC
            and r.name
            not in (
                "accounts:login",
                "accounts:logout",
            )
        ):
            wrong.append(f"public staff page: {r.name}")
        if not r.pattern.startswith("staff/") and r.capability not in (PUBLIC, None):
            wrong.append(f"staff capability outside /staff/: {r.name}")
    assert wrong == []


def test_declared_capabilities_are_known():
    known = {PUBLIC, SIGNED_IN, *Capability}
    assert {r.capability for r in routes()} <= known
    assert {r.post_capability for r in routes()} <= {None, *Capability}
