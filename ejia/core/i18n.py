"""The official language of what the platform writes down.

Staff may read their screens in English, but what the platform records or sends is an official
Chinese document: handling records, decision notices and their SMS, notices to households,
receipts and reports printed as PDF, the plan stored with an application. Code that writes
such text runs under `official_language`, so that a label rendered from a translated choice
(e.g. 不予批准) is stored and printed in Chinese whoever is signed in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.utils import translation

P = ParamSpec("P")
R = TypeVar("R")


def official_language(func: Callable[P, R]) -> Callable[P, R]:
    """Run `func` with the platform's language (settings.LANGUAGE_CODE) active."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translation.override(settings.LANGUAGE_CODE):
            return func(*args, **kwargs)

    return wrapper
