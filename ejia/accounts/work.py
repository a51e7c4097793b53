"""What a staff member has to do, and what they start most often, for the home page.

`accounts` sits below the apps that hold the work (cases, workflow …), so it cannot ask them
directly; each of those apps registers a provider in its AppConfig.ready(). A provider takes
the user and returns work items already scoped to that user (through its own selectors).
An action provider returns the big buttons at the top of the home page (a grid worker on a
phone starts an application there, one tap after logging in).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class WorkItem:
    key: str  # stable name for tests and styling
    label: str
    url: str
    count: int


Provider = Callable[[object], list[WorkItem]]
_PROVIDERS: list[Provider] = []


def register(provider: Provider) -> Provider:
    if provider not in _PROVIDERS:
        _PROVIDERS.append(provider)
    return provider


def work_items(user) -> list[WorkItem]:
    items: list[WorkItem] = []
    for provider in _PROVIDERS:
        items.extend(provider(user))
    return items


@dataclass(frozen=True)
class Action:
    key: str  # stable name for tests
    label: str
    url: str
    primary: bool = False


ActionProvider = Callable[[object], list[Action]]
_ACTION_PROVIDERS: list[ActionProvider] = []


def register_actions(provider: ActionProvider) -> ActionProvider:
    if provider not in _ACTION_PROVIDERS:
        _ACTION_PROVIDERS.append(provider)
    return provider


def actions(user) -> list[Action]:
    found: list[Action] = []
    for provider in _ACTION_PROVIDERS:
        found.extend(provider(user))
    return found
