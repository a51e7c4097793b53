"""Load the organisation: divisions (real tree + generated villages), departments, units."""

from __future__ import annotations

from ejia.accounts.services import departments_ensure, divisions_upsert, orgunits_ensure
from ejia.core.workdays import calendar_seed
from ejia.demo.villages import all_divisions


def organisation_ensure() -> dict[str, int]:
    return {
        "divisions": divisions_upsert(all_divisions()),
        "departments": departments_ensure(),
        "units": orgunits_ensure(),
        "calendar_days": calendar_seed(),
    }
