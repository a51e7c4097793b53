"""Households, members and persons: composition, ages, names, ID numbers, phones.

Vectorised over persons; the only Python loops run over the dozen household types."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ejia.core.idnumber import CHECK_CHARS, WEIGHTS
from ejia.demo import names as nm

from .geo import OLD_CODES

REF_DATE = dt.date(2026, 1, 1)  # the city's "as of" date; ages are whole years on this day
REF_YEAR = REF_DATE.year

# GB/T 4761 relation codes used here.
REL_CODES = np.array(["02", "10", "20", "30", "38", "40", "50", "70"])
HEAD, SPOUSE, SON, DAUGHTER, DIL, GRANDCHILD, PARENT, SIBLING = range(8)

# Household types: (name, rural probability, urban probability)
TYPES = [
    ("elder_single", 0.14, 0.09),
    ("elder_couple", 0.20, 0.14),
    ("young_single", 0.05, 0.10),
    ("couple", 0.10, 0.12),
    ("nuclear", 0.24, 0.37),
    ("three_gen_up", 0.10, 0.09),
    ("three_gen_down", 0.09, 0.04),
    ("skip_gen", 0.04, 0.01),
    ("single_parent", 0.025, 0.035),
    ("elder_adult_child", 0.025, 0.01),
    ("siblings", 0.005, 0.005),
    ("disabled_single", 0.005, 0.003),
]
TYPE_INDEX = {name: i for i, (name, _, _) in enumerate(TYPES)}
MEAN_SIZE = {True: 2.85, False: 3.05}


def lab(labels, idx) -> pl.Series:
    """Label strings for integer (or boolean) codes, built without numpy string arrays."""
    return pl.Series([str(x) for x in labels], dtype=pl.String).gather(np.asarray(idx).astype(np.int64))


def _tri(rng, lo, mode, hi, n):
    return np.floor(rng.triangular(lo, mode, hi + 0.999, n)).astype(np.int64)


class _Members:
    def __init__(self):
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, hh, rel, age, male, order):
        n = len(hh)
        rel = np.full(n, rel, np.int8) if np.isscalar(rel) else rel.astype(np.int8)
        order = np.full(n, order, np.int16) if np.isscalar(order) else order.astype(np.int16)
        self.parts.append((hh.astype(np.int64), rel, age.astype(np.int64), male.astype(bool), order))

    def arrays(self):
        return [np.concatenate([p[i] for p in self.parts]) for i in range(5)]


def _spread(counts):
    """For repeated rows: the 0-based index within each household's block."""
    total = counts.sum()
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total) - starts


def _children(rng, m: _Members, hh, parent_age, probs, order0, lo=22, hi=35, max_age=30):
    counts = rng.choice(len(probs), size=len(hh), p=np.asarray(probs) / np.sum(probs))
    rep = np.repeat(np.arange(len(hh)), counts)
    k = _spread(counts)
    age = parent_age[rep] - rng.integers(lo, hi + 1, len(rep)) - 2 * k
    young = np.maximum(parent_age[rep] - 19, 1)
    age = np.where(age < 0, np.floor(rng.random(len(rep)) * young).astype(np.int64), np.minimum(age, max_age))
    male = rng.random(len(rep)) < 0.52
    rel = np.where(male, SON, DAUGHTER)
    m.add(hh[rep], rel, age, male, order0 + k)
    return counts


