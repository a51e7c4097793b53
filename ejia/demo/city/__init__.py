"""The synthetic city: a deterministic Binzhou of persons, households and department data.

`generate_city(scale, seed, out_dir)` writes `persons`, `households`, `members` and `villages`
as Parquet plus the department exports (CSV; XLSX at small scale) under `out_dir/departments/`
with a `manifest.json`, and returns a summary (counts, hardship shares, timings). It needs Django
settings only to read the division tree, never a database. Data are "as of" 2026-01-01 (REF_DATE):
ages are whole years on that day, deaths and medical visits fall in 2025.

Tables (fact columns carry the names and enum codes of ejia.rules.facts):
- persons: person_id, id_number, name, sex, birth_date, phone (null under 14), ethnicity
- households: household_id, household_no (户号), village_code, township_code, region_code, urban,
  address, head_person_id, household facts (financial_assets_fen … rural_family_planning_reward),
  bank_account (19-digit card, Luhn), bank_name
- members: household_id, member_index (0 = head), person_id, relation (GB/T 4761), birth_date, sex,
  member facts (income_month_fen … medical_oop_year_member_fen); row i is persons row i
- villages: village_code, names, township/county, urban, households, persons

Calibration: economy.py designates the 特困 persons and the 低保 households; see its docstring
for the property limits assumed by "within limits".
"""

from __future__ import annotations

import time
import zlib
from pathlib import Path

import numpy as np
import polars as pl

from . import departments, economy, geo, people
from .economy import ASSET_MONTHS, DIBAO, TEKUN

__all__ = ["REF_DATE", "generate_city", "measure"]
REF_DATE = people.REF_DATE


def _rng(seed: int, stage: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(stage.encode())])


def _default_out(kind: str, n: int) -> Path:
    from django.conf import settings

    return Path(settings.VAR_DIR) / "city" / (kind if kind != "custom" else str(n))


