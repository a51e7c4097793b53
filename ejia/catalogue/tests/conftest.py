from __future__ import annotations

import datetime as dt

import pytest

from ejia.accounts.models import Role
from ejia.catalogue.seed import catalogue_seed
from ejia.catalogue.selectors import engine_cache_clear

ON = dt.date(2024, 3, 1)


@pytest.fixture
def catalogue(org):
    """The organisation slice plus the whole seed catalogue (69 programmes, 2023 standards)."""
    engine_cache_clear()
    counts = catalogue_seed()
    yield counts
    engine_cache_clear()


@pytest.fixture
def editor(org):
    from conftest import _unit, make_staff

    return make_staff("mei", _unit("371600", "department", "mz"), Role.CATALOGUE_EDITOR, display_name="孙梅")
