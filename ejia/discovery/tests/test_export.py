"""The export reads only what `derive` uses (the source kinds it reads and, on PostgreSQL, only
their records' keys it reads), and the engine inputs come out exactly as from every record of
every source; the same registry and snapshots give the same fingerprints."""

from __future__ import annotations

import pytest
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.discovery import export
from ejia.discovery.export import Reader, area_households, engine_inputs, input_fingerprint, sources_committed
from ejia.verification import findings as fnd
from ejia.verification.reviews import records_by_person

pytestmark = pytest.mark.django_db


def test_the_export_reads_only_what_derive_uses_and_builds_the_same_inputs(demo_city, monkeypatch):
    county = Division.objects.get(code="371602")
    reader = Reader.for_area(county, timezone.localdate(), sources_committed())
    assert any(s.kind not in fnd.READS for s in reader.sources.found), "a source derive does not read"
    ids = list(area_households(county))
    lean = engine_inputs(reader, ids)

    def every_record(sources, key_of, keys=None):
        return records_by_person(reader.sources.found, key_of)

    monkeypatch.setattr(export, "records_by_person", every_record)
    full = engine_inputs(reader, ids)
    assert lean and lean.keys() == full.keys()
    for household_id, item in full.items():
        assert lean[household_id] == item, household_id
    verified = [p for item in full.values() for p in item.provenance.values() if p.startswith("verified")]
    assert len(verified) > 100, "the small city's facts come from department data"
    fingerprints = {h: input_fingerprint(item, 0, reader.on) for h, item in full.items()}
    assert fingerprints == {h: input_fingerprint(item, 0, reader.on) for h, item in lean.items()}
    assert len(set(fingerprints.values())) == len(fingerprints)
