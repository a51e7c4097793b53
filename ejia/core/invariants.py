"""Invariants: facts that must hold across the whole database, whatever happened to it.

Each app declares its own in `<app>/invariants.py` with `@invariant(name, description)`; a check
returns the problems it found (Chinese, at most `limit` of them) and an empty list when the
invariant holds. `manage.py ejia_check_invariants` runs them all (after a restore, nightly, or
before a release) and exits non-zero when one fails. Checks are set-based SQL, never a loop over
rows, so the whole set runs in seconds on a city's data.

Core's own invariant is the audit hash chain.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.utils.module_loading import autodiscover_modules

Check = Callable[[int], list[str]]


@dataclass(frozen=True)
class Invariant:
    name: str
    description: str  # Chinese, one line
    check: Check


@dataclass
class InvariantResult:
    invariant: Invariant
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.error


_REGISTRY: dict[str, Invariant] = {}


def invariant(name: str, description: str) -> Callable[[Check], Check]:
    def register(check: Check) -> Check:
        _REGISTRY[name] = Invariant(name, description, check)
        return check

    return register


def registered() -> list[Invariant]:
    autodiscover_modules("invariants")
    return sorted(_REGISTRY.values(), key=lambda i: i.name)


def run_invariants(*, names: list[str] | None = None, limit: int = 20) -> list[InvariantResult]:
    """Run the named invariants (all by default). An invariant whose check raises is reported as
    failed with the error, and the others still run."""
    known = {i.name: i for i in registered()}
    unknown = [n for n in names or [] if n not in known]
    if unknown:
        raise KeyError(", ".join(unknown))
    results = []
    for inv in [known[n] for n in names] if names else known.values():
        start = time.perf_counter()
        result = InvariantResult(inv)
        try:
            result.problems = inv.check(limit)[:limit]
        except Exception as exc:  # a broken table is a failed invariant, not a crashed run
            result.error = f"{type(exc).__name__}: {exc}"[:500]
        result.seconds = time.perf_counter() - start
        results.append(result)
    return results


@invariant("audit_chain", "审计日志哈希链完整（无删除、插入、篡改或截断）")
def audit_chain_intact(limit: int) -> list[str]:
    from ejia.core.audit import audit_verify

    result = audit_verify()
    return [] if result.ok else [str(result)]
