"""A small synthetic city loaded end to end for verification tests: registry persons and
households, and every department's export imported as the committed snapshot of its source.

The city's villages are folded onto the few villages the test organisation has, so the
registry holds every generated household; department data is the generator's own, so what
verification finds must equal the facts the registry was loaded with.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from ejia.accounts.models import Division


def small_city_loaded(directory: Path, *, persons: int = 400, seed: int = 11) -> Path:
    """Generate, load and import; returns the departments directory. Needs the `org` and
    `sources` fixtures (divisions and data sources)."""
    from ejia.demo.city import generate_city
    from ejia.demo.registry_load import registry_load_city
    from ejia.verification.models import DataSource
    from ejia.verification.services import snapshot_import

    generate_city(persons, seed, directory, xlsx=False)
    villages = list(
        Division.objects.filter(level=Division.Level.VILLAGE, code__startswith="371602").order_by("code")[:3]
    )
    assert villages, "the test organisation has no village in 371602"
    frame = pl.read_parquet(directory / "households.parquet")
    codes = [villages[i % len(villages)].code for i in range(frame.height)]
    urban = [bool(villages[i % len(villages)].urban) for i in range(frame.height)]
    frame = frame.with_columns(pl.Series("village_code", codes), pl.Series("urban", urban))
    if "region_code" in frame.columns:
        frame = frame.with_columns(pl.lit("371602").alias("region_code"))
    frame.write_parquet(directory / "households.parquet")
    registry_load_city(directory=directory, today=dt.date(2026, 6, 15))
    departments = directory / "departments"
    manifest = json.loads((departments / "manifest.json").read_text("utf-8"))
    for entry in manifest["files"]:
        source = DataSource.objects.get(code=entry["source"])
        snapshot_import(actor=None, source=source, path=departments / entry["file"])
    return departments
