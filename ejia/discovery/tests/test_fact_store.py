"""The facts of each committed snapshot, kept between scans (`fact_store`): a later export reads
them instead of the records, and anything that could make them stale gives another file."""

from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.discovery import fact_store
from ejia.discovery.bulk_export import export_area_sql
from ejia.discovery.export import Reader, export_area, sources_committed
from ejia.discovery.tests.test_export_sql import assert_same
from ejia.verification import findings as fnd
from ejia.verification.models import DataSource, SourceRecord, SourceSnapshot

pytestmark = pytest.mark.django_db


def _county():
    return Division.objects.get(code="371602")


def _sql(tmp_path, name):
    reader = Reader.for_area(_county(), timezone.localdate(), sources_committed())
    return export_area_sql(reader, _county(), tmp_path / f"{name}-sql", fingerprints=True)


def _python(tmp_path, name):
    reader = Reader.for_area(_county(), timezone.localdate(), sources_committed())
    return export_area(reader, _county(), tmp_path / f"{name}-python", fingerprints=True)


def _kept() -> dict[str, int]:
    """{file name: inode} of the kept files: a rebuilt file is a new inode."""
    return {p.name: p.stat().st_ino for p in fact_store.root().glob(f"{fact_store.PREFIX}*.parquet")}


def _of(kind: str, kept: dict[str, int]) -> set[str]:
    return {name for name in kept if f"-{kind}-" in name}


def _department_file(tmp_path, kind: str):
    departments = tmp_path / "city" / "departments"
    entry = next(
        e
        for e in json.loads((departments / "manifest.json").read_text("utf-8"))["files"]
        if DataSource.objects.get(code=e["source"]).kind == kind
    )
    return departments / entry["file"], entry


def test_the_second_export_reads_the_kept_facts_and_no_record(demo_city, tmp_path):
    first = _sql(tmp_path, "first")
    kept = _kept()
    used = {s.kind for s in sources_committed().found if s.kind in fnd.READS}
    assert {name.split("-")[2] for name in kept} == used, "one file per snapshot derive reads"

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        again = _sql(tmp_path, "again")
    assert _kept() == kept, "read, not rebuilt"
    table = SourceRecord._meta.db_table
    assert not [q for q in queries.captured_queries if table in q["sql"]], "no record read"
    assert again.fingerprints == first.fingerprints
    assert_same(_python(tmp_path, "python"), again)


def test_a_new_snapshot_of_a_source_replaces_its_kept_facts(demo_city, tmp_path):
    from ejia.verification.services import snapshot_import

    _sql(tmp_path, "first")
    before = _kept()
    # The deposit file again without its last record: a new committed snapshot with other facts.
    path, entry = _department_file(tmp_path, "deposit")
    encoding = entry["encoding"]
    lines = path.read_text(encoding).splitlines(keepends=True)
    shorter = tmp_path / f"shorter-{entry['file']}"
    shorter.write_text("".join(lines[:-1]), encoding)
    snapshot = snapshot_import(actor=None, source=DataSource.objects.get(code=entry["source"]), path=shorter)

    python, sql = _python(tmp_path, "after"), _sql(tmp_path, "after")
    assert_same(python, sql)
    after = _kept()
    (new,) = _of("deposit", after)
    assert new.startswith(f"{fact_store.PREFIX}{snapshot.pk}-deposit-")
    assert _of("deposit", before).isdisjoint(after), "the superseded snapshot's facts are removed"
    assert {k: v for k, v in after.items() if k != new} == {k: v for k, v in before.items() if "-deposit-" not in k}


def test_the_same_file_imported_again_is_another_snapshot_with_its_own_facts(demo_city, tmp_path):
    from ejia.verification.services import snapshot_import

    _sql(tmp_path, "first")
    (old,) = _of("vehicle", _kept())
    path, entry = _department_file(tmp_path, "vehicle")
    snapshot = snapshot_import(
        actor=None, source=DataSource.objects.get(code=entry["source"]), path=path, file_name="again.csv"
    )
    assert_same(_python(tmp_path, "again"), _sql(tmp_path, "again"))
    (new,) = _of("vehicle", _kept())
    assert new != old and new.startswith(f"{fact_store.PREFIX}{snapshot.pk}-vehicle-")
    assert SourceSnapshot.objects.get(pk=int(old.split("-")[1])).status == SourceSnapshot.Status.SUPERSEDED


def test_a_change_to_what_derive_counts_is_never_read_from_older_facts(demo_city, tmp_path, monkeypatch):
    _sql(tmp_path, "first")
    (old,) = _of("vehicle", _kept())
    # The code changes: a vehicle status the county's records hold no longer counts.
    data = SourceRecord.objects.filter(
        snapshot__source__kind="vehicle", snapshot__status=SourceSnapshot.Status.COMMITTED
    ).values_list("data", flat=True)
    counted = sorted({d["status"] for d in data if d.get("status") not in fnd.VEHICLE_GONE})
    assert counted, "the county has counted vehicles"
    monkeypatch.setattr(fnd, "VEHICLE_GONE", fnd.VEHICLE_GONE | {counted[0]})

    python, sql = _python(tmp_path, "changed"), _sql(tmp_path, "changed")
    assert_same(python, sql)
    (new,) = _of("vehicle", _kept())
    assert new != old, "the vehicles' facts were computed again"


def test_a_change_to_the_fact_catalogue_keeps_the_facts_under_another_key(demo_city, tmp_path, monkeypatch):
    from ejia.rules.facts import FACTS

    _sql(tmp_path, "first")
    before = _kept()
    fact = FACTS["vehicles"]
    monkeypatch.setitem(FACTS, "vehicles", dataclasses.replace(fact, label=fact.label + "（新）"))
    assert_same(_python(tmp_path, "catalogue"), _sql(tmp_path, "catalogue"))
    after = _kept()
    assert len(after) == len(before) and not set(after) & set(before), "every file rebuilt, the old ones removed"


@pytest.mark.parametrize("damage", ["garbage", "another snapshot's file", "empty"])
def test_a_broken_kept_file_is_rebuilt_and_logged(demo_city, tmp_path, caplog, damage):
    first = _sql(tmp_path, "first")
    root = fact_store.root()
    (medical,) = _of("medical", _kept())
    (vehicle,) = _of("vehicle", _kept())
    if damage == "garbage":
        (root / medical).write_bytes(b"PAR1 not a parquet file")
    elif damage == "another snapshot's file":
        (root / medical).write_bytes((root / vehicle).read_bytes())
    else:
        (root / medical).write_bytes(b"")

    with caplog.at_level(logging.WARNING, logger="ejia.discovery.fact_store"):
        again = _sql(tmp_path, "again")
    assert [r for r in caplog.records if medical in r.getMessage() and "rebuilt" in r.getMessage()]
    assert again.fingerprints == first.fingerprints
    assert_same(_python(tmp_path, "python"), again)
    # The rebuilt file is read on the next export without a warning.
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ejia.discovery.fact_store"):
        _sql(tmp_path, "third")
    assert not caplog.records
