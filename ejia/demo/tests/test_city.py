"""The synthetic city: determinism, valid IDs, registry facts, hardship shares, department files."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import polars as pl
import pytest
from django.core.management import call_command

from ejia.core import idnumber
from ejia.demo.city import build_city, generate_city
from ejia.demo.city.geo import resolve_scale
from ejia.demo.villages import all_divisions
from ejia.rules.facts import HOUSEHOLD_FACTS, MEMBER_FACTS

REF_YEAR = 2026
DIBAO = {True: 100_100, False: 78_900}
TEKUN = {True: 132_000, False: 103_500}
ID_COLUMNS = {"公民身份号码", "所有人证件号码", "权利人证件号码", "法定代表人证件号码", "证件号码", "纳税人识别号", "身份证号码", "身份证号"}  # fmt: skip
ASSET_MONTHS = 24  # the limit the generator documents for "within limits"


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    out = tmp_path_factory.mktemp("city") / "demo"
    summary = generate_city("demo", 42, out, xlsx=True)
    tables = {
        name: pl.read_parquet(out / f"{name}.parquet") for name in ("persons", "households", "members", "villages")
    }
    return {"out": out, "summary": summary, **tables}


def _hashes(out: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((out / f"{name}.parquet").read_bytes()).hexdigest()
        for name in ("persons", "households", "members")
    }


def test_scale_and_counts(city):
    s = city["summary"]
    assert 19_000 <= s["persons"] <= 20_000
    assert city["persons"].height == city["members"].height == s["persons"]
    assert 2.4 <= s["persons"] / s["households"] <= 3.3
    sizes = city["members"].group_by("household_id").len()["len"]
    assert sizes.min() == 1 and sizes.max() <= 7
    assert resolve_scale("full")[1] == 3_928_568
    assert resolve_scale(5000) == ("custom", 5000)
    with pytest.raises(ValueError):
        resolve_scale("huge")


def test_deterministic(city, tmp_path):
    generate_city("demo", 42, tmp_path / "again", xlsx=False, csv=False)
    assert _hashes(tmp_path / "again") == _hashes(city["out"])
    other = build_city("demo", 43)
    assert not other["persons"]["id_number"].equals(city["persons"]["id_number"])
    assert not other["members"]["income_month_fen"].equals(city["members"]["income_month_fen"])


def test_id_numbers_valid_unique_and_consistent(city):
    p = city["persons"]
    assert p["id_number"].n_unique() == p.height
    old_codes = 0
    for number, sex, born in zip(p["id_number"], p["sex"], p["birth_date"], strict=True):
        parsed = idnumber.parse(number)
        assert parsed.number == number
        assert parsed.sex == sex
        assert parsed.birth_date == born
        old_codes += parsed.region_code in ("371624", "371626")
    assert old_codes > 0  # older 沾化 people keep 371624
    assert p["name"].str.len_chars().is_between(2, 3).all()
    phones = p["phone"].drop_nulls()
    assert phones.str.contains(r"^1[358]\d{9}$").all()
    assert phones.n_unique() == phones.len()
    assert (p["ethnicity"] == "汉族").mean() > 0.97


def test_columns_use_registry_names_and_codes(city):
    m, h = city["members"], city["households"]
    member_meta = {"household_id", "member_index", "person_id"}
    assert set(m.columns) - member_meta <= set(MEMBER_FACTS)
    household_meta = {
        "household_id",
        "household_no",
        "village_code",
        "township_code",
        "head_person_id",
        "address",
        "bank_account",
        "bank_name",
    }
    assert set(h.columns) - household_meta <= set(HOUSEHOLD_FACTS)
    for required in ("financial_assets_fen", "on_dibao", "on_tekun", "family_planning_special", "sudden_hardship"):
        assert required in h.columns
    for frame, facts in ((m, MEMBER_FACTS), (h, HOUSEHOLD_FACTS)):
        for name in frame.columns:
            fact = facts.get(name)
            if fact and fact.type == "enum":
                allowed = {code for code, _ in fact.choices}
                assert set(frame[name].drop_nulls().unique()) <= allowed, name
    assert set(m["relation"].unique()) <= {"02", "10", "20", "30", "38", "40", "50", "70"}
    assert (m.filter(pl.col("member_index") == 0)["relation"] == "02").all()
    assert m["disability_grade"].is_between(0, 4).all()
    assert (m["disability_kind"].is_null() == (m["disability_grade"] == 0)).all()
    assert h["bank_account"].str.len_chars().eq(19).all()
    assert h["village_code"].str.len_chars().eq(12).all()
    assert (h["urban"] == h["township_code"].str.slice(6, 3).cast(pl.Int32).lt(100)).all()


def test_hardship_shares(city):
    h, m = city["households"], city["members"]
    agg = m.group_by("household_id").agg(size=pl.len(), income=pl.col("income_month_fen").sum())
    hh = h.join(agg, on="household_id")
    line = pl.when(pl.col("urban")).then(DIBAO[True]).otherwise(DIBAO[False])
    hh = hh.with_columns(
        below=pl.col("income") / pl.col("size") < line,
        assets_ok=(pl.col("financial_assets_fen") <= ASSET_MONTHS * line * pl.col("size"))
        & (pl.col("vehicles") == 0)
        & (pl.col("housing_units") <= 1)
        & ~pl.col("has_business"),
    )
    share = (hh["below"] & hh["assets_ok"]).mean()
    assert 0.02 <= share <= 0.04
    mm = m.join(hh.select("household_id", "urban", "assets_ok"), on="household_id").with_columns(
        age=REF_YEAR - pl.col("birth_date").dt.year() - (pl.col("birth_date").dt.ordinal_day() > 1).cast(pl.Int32)
    )
    tline = pl.when(pl.col("urban")).then(TEKUN[True]).otherwise(TEKUN[False])
    severe = pl.col("disability_grade").is_between(1, 2) | (
        (pl.col("disability_grade") == 3) & pl.col("disability_kind").is_in(["intellectual", "mental"])
    )
    fits = mm.filter(
        ((pl.col("age") >= 60) | (pl.col("age") < 16) | severe)
        & ~pl.col("has_capable_supporter")
        & (pl.col("income_month_fen") < tline)
        & pl.col("assets_ok")
        & ~pl.col("deceased")
    )
    assert 0.0025 <= fits.height / mm.height <= 0.006
    assert 0.045 <= (m["disability_grade"] > 0).mean() <= 0.075
    assert 0.01 <= m["serious_illness"].mean() <= 0.02
    assert 0.004 <= m["deceased"].mean() <= 0.01
    assert (h["disaster_loss_fen"] > 0).sum() > 0
    assert (m["employment"] == "unemployed_registered").sum() > 0
    shares = city["summary"]["shares"]
    assert shares["below_dibao_line_assets_ok"] == pytest.approx(share)


def test_demo_townships_and_divisions(city):
    h = city["households"]
    towns = set(h["township_code"].unique())
    assert {"371602001", "371602105"} <= towns
    assert any(not t.startswith("371602") for t in towns)
    assert "371602001001" in set(h["village_code"])  # the demo staff's village
    codes = {row.code for row in all_divisions() if row.level == "village"}
    assert set(h["village_code"].unique()) <= codes
    per_village = h.join(city["members"].group_by("household_id").len(), on="household_id").group_by("village_code")
    persons = per_village.agg(pl.col("len").sum())["len"]
    assert persons.median() >= 100


def _read_csv(path: Path, encoding: str) -> pl.DataFrame:
    text = path.read_bytes().decode("utf-8-sig" if encoding.startswith("utf-8") else encoding)
    return pl.read_csv(text.encode("utf-8"), infer_schema=False)


def test_department_files_match_manifest(city):
    dept = city["out"] / "departments"
    manifest = json.loads((dept / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["files"]) == 12
    encodings = {e["source"]: e["encoding"] for e in manifest["files"]}
    assert encodings["gongan_vehicles"] == encodings["bdc_realestate"] == encodings["cl_disability"] == "gbk"
    frames = {}
    for entry in manifest["files"]:
        path = dept / entry["file"]
        raw = path.read_bytes()
        if entry["encoding"] == "gbk":
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
        assert raw.startswith(b"\xef\xbb\xbf") == (entry["encoding"] == "utf-8-sig")
        frame = _read_csv(path, entry["encoding"])
        assert frame.columns == entry["columns"]
        assert frame.height == entry["rows"], entry["source"]
        frames[entry["source"]] = frame
        id_col = next(c for c in frame.columns if c in ID_COLUMNS)
        assert frames[entry["source"]][id_col].str.len_chars().eq(18).all(), entry["source"]
        assert entry["xlsx"]
    from openpyxl import load_workbook

    wb = load_workbook(dept / manifest["files"][-2]["xlsx"], read_only=True)
    sheet_rows = list(wb.active.iter_rows(values_only=True))
    assert len(sheet_rows) - 1 == manifest["files"][-2]["rows"]
    assert isinstance(sheet_rows[1][1], str) and len(sheet_rows[1][1]) == 18  # ID numbers stay text

    # consistency with the households
    p, h, m = city["persons"], city["households"], city["members"]
    assert frames["gongan_population"].height == p.height
    ids = p.select("person_id", "id_number").join(m.select("person_id", "household_id"), on="person_id")
    bank = (
        frames["bank_deposit"]
        .with_columns(fen=(pl.col("余额(元)").cast(pl.Float64) * 100).round().cast(pl.Int64))
        .join(ids, left_on="证件号码", right_on="id_number")
        .group_by("household_id")
        .agg(pl.col("fen").sum())
    )
    check = h.select("household_id", "financial_assets_fen").join(bank, on="household_id", how="left")
    assert (check["fen"].fill_null(0) == check["financial_assets_fen"]).all()
    cars = frames["gongan_vehicles"].filter(pl.col("号牌种类") != "低速车").height
    assert cars == h["vehicles"].cast(pl.Int64).sum()
    assert frames["cl_disability"].height == (m["disability_grade"] > 0).sum()
    assert frames["bdc_realestate"].height == h["housing_units"].cast(pl.Int64).sum()
    med = frames["yb_medical"]["个人自付(元)"].cast(pl.Float64).sum() * 100
    assert med == pytest.approx(m["medical_oop_year_member_fen"].sum(), rel=1e-6)
    assert (frames["mz_civil"]["事件类型"] == "死亡").sum() == m["deceased"].sum()
    assert frames["rs_unemployment"].filter(pl.col("登记状态") == "有效").height == (
        (m["employment"] == "unemployed_registered").sum()
    )


def test_command_custom_scale(tmp_path):
    out = io.StringIO()
    call_command("ejia_city", "--scale", "3000", "--seed", "7", "--out", str(tmp_path), "--no-xlsx", stdout=out)
    text = out.getvalue()
    assert "persons" in text and "below_dibao_line" in text
    manifest = json.loads((tmp_path / "departments" / "manifest.json").read_text(encoding="utf-8"))
    assert all(e["xlsx"] is None for e in manifest["files"])
    assert pl.read_parquet(tmp_path / "persons.parquet").height <= 3000


def test_xlsx_skipped_beyond_one_sheet(tmp_path, monkeypatch):
    from ejia.demo.city import departments

    monkeypatch.setattr(departments, "XLSX_MAX_ROWS", 2)
    small = pl.DataFrame({"证件号码": ["a", "b"]})
    big = pl.DataFrame({"证件号码": ["a", "b", "c"]})
    manifest = departments.write(
        [("rs_unemployment", small), ("mz_civil", big)], tmp_path, csv=True, xlsx=True, timings={}
    )
    first, second = manifest["files"]
    assert first["xlsx"] and (tmp_path / first["xlsx"]).exists()
    assert second["xlsx"] is None and "xlsx_skipped" in second