def build_city(scale: str | int = "demo", seed: int = 42) -> dict:
    """All tables in memory: {'persons', 'households', 'members', 'villages', 'detail', ...}."""
    kind, n_target = geo.resolve_scale(scale)
    timings = {}
    t = time.perf_counter()
    villages = geo.allocate(geo.villages_frame(), kind, n_target, _rng(seed, "villages"))
    timings["villages"] = time.perf_counter() - t
    t = time.perf_counter()
    hh, mem = people.build_households(villages, n_target, _rng(seed, "households"))
    persons = people.persons_frame(_rng(seed, "persons"), seed, mem, hh, villages)
    timings["people"] = time.perf_counter() - t
    t = time.perf_counter()
    mfacts, mdetail, hfacts, hdetail = economy.economics(_rng(seed, "economy"), hh, mem, villages.height)
    timings["economy"] = time.perf_counter() - t
    t = time.perf_counter()

    H = hh.height
    vidx = hh["vidx"].to_numpy()
    hidx = mem["hidx"].to_numpy()
    rng = _rng(seed, "addresses")
    v = villages.select(
        "village_code", "village_name", "township_code", "township_name", "region_code", "county_name", "urban"
    )
    hv = v[vidx]
    rel = mem["rel"].to_numpy()
    member_index = np.arange(len(hidx)) - np.repeat(np.cumsum(np.bincount(hidx, minlength=H)) - np.bincount(hidx, minlength=H), np.bincount(hidx, minlength=H))  # fmt: skip
    head_pid = np.zeros(H, np.int64)
    head_pid[hidx[rel == people.HEAD]] = np.flatnonzero(rel == people.HEAD) + 1
    road = pl.Series(people.nm.ROADS).gather(rng.integers(0, len(people.nm.ROADS), H))
    num = pl.Series(rng.integers(1, 400, H))
    bld = pl.Series(rng.integers(1, 30, H))
    unit = pl.Series(rng.integers(1, 5, H))
    room = pl.Series(rng.integers(1, 7, H) * 100 + rng.integers(1, 4, H))
    base = pl.lit("山东省滨州市") + hv["county_name"] + hv["township_name"] + hv["village_name"]
    addr = (
        pl.DataFrame(
            {
                "u": hv["urban"],
                "cn": hv["county_name"],
                "tn": hv["township_name"],
                "vn": hv["village_name"],
                "road": road,
                "num": num,
                "bld": bld,
                "unit": unit,
                "room": room,
            }
        )
        .select(
            pl.when(pl.col("u"))
            .then(
                pl.concat_str(
                    [
                        pl.lit("山东省滨州市"),
                        "cn",
                        "tn",
                        "vn",
                        "road",
                        "num",
                        pl.lit("号"),
                        "bld",
                        pl.lit("号楼"),
                        "unit",
                        pl.lit("单元"),
                        "room",
                        pl.lit("室"),
                    ]
                )
            )
            .otherwise(pl.concat_str([pl.lit("山东省滨州市"), "cn", "tn", "vn", "num", pl.lit("号")]))
        )
        .to_series()
    )
    del base
    bank_i = rng.choice(len(people.nm.BANKS), H, p=np.array([b[2] for b in people.nm.BANKS]) / sum(b[2] for b in people.nm.BANKS))  # fmt: skip
    bins = np.array([int(b[1]) for b in people.nm.BANKS])[bank_i]
    body = bins * 10**12 + (np.arange(H, dtype=np.int64) * 982_451_653 + seed * 104_729 + 1) % 10**12
    card = pl.Series(_luhn(body)).cast(pl.String)
    households = pl.DataFrame(
        {
            "household_id": np.arange(1, H + 1, dtype=np.int64),
            "household_no": (
                hv["region_code"].str.slice(2, 4) + pl.Series(np.arange(1, H + 1)).cast(pl.String).str.zfill(9)
            ),
            "village_code": hv["village_code"],
            "township_code": hv["township_code"],
            "region_code": hv["region_code"],
            "urban": hv["urban"],
            "address": addr,
            "head_person_id": head_pid,
            **hfacts,
            "bank_account": card,
            "bank_name": pl.Series([b[0] for b in people.nm.BANKS]).gather(bank_i),
        }
    )
    members = pl.DataFrame(
        {
            "household_id": hidx + 1,
            "member_index": member_index.astype(np.int16),
            "person_id": np.arange(1, len(hidx) + 1, dtype=np.int64),
            "relation": people.lab(people.REL_CODES, rel),
            "birth_date": persons["birth_date"],
            "sex": persons["sex"],
            **mfacts,
        }
    )
    counts = np.bincount(vidx, minlength=villages.height)
    pcount = np.bincount(vidx[hidx], minlength=villages.height)
    villages_out = villages.select(
        "village_code",
        "village_name",
        "village_kind",
        "township_code",
        "township_name",
        "region_code",
        "county_name",
        "urban",
    ).with_columns(households=pl.Series(counts), persons=pl.Series(pcount))
    timings["assemble"] = time.perf_counter() - t
    return dict(
        kind=kind,
        persons=persons,
        households=households,
        members=members,
        villages=villages_out,
        detail=pl.DataFrame(mdetail),
        hdetail=pl.DataFrame(hdetail),
        timings=timings,
    )


def _luhn(body: np.ndarray) -> np.ndarray:
    """Append the Luhn check digit to 18-digit integers."""
    total = np.zeros(len(body), np.int64)
    rest = body.copy()
    for pos in range(18):
        d = rest % 10
        rest //= 10
        if pos % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    return body * 10 + (10 - total % 10) % 10


