"""Synthetic people for registry and intake tests (valid numbers, never real persons)."""

from __future__ import annotations

import datetime as dt
import itertools

from ejia.accounts.models import Division
from ejia.core import idnumber

_seq = itertools.count(11)


def new_id(birth: dt.date = dt.date(1980, 5, 17), *, female: bool = False, region: str = "371602") -> str:
    """A fresh valid ID number (odd sequence = male, even = female)."""
    n = next(_seq) * 2 + (0 if female else 1)
    return idnumber.make(region, birth, n % 1000 or 1)


def village(township_code: str = "371602001") -> Division:
    return Division.objects.filter(parent__code=township_code, level="village").order_by("code").first()