def build_households(villages: pl.DataFrame, n_persons: int, rng: np.random.Generator):
    """Returns (households frame, members frame) before economics."""
    urban_v = villages["urban"].to_numpy()
    target = villages["target_persons"].to_numpy()
    mean = np.where(urban_v, MEAN_SIZE[True], MEAN_SIZE[False])
    n_hh_v = rng.poisson(np.maximum(target / mean * 1.09, 0.0) + 0.5)
    n_hh_v = np.maximum(n_hh_v, 1)
    vidx = np.repeat(np.arange(villages.height), n_hh_v)
    H = len(vidx)
    urban = urban_v[vidx]
    pr = np.array([t[1] for t in TYPES])
    pu = np.array([t[2] for t in TYPES])
    htype = np.where(
        urban,
        rng.choice(len(TYPES), H, p=pu / pu.sum()),
        rng.choice(len(TYPES), H, p=pr / pr.sum()),
    )
    m = _Members()
    head_age = np.zeros(H, np.int64)
    head_male = np.zeros(H, bool)
    spouse_age = np.full(H, -1, np.int64)
    for t, (name, _, _) in enumerate(TYPES):
        hh = np.flatnonzero(htype == t)
        n = len(hh)
        if n == 0:
            continue
        if name == "elder_single":
            age, pm = _tri(rng, 60, 72, 97, n), 0.38
        elif name == "elder_couple":
            age, pm = _tri(rng, 60, 67, 92, n), 0.93
        elif name == "young_single":
            age = np.where(rng.random(n) < 0.6, _tri(rng, 20, 26, 40, n), _tri(rng, 40, 50, 59, n))
            pm = 0.62
        elif name == "couple":
            age = np.where(rng.random(n) < 0.4, _tri(rng, 22, 27, 35, n), _tri(rng, 44, 55, 59, n))
            pm = 0.9
        elif name == "nuclear":
            age, pm = _tri(rng, 25, 42, 58, n), 0.86
        elif name == "three_gen_up":
            age, pm = _tri(rng, 28, 40, 55, n), 0.88
        elif name == "three_gen_down":
            age, pm = _tri(rng, 48, 58, 78, n), 0.9
        elif name == "skip_gen":
            age, pm = _tri(rng, 50, 62, 80, n), 0.75
        elif name == "single_parent":
            age, pm = _tri(rng, 26, 40, 56, n), 0.2
        elif name == "elder_adult_child":
            age, pm = _tri(rng, 62, 76, 93, n), 0.55
        elif name == "siblings":
            age, pm = _tri(rng, 30, 50, 75, n), 0.6
        else:  # disabled_single
            age, pm = _tri(rng, 22, 45, 59, n), 0.62
        male = rng.random(n) < pm
        head_age[hh], head_male[hh] = age, male
        m.add(hh, HEAD, age, male, 0)
        has_spouse = {
            "elder_couple": 1.0,
            "couple": 1.0,
            "nuclear": 1.0,
            "three_gen_up": 1.0,
            "three_gen_down": 1.0,
            "skip_gen": 0.65,
            "elder_adult_child": 0.45,
        }.get(name, 0.0)
        if has_spouse:
            sp = rng.random(n) < has_spouse
            shh = hh[sp]
            gap = np.round(rng.normal(2.0, 2.5, sp.sum())).astype(np.int64)
            sage = np.where(male[sp], age[sp] - gap, age[sp] + gap)
            sage = np.clip(sage, 20 if age.min() < 55 else 50, 100)
            spouse_age[shh] = sage
            m.add(shh, SPOUSE, sage, ~male[sp], 1)
        younger = np.where(spouse_age[hh] >= 0, np.minimum(age, spouse_age[hh]), age)
        if name == "nuclear":
            _children(rng, m, hh, younger, [0, 0.48, 0.44, 0.08], 3)
        elif name == "three_gen_up":
            _children(rng, m, hh, younger, [0.05, 0.5, 0.42, 0.03], 3)
            cnt = rng.choice(3, n, p=[0, 0.45, 0.55])
            rep = np.repeat(np.arange(n), cnt)
            k = _spread(cnt)
            page = np.minimum(age[rep] + rng.integers(22, 33, len(rep)), 100)
            pmale = np.where(cnt[rep] == 2, k == 0, rng.random(len(rep)) < 0.35)
            m.add(hh[rep], PARENT, page, pmale, 2)
        elif name == "three_gen_down":
            sage = np.maximum(younger - rng.integers(22, 33, n), 18)
            m.add(hh, SON, sage, np.ones(n, bool), 3)
            dil = rng.random(n) < 0.9
            m.add(
                hh[dil], DIL, np.maximum(sage[dil] + rng.integers(-4, 3, dil.sum()), 18), np.zeros(dil.sum(), bool), 4
            )
            _children(rng, m, hh, sage, [0.1, 0.5, 0.4], 5, lo=21, hi=32, max_age=17)
            # relabel: those "children" are grandchildren of the head
            hh_last, _rel_last, *_ = m.parts[-1]
            m.parts[-1] = (hh_last, np.full(len(hh_last), GRANDCHILD, np.int8), *m.parts[-1][2:])
        elif name == "skip_gen":
            _children(rng, m, hh, younger, [0, 0.6, 0.4], 3, lo=45, hi=60, max_age=17)
            hh_last, *_ = m.parts[-1]
            m.parts[-1] = (hh_last, np.full(len(hh_last), GRANDCHILD, np.int8), *m.parts[-1][2:])
        elif name == "single_parent":
            _children(rng, m, hh, age, [0, 0.7, 0.3], 3, max_age=22)
        elif name == "elder_adult_child":
            cage = np.maximum(younger - rng.integers(22, 36, n), 18)
            cmale = rng.random(n) < 0.6
            m.add(hh, np.where(cmale, SON, DAUGHTER), cage, cmale, 3)
        elif name == "siblings":
            m.add(hh, SIBLING, np.clip(age + rng.integers(-8, 9, n), 18, 100), rng.random(n) < 0.5, 2)

    mhh, rel, age, male, order = m.arrays()
    size = np.bincount(mhh, minlength=H)
    # Trim to the requested number of persons: drop households in random order.
    perm = rng.permutation(H)
    keep_sorted = np.cumsum(size[perm]) <= n_persons
    keep = np.zeros(H, bool)
    keep[perm[keep_sorted]] = True
    # household order: by village, then random within village
    hkeys = np.flatnonzero(keep)
    tiebreak = rng.random(H)
    hkeys = hkeys[np.lexsort((tiebreak[hkeys], vidx[hkeys]))]
    new_id = np.full(H, -1, np.int64)
    new_id[hkeys] = np.arange(len(hkeys))
    mm = keep[mhh]
    mhh, rel, age, male, order = new_id[mhh[mm]], rel[mm], age[mm], male[mm], order[mm]
    o = np.lexsort((-age, order, mhh))
    mhh, rel, age, male = mhh[o], rel[o], age[o], male[o]
    households = pl.DataFrame(
        {
            "hidx": np.arange(len(hkeys)),
            "vidx": vidx[hkeys],
            "htype": htype[hkeys].astype(np.int8),
            "urban": urban[hkeys],
        }
    )
    members = pl.DataFrame({"hidx": mhh, "rel": rel, "age": age, "male": male})
    return households, members


