"""Where people live: the villages of the division tree and how many persons each gets."""

from __future__ import annotations

import os

import numpy as np
import polars as pl

FULL_POPULATION = 3_928_568  # 2020 census
DEMO_POPULATION = 20_000
# County shares (persons, thousands; rough census-era figures).
COUNTY_PERSONS = {
    "371602": 680,
    "371603": 360,
    "371621": 570,
    "371622": 440,
    "371623": 450,
    "371625": 500,
    "371681": 790,
}
# Demo: the townships where the demo staff work plus two in 沾化区 (villages taken in code order).
DEMO_TOWNSHIPS = {
    "371602001": None,  # 市中街道: all communities and villages
    "371602105": 20,  # 三河湖镇: first 20 villages
    "371603001": None,  # 沾化 富国街道
    "371603101": 12,  # 沾化 下洼镇
}
OLD_CODES = {"371603": ("371624", 2014), "371681": ("371626", 2018)}


def _divisions():
    from django.apps import apps

    if not apps.ready:
        import django

        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        django.setup()
    from ejia.demo.villages import all_divisions

    return all_divisions()


def villages_frame() -> pl.DataFrame:
    """One row per village/community with its township and county."""
    rows = _divisions()
    by_code = {r.code: r for r in rows}
    out = []
    for r in rows:
        if r.level != "village":
            continue
        town = by_code[r.parent_code]
        county = by_code[town.parent_code]
        out.append(
            (
                r.code,
                r.name,
                r.kind,
                town.code,
                town.name,
                town.kind,
                county.code,
                county.name,
            )
        )
    cols = [
        "village_code",
        "village_name",
        "village_kind",
        "township_code",
        "township_name",
        "township_kind",
        "region_code",
        "county_name",
    ]
    df = pl.DataFrame(out, schema=cols, orient="row").sort("village_code")
    return df.with_columns(urban=pl.col("township_kind") == "street")


def resolve_scale(scale: str | int) -> tuple[str, int]:
    if isinstance(scale, int) or str(scale).isdigit():
        n = int(scale)
        if n < 50:
            raise ValueError("scale: at least 50 persons")
        return "custom", n
    if scale == "demo":
        return "demo", DEMO_POPULATION
    if scale == "full":
        return "full", FULL_POPULATION
    raise ValueError(f"scale must be demo, full or an integer, not {scale!r}")


def allocate(villages: pl.DataFrame, kind: str, n_persons: int, rng: np.random.Generator) -> pl.DataFrame:
    """Target persons per village (float weights → expected counts)."""
    v = villages
    if kind == "demo":
        keep = []
        for town, limit in DEMO_TOWNSHIPS.items():
            sub = v.filter(pl.col("township_code") == town).sort("village_code")
            if limit is not None:
                sub = sub.filter(pl.col("village_kind") == "community").vstack(
                    sub.filter(pl.col("village_kind") == "village").head(limit)
                )
            keep.append(sub)
        v = pl.concat(keep).sort("village_code")
        community_w = 2.0
    else:
        community_w = 4.0
    n = v.height
    is_comm = (v["village_kind"] == "community").to_numpy()
    special = (v["township_kind"] == "special").to_numpy()
    w = np.where(is_comm, community_w, 1.0) * rng.lognormal(0.0, 0.35, n)
    w = np.where(special, 0.3 * w, w)
    if kind == "demo":
        share = w / w.sum()
    else:
        county = v["region_code"].to_numpy()
        share = np.zeros(n)
        total = sum(COUNTY_PERSONS.values())
        for code, persons in COUNTY_PERSONS.items():
            m = county == code
            share[m] = w[m] / w[m].sum() * persons / total
    return v.with_columns(target_persons=pl.Series(share * n_persons))
