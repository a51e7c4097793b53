"""The synthetic city's department exports load through the exchange without a refused row:
the declared schemas match the data engineer's layouts column for column."""

from __future__ import annotations

import json

import pytest

from ejia.verification.models import DataSource
from ejia.verification.services import snapshot_import


@pytest.fixture(scope="module")
def city_dir(tmp_path_factory):
    from ejia.demo.city import generate_city

    out = tmp_path_factory.mktemp("city")
    generate_city(400, 11, out, xlsx=True)
    return out / "departments"


@pytest.mark.slow
def test_every_department_file_of_the_city_is_accepted_whole(sources, city_dir):
    manifest = json.loads((city_dir / "manifest.json").read_text("utf-8"))
    assert {e["source"] for e in manifest["files"]} <= set(DataSource.objects.values_list("code", flat=True))
    for entry in manifest["files"]:
        source = DataSource.objects.get(code=entry["source"])
        for name in (entry["file"], entry.get("xlsx")):
            if not name:
                continue
            snapshot = snapshot_import(actor=None, source=source, path=city_dir / name)
            first = snapshot.rejected_rows.first()
            assert snapshot.rows_rejected == 0, (name, first and first.reasons)
            assert snapshot.rows_accepted == entry["rows"], name
            assert not snapshot.ignored_columns, (name, snapshot.ignored_columns)
