"""Economics and facts: health, schooling, work, incomes, assets, shocks and statuses.

Hardship is calibrated, not left to chance: a designated ~0.4% of persons fit 特困 and ~3% of
households have a per-capita income below the 低保 line with property within the limits below;
every other household is topped up (support from children living elsewhere, land rent) to at
least 1.05× the line, and every other person keeps a capable supporter."""

from __future__ import annotations

import numpy as np
import polars as pl

from .people import GRANDCHILD, HEAD, TYPE_INDEX, lab

# 2023 Binzhou standards, fen per person per month (DOMAIN.md §2.3).
DIBAO = {True: 100_100, False: 78_900}
TEKUN = {True: 132_000, False: 103_500}
# Property limits assumed for "within limits" [U]: per-capita financial assets at most 24 months
# of the local 低保 standard, no non-essential vehicle, at most one home, no business.
ASSET_MONTHS = 24
POOR_SHARE = 0.03
TEKUN_SHARE = 0.004
DECOY_SHARE = 0.003  # low declared income but property over the limits
DEATH_SHARE = 0.007
DISABILITY_SHARE = 0.06
SERIOUS_SHARE = 0.015

KINDS = np.array(["physical", "visual", "hearing", "speech", "intellectual", "mental", "multiple"])
KIND_P = {
    "child": [0.25, 0.05, 0.1, 0.1, 0.35, 0.05, 0.1],
    "adult": [0.45, 0.1, 0.12, 0.02, 0.08, 0.13, 0.1],
    "old": [0.42, 0.2, 0.25, 0.01, 0.01, 0.03, 0.08],
}
STAGES = np.array(["none", "preschool", "primary", "junior", "senior", "vocational", "college"])
EMPLOYMENTS = np.array(["employed", "farming", "unemployed_registered", "unemployed", "retired", "student", "unable"])
EMP = {name: i for i, name in enumerate(EMPLOYMENTS)}
HOUSING = np.array(["owned_ok", "dilapidated", "renting", "public_rental", "none"])
FP = np.array(["none", "disabled", "deceased"])


def _scaled(p: np.ndarray, share: float) -> np.ndarray:
    return np.clip(p * share / max(p.mean(), 1e-12), 0, 0.95)


def _topk(rng, weights: np.ndarray, k: int) -> np.ndarray:
    """k indices sampled without replacement proportional to weights (Gumbel top-k)."""
    ok = np.flatnonzero(weights > 0)
    k = min(k, len(ok))
    if k <= 0:
        return np.zeros(0, np.int64)
    key = np.log(rng.random(len(ok))) / weights[ok]
    return np.sort(ok[np.argpartition(-key, k - 1)[:k]])


def _lognormal_fen(rng, median_yuan, sigma, n):
    return np.round(rng.lognormal(np.log(median_yuan), sigma, n) * 100).astype(np.int64)


