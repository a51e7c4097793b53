"""Every URL pattern of the project with the view behind it (for the policy tests)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver

# Django's own admin is not a staff page of the platform: it is reachable only by superusers
# (no role grants it) and is switched off in production by the hardening issue.
# The open API (namespace "api") is not a page either: each of its operations declares an API
# scope in its auth, which the policy maps (policies.API_SCOPES); ejia/api/tests walks those.
EXEMPT_NAMESPACES = {"admin", "api"}


@dataclass(frozen=True)
class Route:
    name: str  # "namespace:name"
    pattern: str  # "staff/cases/<uuid:public_id>/"
    view: object

    @property
    def capability(self):
        return getattr(self.view, "ejia_capability", None)

    @property
    def post_capability(self):
        return getattr(self.view, "ejia_post_capability", None)


def routes() -> list[Route]:
    found: list[Route] = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                ns = p.namespace or namespace
                if ns in EXEMPT_NAMESPACES:
                    continue
                walk(p.url_patterns, prefix + str(p.pattern), ns)
            elif isinstance(p, URLPattern):
                name = f"{namespace}:{p.name}" if namespace else (p.name or "")
                found.append(Route(name=name, pattern=prefix + str(p.pattern), view=p.callback))

    walk(get_resolver().url_patterns, "", "")
    return found
