"""The fast lane (`-m "not e2e and not slow"`) leaves out exactly what the root conftest says:
every browser test, and the slow tests it names, each of which still exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import SLOW

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("entry", SLOW)
def test_every_slow_entry_names_a_test_that_exists(entry):
    file, _, test = entry.partition("::")
    path = ROOT / file
    assert path.is_file(), entry
    if test:
        assert re.search(rf"^def {re.escape(test)}\(", path.read_text(encoding="utf-8"), re.M), entry


class _Item:
    """What the collection hook reads of a collected test, and the markers it adds."""

    def __init__(self, nodeid: str):
        self.nodeid = nodeid
        self.path = ROOT / nodeid.split("::")[0]
        self.markers: set[str] = set()

    def add_marker(self, marker) -> None:
        self.markers.add(marker.name)


def test_browser_tests_and_the_named_slow_tests_are_marked():
    from conftest import pytest_collection_modifyitems

    items = {
        nodeid: _Item(nodeid)
        for nodeid in (
            "e2e/test_smoke.py::test_the_portal_home_renders_in_chinese",
            "ejia/accounts/tests/test_access_replay.py::test_anything[centre]",
            "ejia/rules/tests/test_parity.py::test_explained_and_bulk_agree_on_duckdb",
            "ejia/rules/tests/test_parity.py::test_each_dialect_parses_back[spark]",
            "ejia/core/tests/test_money.py::test_anything",
        )
    }
    pytest_collection_modifyitems(None, list(items.values()))
    marks = {nodeid: item.markers for nodeid, item in items.items()}
    assert marks == {
        "e2e/test_smoke.py::test_the_portal_home_renders_in_chinese": {"e2e"},
        "ejia/accounts/tests/test_access_replay.py::test_anything[centre]": {"slow"},
        "ejia/rules/tests/test_parity.py::test_explained_and_bulk_agree_on_duckdb": {"slow"},
        "ejia/rules/tests/test_parity.py::test_each_dialect_parses_back[spark]": set(),
        "ejia/core/tests/test_money.py::test_anything": set(),
    }