def economics(rng: np.random.Generator, households: pl.DataFrame, members: pl.DataFrame, n_villages: int):
    H = households.height
    n = members.height
    hidx = members["hidx"].to_numpy()
    rel = members["rel"].to_numpy()
    age = members["age"].to_numpy()
    male = members["male"].to_numpy()
    htype = households["htype"].to_numpy()
    urban_h = households["urban"].to_numpy()
    vidx_h = households["vidx"].to_numpy()
    urban = urban_h[hidx]
    mtype = htype[hidx]
    size = np.bincount(hidx, minlength=H)
    line_h = np.where(urban_h, DIBAO[True], DIBAO[False])
    tline = np.where(urban, TEKUN[True], TEKUN[False])
    dis_single_head = (mtype == TYPE_INDEX["disabled_single"]) & (rel == HEAD)
    elder = age >= 60

    # ---- disability, illness, self-care
    p_dis = np.select([age < 18, age < 45, age < 60, age < 75], [0.012, 0.03, 0.06, 0.11], 0.18)
    disabled = (rng.random(n) < _scaled(p_dis, DISABILITY_SHARE * 0.97)) | dis_single_head
    grade = np.where(disabled, rng.choice([1, 2, 3, 4], n, p=[0.12, 0.2, 0.3, 0.38]), 0)
    kind_idx = np.where(
        age < 18,
        rng.choice(7, n, p=KIND_P["child"]),
        np.where(age < 60, rng.choice(7, n, p=KIND_P["adult"]), rng.choice(7, n, p=KIND_P["old"])),
    )
    # severely disabled people living alone: grade 1–2, or grade 3 intellectual/mental
    forced = rng.choice(4, n, p=[0.45, 0.25, 0.15, 0.15])  # physical 1–2, multiple 1–2, intellectual 3, mental 3
    kind_idx = np.where(dis_single_head, np.array([0, 6, 4, 5])[forced], kind_idx)
    grade = np.where(dis_single_head, np.where(forced >= 2, 3, rng.integers(1, 3, n)), grade)
    p_ser = np.select([age < 18, age < 45, age < 60], [0.003, 0.006, 0.015], 0.035)
    serious = rng.random(n) < _scaled(p_ser, SERIOUS_SHARE)
    p_chr = np.select([age < 18, age < 45, age < 60], [0.02, 0.08, 0.22], 0.45)
    chronic = (rng.random(n) < p_chr) | serious
    cancer_two = (~male) & (age >= 35) & (age <= 70) & (rng.random(n) < 0.003)
    serious |= cancer_two
    u = rng.random(n)
    self_care = np.zeros(n, np.int8)  # 0 full, 1 partial, 2 none
    self_care = np.where((age >= 80) & (u < 0.2), 1, self_care)
    self_care = np.where((age >= 80) & (u < 0.05), 2, self_care)
    self_care = np.where((grade == 1) & (u < 0.75), np.where(u < 0.35, 2, 1), self_care)
    self_care = np.where((grade == 2) & (u < 0.4), np.where(u < 0.1, 2, 1), self_care)
    self_care = np.where(serious & (u < 0.3) & (self_care == 0), 1, self_care)

    # ---- schooling
    stage = np.zeros(n, np.int8)
    u = rng.random(n)
    stage = np.where((age >= 3) & (age <= 5) & (u < 0.9), 1, stage)
    stage = np.where((age >= 6) & (age <= 11), 2, stage)
    stage = np.where((age >= 12) & (age <= 14), 3, stage)
    stage = np.where((age >= 15) & (age <= 17), np.select([u < 0.55, u < 0.9], [4, 5], 0), stage)
    stage = np.where((age >= 18) & (age <= 21) & (u < np.where(urban, 0.6, 0.42)), 6, stage)
    stage = np.where((grade == 1) & (kind_idx == 4) & (stage > 0), 0, stage)
    u = rng.random(n)
    boarding = np.select(
        [stage == 2, stage == 3, stage == 4, stage == 5],
        [u < np.where(urban, 0.02, 0.08), u < np.where(urban, 0.1, 0.35), u < 0.75, u < 0.6],
        False,
    )
    college_new = (stage == 6) & ((age == 18) | ((age == 19) & (u < 0.3)))

    # ---- employment
    u = rng.random(n)
    emp = np.full(n, EMP["unable"], np.int8)
    work = (age >= 16) & (age < 60)
    emp_u = np.select([u < 0.8, u < 0.85, u < 0.94], [EMP["employed"], EMP["unemployed_registered"], EMP["unemployed"]], EMP["farming"])  # fmt: skip
    emp_r = np.select([u < 0.48, u < 0.505, u < 0.58], [EMP["employed"], EMP["unemployed_registered"], EMP["unemployed"]], EMP["farming"])  # fmt: skip
    emp = np.where(work, np.where(urban, emp_u, emp_r), emp)
    early_retire = work & urban & (age >= np.where(male, 55, 50)) & (rng.random(n) < 0.45)
    emp = np.where(early_retire, EMP["retired"], emp)
    u = rng.random(n)
    old_u = np.where(u < 0.78, EMP["retired"], EMP["unable"])
    old_r = np.where(
        age < 75,
        np.select([u < 0.55, u < 0.63], [EMP["farming"], EMP["retired"]], EMP["unable"]),
        np.select([u < 0.1, u < 0.15], [EMP["farming"], EMP["retired"]], EMP["unable"]),
    )
    emp = np.where(elder, np.where(urban, old_u, old_r), emp)
    severe = (grade <= 2) & (grade >= 1) | ((grade == 3) & np.isin(kind_idx, [4, 5]))
    emp = np.where(work & severe & (rng.random(n) < 0.85), EMP["unable"], emp)
    emp = np.where(work & serious & (rng.random(n) < 0.5), EMP["unable"], emp)
    emp = np.where(stage > 0, EMP["student"], emp)
    emp = np.where((age < 16) & (stage == 0), EMP["unable"], emp)
    emp = np.where(dis_single_head, EMP["unable"], emp)

    # ---- incomes (fen per month)
    wage = np.where(
        emp == EMP["employed"],
        np.maximum(np.where(urban, _lognormal_fen(rng, 4300, 0.45, n), _lognormal_fen(rng, 3300, 0.4, n)), 160_000),
        0,
    )
    farm = np.where(
        emp == EMP["farming"],
        np.where(elder, _lognormal_fen(rng, 700, 0.6, n), _lognormal_fen(rng, 1500, 0.6, n)),
        0,
    )
    uben = np.where((emp == EMP["unemployed_registered"]) & (rng.random(n) < 0.35), 152_000, 0)
    odd = np.where(np.isin(emp, [EMP["unemployed"], EMP["unemployed_registered"]]) & (rng.random(n) < 0.5), _lognormal_fen(rng, 400, 0.5, n), 0)  # fmt: skip
    employee_pension = emp == EMP["retired"]
    pension = np.where(
        employee_pension,
        np.maximum(np.where(urban, _lognormal_fen(rng, 3100, 0.3, n), _lognormal_fen(rng, 2600, 0.3, n)), 150_000),
        np.where(elder, rng.integers(18_000, 35_001, n), 0),
    )
    # businesses: one per household, run by the head (or spouse)
    has_business = (rng.random(H) < np.where(urban_h, 0.1, 0.065)) & (htype != TYPE_INDEX["disabled_single"])
    runner = (rel == HEAD) & has_business[hidx] & (age >= 18) & (age < 70)
    business = np.where(runner, _lognormal_fen(rng, 4000, 0.7, n), 0)
    emp = np.where(runner & np.isin(emp, [EMP["unemployed"], EMP["unemployed_registered"], EMP["farming"]]), EMP["employed"], emp)  # fmt: skip
    has_business = np.bincount(hidx, weights=runner, minlength=H) > 0
    transfer = np.zeros(n, np.int64)

    # ---- deaths in the last year (households of 2+ so that someone remains)
    q = 0.0004 * np.exp(0.085 * (np.clip(age, 0, 105) - 30)) * (size[hidx] >= 2)
    q = np.where(age < 1, 0.003, q) * (size[hidx] >= 2)
    deceased = np.zeros(n, bool)
    deceased[_topk(rng, q, round(DEATH_SHARE * n))] = True
    wage, farm, business, uben, odd = (np.where(deceased, 0, a) for a in (wage, farm, business, uben, odd))
    pension = np.where(deceased, 0, pension)

    # ---- supporters
    has_supporter = np.ones(n, bool)
    has_supporter &= ~((mtype == TYPE_INDEX["elder_single"]) & (rng.random(n) < 0.3))

    # ---- 特困: designated persons among elderly and severely disabled people living alone
    cand = ((mtype == TYPE_INDEX["elder_single"]) | dis_single_head) & (rel == HEAD)
    w = cand * np.where(urban, 1.0, 3.0) * np.where(age >= 75, 1.5, 1.0) * np.where(grade > 0, 2.0, 1.0)
    tekun_p = _topk(rng, w.astype(float), round(TEKUN_SHARE * n))
    tekun = np.zeros(n, bool)
    tekun[tekun_p] = True
    has_supporter[tekun_p] = False
    emp[tekun_p] = EMP["unable"]
    wage[tekun_p] = business[tekun_p] = uben[tekun_p] = odd[tekun_p] = 0
    pension[tekun_p] = np.where(age[tekun_p] >= 60, rng.integers(18_000, 30_001, len(tekun_p)), 0)
    farm[tekun_p] = np.where(rng.random(len(tekun_p)) < 0.3, rng.integers(0, 40_000, len(tekun_p)), 0)
    tekun_h = np.zeros(H, bool)
    tekun_h[hidx[tekun_p]] = True
    has_business &= ~tekun_h

    income = wage + farm + business + uben + odd + pension
    total = np.bincount(hidx, weights=income, minlength=H)
    pc = total / size

    # ---- 低保: designated households
    already = tekun_h & (pc < line_h)
    k = round(POOR_SHARE * H) - int(already.sum())
    has_dis = np.bincount(hidx, weights=grade > 0, minlength=H) > 0
    has_ser = np.bincount(hidx, weights=serious, minlength=H) > 0
    has_unemp = np.bincount(hidx, weights=emp == EMP["unemployed_registered"], minlength=H) > 0
    tw = {
        "elder_single": 2.0,
        "elder_couple": 1.6,
        "young_single": 0.3,
        "couple": 0.4,
        "nuclear": 0.6,
        "skip_gen": 2.0,
        "single_parent": 3.0,
        "elder_adult_child": 2.5,
        "siblings": 1.5,
        "disabled_single": 3.0,
    }
    wtype = np.array([tw.get(name, 0.8) for name in TYPE_INDEX])[htype]
    hw = wtype * np.where(urban_h, 1.0, 2.0) * np.where(has_dis, 3.0, 1.0) * np.where(has_ser, 3.0, 1.0)
    hw = hw * np.where(has_unemp, 2.0, 1.0) * ~tekun_h
    poor_idx = _topk(rng, hw, max(k, 0))
    poor_h = already.copy()
    poor_h[poor_idx] = True
    target_pc = line_h * rng.uniform(0.25, 0.97, H)
    factor = np.where(total > 0, target_pc * size / np.maximum(total, 1), 0.0)
    scale_m = poor_h[hidx] & ~tekun
    for arr in (wage, farm, business, uben, odd, pension):
        arr[scale_m] = np.floor(arr[scale_m] * factor[hidx[scale_m]]).astype(np.int64)
    zero_income = poor_h & (total <= 0) & ~tekun_h
    head_of = np.zeros(H, np.int64)
    head_of[hidx[rel == HEAD]] = np.flatnonzero(rel == HEAD)
    transfer[head_of[zero_income]] = np.floor(target_pc[zero_income] * size[zero_income]).astype(np.int64)
    has_business &= ~poor_h
    business = np.where(poor_h[hidx], 0, business)

    # ---- decoys: low declared income, property over the limits
    decoy_idx = _topk(rng, (~poor_h & ~tekun_h & (htype != TYPE_INDEX["disabled_single"])).astype(float), round(DECOY_SHARE * H))  # fmt: skip
    decoy_h = np.zeros(H, bool)
    decoy_h[decoy_idx] = True

    income = wage + farm + business + uben + odd + pension + transfer
    total = np.bincount(hidx, weights=income, minlength=H)
    pc = total / size
    dm = decoy_h[hidx]
    dfactor = np.where(total > 0, line_h * rng.uniform(0.4, 0.95, H) * size / np.maximum(total, 1), 0)
    for arr in (wage, farm, business, uben, odd, pension):
        arr[dm] = np.floor(arr[dm] * dfactor[hidx[dm]]).astype(np.int64)
    # top-ups for everyone else: support from children elsewhere, land rent, odd jobs
    income = wage + farm + business + uben + odd + pension + transfer
    total = np.bincount(hidx, weights=income, minlength=H)
    pc = total / size
    low = ~poor_h & ~decoy_h & ~tekun_h & (pc < line_h * 1.05)
    mult = np.where(rng.random(H) < 0.2, rng.uniform(1.05, 1.5, H), 1.5 + rng.exponential(1.2, H))
    want = line_h * mult * size
    transfer[head_of[low]] += np.ceil(want[low] - total[low]).astype(np.int64)
    income = wage + farm + business + uben + odd + pension + transfer
    total = np.bincount(hidx, weights=income, minlength=H).astype(np.int64)
    pc = total / size

    # ---- property
    poor_like = poor_h | tekun_h
    dep = np.round(rng.lognormal(np.log(np.maximum(total * 6, 800_000)), 1.1) * np.where(urban_h, 1.3, 1.0))
    dep = np.where(poor_like, np.floor(rng.uniform(0, 6, H) * line_h * size), dep).astype(np.int64)
    dep = np.where(decoy_h & (rng.random(H) < 0.7), np.floor(rng.uniform(30, 120, H) * line_h * size), dep).astype(np.int64)  # fmt: skip
    u = rng.random(H)
    pv = np.clip(np.where(urban_h, 0.35, 0.22) * np.sqrt(pc / line_h) / 1.6, 0, 0.85)
    vehicles = np.where(u < pv, np.where(u < pv * 0.15, 2, 1), 0)
    vehicles = np.where(poor_like, 0, vehicles)
    vehicles = np.where(decoy_h & (dep < 30 * line_h * size), 1, vehicles)
    u = rng.random(H)
    housing_units = np.where(urban_h, np.select([u < 0.12, u < 0.75, u < 0.95], [0, 1, 2], 3), np.select([u < 0.01, u < 0.96], [0, 1], 2))  # fmt: skip
    housing_units = np.where(poor_like, np.minimum(housing_units, 1), housing_units)
    u = rng.random(H)
    cond = np.where(housing_units > 0, 0, np.where(urban_h, np.where(u < 0.75, 2, 3), np.where(u < 0.5, 2, 4)))
    dil_p = np.where(poor_like, 0.12, np.where(urban_h, 0.002, 0.015))
    cond = np.where((housing_units > 0) & (rng.random(H) < dil_p), 1, cond)
    area_pc = np.round(rng.lognormal(np.log(np.where(urban_h, 36, 45)), 0.35, H)).astype(np.int64)
    area_pc = np.where(cond == 4, 0, area_pc)

    # ---- medical and education spending
    base = np.where(rng.random(n) < 0.7, _lognormal_fen(rng, 400, 0.9, n), 0)
    med = base + np.where(chronic, _lognormal_fen(rng, 2500, 0.7, n), 0)
    med = med + np.where(serious, _lognormal_fen(rng, 30000, 0.7, n), 0) + np.where(grade.astype(bool) & (grade <= 2), 100_000, 0)  # fmt: skip
    med_h = np.bincount(hidx, weights=med, minlength=H).astype(np.int64)
    stage_cost = np.array([0, 360_000, 60_000, 80_000, 240_000, 150_000, 1_200_000])[stage]
    edu = np.round(stage_cost * rng.uniform(0.8, 1.2, n) + boarding * 180_000).astype(np.int64)
    edu_h = np.bincount(hidx, weights=edu, minlength=H).astype(np.int64)

    # ---- shocks
    occupied = np.unique(vidx_h)
    n_dis = max(1, round(0.015 * len(occupied)))
    rural_occ = occupied[~np.isin(occupied, np.unique(vidx_h[urban_h]))]
    hit_villages = rng.choice(
        rural_occ if len(rural_occ) else occupied, min(n_dis, max(len(rural_occ), 1)), replace=False
    )
    in_hit = np.isin(vidx_h, hit_villages)
    u = rng.random(H)
    loss = np.where(in_hit & (u < 0.4), _lognormal_fen(rng, 8000, 0.8, H), 0)
    loss = np.where(~in_hit & (u < 0.002), _lognormal_fen(rng, 5000, 0.8, H), loss)
    damaged = (loss > 0) & (rng.random(H) < np.where(in_hit, 0.15, 0.05))
    loss = np.where(damaged, loss + _lognormal_fen(rng, 40000, 0.5, H), loss)
    sudden = rng.random(H) < 0.003
    death_h = np.bincount(hidx, weights=deceased, minlength=H) > 0
    death_disaster = in_hit & death_h & (rng.random(H) < 0.05)

    # ---- statuses
    u = rng.random(H)
    on_dibao = (poor_h & (u < 0.75)) | (~poor_h & ~decoy_h & (u > 0.9985))
    on_tekun = tekun_h & (rng.random(H) < 0.85)
    edge = ~poor_h & ~decoy_h & (pc < 1.5 * line_h)
    on_edge = edge & (rng.random(H) < 0.3)
    rural = ~urban_h
    lifted = rural & (rng.random(H) < np.where(poor_like, 0.25, 0.025))
    relapse = rng.random(H) < np.where(poor_like | edge, 0.04, 0.002)
    head_age = age[head_of]
    u = rng.random(H)
    fps = np.where((head_age >= 49) & (size <= 2) & (u < 0.0015), np.where(u < 0.0008, 2, 1), 0)
    rural_fp = rural & (head_age >= 60) & (rng.random(H) < 0.12)
    expense = ~poor_h & (med_h + edu_h > 0.5 * 12 * np.maximum(total, 1)) & (pc < 3 * line_h) & (rng.random(H) < 0.4)

    # ---- member identities
    u = rng.random(n)
    veteran = np.where(male, (age >= 38) & (age <= 88) & (u < 0.05), (age >= 38) & (u < 0.003))
    party = (age >= 18) & (rng.random(n) < np.where(urban, 0.09, 0.05) + np.where(elder & male, 0.04, 0.0))
    union = (emp == EMP["employed"]) & (rng.random(n) < np.where(urban, 0.45, 0.15))
    single_mother = (mtype == TYPE_INDEX["single_parent"]) & (rel == HEAD) & ~male
    kids_skip = (mtype == TYPE_INDEX["skip_gen"]) & (rel == GRANDCHILD)
    u = rng.random(n)
    orphan = np.where(kids_skip & (u < 0.03), 2, 0)
    left_behind = kids_skip & (u < 0.7)

    # no accidental 特困 fits: everyone not designated keeps a capable supporter when they would fit
    assets_ok_h = (dep <= ASSET_MONTHS * line_h * size) & (vehicles == 0) & (housing_units <= 1) & ~has_business
    cat = (age >= 60) | (age < 16) | severe
    fits = cat & ~has_supporter & (income < tline) & assets_ok_h[hidx] & ~deceased
    has_supporter |= fits & ~tekun
    has_supporter[tekun_p] = False

    members_out = {
        "income_month_fen": income,
        "employment": lab(EMPLOYMENTS, emp),
        "pension_month_fen": pension,
        "has_capable_supporter": has_supporter,
        "disability_grade": grade.astype(np.int8),
        "disability_kind": pl.select(pl.when(pl.Series(grade > 0)).then(lab(KINDS, kind_idx))).to_series(),
        "serious_illness": serious,
        "chronic_illness": chronic,
        "self_care": lab(["full", "partial", "none"], self_care),
        "school_stage": lab(STAGES, stage),
        "boarding": boarding,
        "college_new_entrant": college_new,
        "orphan_care": lab(["none", "institution", "scattered"], orphan),
        "left_behind_child": left_behind,
        "veteran": veteran,
        "party_member": party,
        "union_member": union,
        "single_parent_mother": single_mother,
        "cancer_two": cancer_two,
        "deceased": deceased,
        "medical_oop_year_member_fen": med,
    }
    detail = {
        "wage_fen": wage,
        "farm_fen": farm,
        "business_fen": business,
        "unemployment_benefit_fen": uben,
        "employee_pension": employee_pension & (pension > 0),
        "transfer_fen": transfer,
        "tekun_designated": tekun,
    }
    households_out = {
        "financial_assets_fen": dep,
        "vehicles": vehicles.astype(np.int8),
        "housing_units": housing_units.astype(np.int8),
        "has_business": has_business,
        "housing_condition": lab(HOUSING, cond),
        "housing_area_per_capita_m2": area_pc,
        "medical_oop_year_fen": med_h,
        "education_oop_year_fen": edu_h,
        "disaster_loss_fen": loss,
        "house_damaged_by_disaster": damaged,
        "sudden_hardship": sudden,
        "death_in_household_year": death_h,
        "death_in_disaster": death_disaster,
        "on_dibao": on_dibao,
        "on_tekun": on_tekun,
        "on_dibao_edge": on_edge,
        "on_expense_hardship": expense,
        "lifted_from_poverty": lifted,
        "relapse_monitoring": relapse,
        "family_planning_special": lab(FP, fps),
        "rural_family_planning_reward": rural_fp,
    }
    hdetail = {"poor_designated": poor_h, "decoy": decoy_h, "disaster_village": in_hit}
    return members_out, detail, households_out, hdetail