def measure(households: pl.DataFrame, members: pl.DataFrame) -> dict:
    """Hardship and other shares, computed from the tables alone."""
    hh = households.select(
        "household_id", "urban", "financial_assets_fen", "vehicles", "housing_units", "has_business"
    ).join(
        members.group_by("household_id").agg(
            size=pl.len(), income=pl.col("income_month_fen").sum(), dead=pl.col("deceased").any()
        ),
        on="household_id",
    )
    line = pl.when(pl.col("urban")).then(DIBAO[True]).otherwise(DIBAO[False])
    hh = hh.with_columns(
        pc=pl.col("income") / pl.col("size"),
        line=line,
        assets_ok=(pl.col("financial_assets_fen") <= ASSET_MONTHS * line * pl.col("size"))
        & (pl.col("vehicles") == 0)
        & (pl.col("housing_units") <= 1)
        & ~pl.col("has_business"),
    )
    m = members.join(hh.select("household_id", "urban", "assets_ok"), on="household_id")
    age = (people.REF_DATE.year - pl.col("birth_date").dt.year()) - (pl.col("birth_date").dt.ordinal_day() > 1).cast(
        pl.Int32
    )
    tline = pl.when(pl.col("urban")).then(TEKUN[True]).otherwise(TEKUN[False])
    severe = pl.col("disability_grade").is_between(1, 2) | (
        (pl.col("disability_grade") == 3) & pl.col("disability_kind").is_in(["intellectual", "mental"])
    )
    m = m.with_columns(age=age).with_columns(
        tekun_fit=((pl.col("age") >= 60) | (pl.col("age") < 16) | severe)
        & ~pl.col("has_capable_supporter")
        & (pl.col("income_month_fen") < tline)
        & pl.col("assets_ok")
        & ~pl.col("deceased")
    )
    H, N = hh.height, m.height
    below = hh.filter(pl.col("pc") < pl.col("line"))
    working = m.filter(pl.col("age").is_between(16, 59))
    return {
        "households": H,
        "persons": N,
        "mean_household_size": round(N / max(H, 1), 3),
        "urban_household_share": hh["urban"].mean(),
        "below_dibao_line": below.height / H,
        "below_dibao_line_assets_ok": below.filter(pl.col("assets_ok")).height / H,
        "dibao_edge_band": hh.filter(
            (pl.col("pc") >= pl.col("line")) & (pl.col("pc") < 1.5 * pl.col("line")) & pl.col("assets_ok")
        ).height
        / H,
        "tekun_fitting_persons": m["tekun_fit"].sum() / N,
        "disability_persons": (m["disability_grade"] > 0).sum() / N,
        "serious_illness_persons": m["serious_illness"].sum() / N,
        "deceased_persons": m["deceased"].sum() / N,
        "unemployed_registered_working_age": (working["employment"] == "unemployed_registered").sum()
        / max(working.height, 1),
        "disaster_households": (households["disaster_loss_fen"] > 0).sum() / H,
        "on_dibao_households": households["on_dibao"].sum() / H,
        "on_tekun_households": households["on_tekun"].sum() / H,
    }


def generate_city(
    scale: str | int = "demo",
    seed: int = 42,
    out_dir: str | Path | None = None,
    *,
    xlsx: bool | None = None,
    csv: bool = True,
    log=None,
) -> dict:
    """Generate and write the city; returns a summary dict (counts, shares, timings, files)."""
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    city = build_city(scale, seed)
    kind = city["kind"]
    n = city["persons"].height
    out = Path(out_dir) if out_dir else _default_out(kind, n)
    out.mkdir(parents=True, exist_ok=True)
    timings = city["timings"]
    t = time.perf_counter()
    for name in ("persons", "households", "members", "villages"):
        city[name].write_parquet(out / f"{name}.parquet", compression="lz4", statistics=True)
    timings["parquet"] = time.perf_counter() - t
    tables = departments.build(city, _rng(seed, "departments"), seed)
    if xlsx is None:
        xlsx = kind == "demo" or n <= 100_000
    manifest = departments.write(tables, out / "departments", csv=csv, xlsx=xlsx, timings=timings)
    t = time.perf_counter()
    shares = measure(city["households"], city["members"])
    timings["measure"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    summary = {
        "scale": kind,
        "seed": seed,
        "out_dir": str(out),
        "persons": n,
        "households": city["households"].height,
        "villages_with_households": int((city["villages"]["households"] > 0).sum()),
        "shares": shares,
        "departments": {e["source"]: e["rows"] for e in manifest["files"]},
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "cpu_seconds": round(time.process_time() - cpu0, 1),
    }
    if log:
        log(summary)
    return summary