def birth_dates(rng, age: np.ndarray) -> np.ndarray:
    year = (REF_YEAR - 1) - age
    days_in_year = np.where((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)), 366, 365)
    doy = np.floor(rng.random(len(age)) * days_in_year).astype(np.int64)
    return (year - 1970).astype("datetime64[Y]").astype("datetime64[D]") + doy.astype("timedelta64[D]")


def id_numbers(rng, region: np.ndarray, birth: np.ndarray, male: np.ndarray, seed: int) -> pl.Series:
    """Valid, unique GB 11643 numbers, computed column-wise."""
    y = birth.astype("datetime64[Y]").astype(np.int64) + 1970
    mth = birth.astype("datetime64[M]").astype(np.int64) % 12 + 1
    d = (birth - birth.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    bint = y * 10000 + mth * 100 + d
    df = pl.DataFrame({"reg": region, "b": bint, "m": male, "r": rng.random(len(region))})
    rank = df.select(pl.col("r").rank("ordinal").over(["reg", "b", "m"]).cast(pl.Int64) - 1).to_series().to_numpy()
    if rank.max(initial=0) >= 499:
        raise ValueError("too many persons share a region, birth date and sex")
    off = (bint * 7 + region * 13 + seed) % 499
    i = (off + rank) % 499
    seq = np.where(male, 2 * i + 1, 2 * i + 2)
    first17 = region * 10**11 + bint * 1000 + seq
    total = np.zeros(len(region), np.int64)
    rest = first17.copy()
    for w in reversed(WEIGHTS):
        total += (rest % 10) * w
        rest //= 10
    check = pl.Series(list(CHECK_CHARS)).gather(total % 11)
    return pl.Series(first17).cast(pl.String) + check


def persons_frame(rng, seed: int, members: pl.DataFrame, households: pl.DataFrame, villages: pl.DataFrame):
    """Persons (id, names, ID numbers …) in member order; person_id = position + 1."""
    n = members.height
    hidx = members["hidx"].to_numpy()
    rel = members["rel"].to_numpy()
    age = members["age"].to_numpy()
    male = members["male"].to_numpy()
    county = villages["region_code"].cast(pl.Int64).to_numpy()[households["vidx"].to_numpy()][hidx]
    birth = birth_dates(rng, age)
    byear = REF_YEAR - 1 - age
    region = county.copy()
    u = rng.random(n)
    for new, (old, until) in OLD_CODES.items():
        mask = (county == int(new)) & (byear < until) & (u < 0.6)
        region[mask] = int(old)
    # in-migrants: other Binzhou counties and other Shandong cities
    mig = rng.random(n)
    others = np.array([371602, 371603, 371621, 371622, 371623, 371625, 371681])
    region = np.where(mig < 0.04, others[rng.integers(0, len(others), n)], region)
    elsewhere = np.array([370102, 370112, 370303, 370502, 371402, 371302, 370781, 370203])
    region = np.where((mig >= 0.04) & (mig < 0.05) & (age >= 20), elsewhere[rng.integers(0, len(elsewhere), n)], region)
    idn = id_numbers(rng, region, birth, male, seed)

    # names: household line surname L, second line L2 (children of a female head)
    H = households.height
    L = rng.choice(len(nm.SURNAMES), H, p=nm.SURNAME_P)
    L2 = rng.choice(len(nm.SURNAMES), H, p=nm.SURNAME_P)
    own = rng.choice(len(nm.SURNAMES), n, p=nm.SURNAME_P)
    head_male = np.zeros(H, bool)
    head_male[hidx[rel == HEAD]] = male[rel == HEAD]
    hm = head_male[hidx]
    line = np.isin(rel, [SON, DAUGHTER, GRANDCHILD])
    s = own.copy()
    s = np.where(rel == HEAD, L[hidx], s)
    s = np.where(line & hm, L[hidx], s)
    s = np.where(line & ~hm, L2[hidx], s)
    s = np.where((rel == SPOUSE) & male, L2[hidx], s)
    s = np.where(((rel == PARENT) & male) | (rel == SIBLING), L[hidx], s)
    surname = pl.Series(nm.SURNAMES).gather(s)
    given = nm.given_names(rng, male, byear < 1975)
    name = surname + given

    prefixes = np.array([130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153, 155, 156, 157, 158, 159, 180, 181, 182, 183, 185, 186, 187, 188, 189])  # fmt: skip
    pre = prefixes[rng.integers(0, len(prefixes), n)]
    a = 48_271
    b = (seed * 7919) % 10**8
    suffix = (a * np.arange(n, dtype=np.int64) + b) % 10**8
    phone = pl.Series(pre * 10**8 + suffix).cast(pl.String)
    phone = pl.DataFrame({"p": phone, "a": age}).select(pl.when(pl.col("a") >= 14).then(pl.col("p"))).to_series()
    eth = pl.Series(list(nm.ETHNICITIES)).gather(rng.choice(len(nm.ETHNICITIES), n, p=nm.ETHNICITY_P))
    return pl.DataFrame(
        {
            "person_id": np.arange(1, n + 1, dtype=np.int64),
            "id_number": idn,
            "name": name,
            "sex": lab(["F", "M"], male),
            "birth_date": birth,
            "phone": phone,
            "ethnicity": eth,
        }
    ).with_columns(pl.col("birth_date").cast(pl.Date))
