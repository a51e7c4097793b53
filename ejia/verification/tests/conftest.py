"""Exchange fixtures: the seeded sources, olga the city's data-exchange operator, and small
department files written the way departments export them."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.core.idnumber import make
from ejia.verification.sources import sources_seed

VALID_IDS = [
    make("371602", __import__("datetime").date(1950 + i, 1 + i % 12, 1 + i % 28), 11 + 2 * i) for i in range(40)
]


@pytest.fixture
def sources(db):
    sources_seed()


@pytest.fixture
def olga(org):
    return make_staff("olga", _unit("371600", "centre"), Role.EXCHANGE_OPERATOR, display_name="杨帆")


@pytest.fixture(autouse=True)
def _staging_in_tmp(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"


def write_csv(path: Path, header: list[str], rows: list[list], encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    data = buf.getvalue()
    if encoding == "utf-8-sig":
        path.write_bytes(b"\xef\xbb\xbf" + data.encode("utf-8"))
    else:
        path.write_bytes(data.encode(encoding))
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list]) -> Path:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("数据")
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return path
