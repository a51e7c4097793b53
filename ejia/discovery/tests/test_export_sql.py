"""The set-based export (`bulk_export.export_area_sql`) against the per-household one
(`export.export_area`): the same rows, the same skipped households, and fingerprints with the
property the scan relies on."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.discovery.bulk_export import export_area_sql
from ejia.discovery.export import Reader, export_area, sources_committed

pytestmark = pytest.mark.django_db


def _both(area, tmp_path, name="a"):
    reader = Reader.for_area(area, timezone.localdate(), sources_committed())
    python = export_area(reader, area, tmp_path / f"{name}-python", fingerprints=True)
    reader = Reader.for_area(area, timezone.localdate(), sources_committed())
    sql = export_area_sql(reader, area, tmp_path / f"{name}-sql", fingerprints=True)
    return python, sql


def _rows(path, keys):
    return sorted(pq.read_table(path).to_pylist(), key=lambda r: tuple(r[k] for k in keys))


def assert_same(python, sql):
    assert (sql.households, sql.members, sql.skipped) == (python.households, python.members, python.skipped)
    for path, keys in (("households_path", ["household_id"]), ("members_path", ["household_id", "member_index"])):
        a, b = getattr(python, path), getattr(sql, path)
        assert pq.read_schema(a) == pq.read_schema(b)
        left, right = _rows(a, keys), _rows(b, keys)
        assert len(left) == len(right)
        for x, y in zip(left, right, strict=True):
            assert x == y, {k: (x[k], y[k]) for k in x if x[k] != y[k]}
    assert pq.read_table(python.standards_path) == pq.read_table(sql.standards_path)
    assert sql.fingerprints.keys() == python.fingerprints.keys()
    assert all(len(v) == 16 for v in sql.fingerprints.values())


def test_the_sql_export_writes_the_rows_of_the_python_export(demo_city, tmp_path):
    county = Division.objects.get(code="371602")
    python, sql = _both(county, tmp_path)
    assert python.households > 50
    assert_same(python, sql)
    assert len(set(sql.fingerprints.values())) == len(sql.fingerprints)
