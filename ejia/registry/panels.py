"""Panels other apps add to the household's 360° page.

The registry sits below the apps that pay or serve a household (disbursement …), so it cannot
ask them directly; each registers a provider in its AppConfig.ready(), like the home page's
work items (accounts/work.py). A provider takes the user and the household and returns the
panel's HTML already scoped to that user, or "" when it has nothing to show them.
"""

from __future__ import annotations

from collections.abc import Callable

Provider = Callable[[object, object], str]
_PROVIDERS: list[Provider] = []


def register(provider: Provider) -> Provider:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)
    return provider


def household_panels(*, user, household) -> list[str]:
    return [html for html in (provider(user, household) for provider in _PROVIDERS) if html]
