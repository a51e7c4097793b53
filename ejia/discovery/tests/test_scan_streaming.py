"""The scan explains its candidate households a chunk at a time and writes each chunk's
findings before it explains the next (a first run never holds every finding): in small chunks,
with batches that do not divide them and the memo of criterion texts emptied as it goes, it
writes exactly the leads and counts one chunk gives, keeps every lead found in an early chunk
open, and closes the vanished ones only after the last chunk is written."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.discovery import scan as scan_module
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus, ScanRun
from ejia.discovery.scan import scan_run, scan_start
from ejia.registry.models import StatusKind
from ejia.registry.services import status_begin

pytestmark = pytest.mark.django_db

FIELDS = (
    "household_id",
    "programme_id",
    "source",
    "status",
    "division_id",
    "likelihood",
    "amount_fen",
    "persons",
    "reasons",
    "facts",
    "unknown_labels",
    "fingerprint",
    "close_reason",
)
COUNTS = ("candidates", "leads_new", "leads_updated", "leads_unchanged", "leads_closed")


class Undo(Exception):
    pass


def scan() -> ScanRun:
    county = Division.objects.get(code="371602")
    return scan_run(scan_id=scan_start(actor=None, area=county, run=False).pk)


def state(run: ScanRun) -> dict:
    """Every lead's content and whether this run wrote it, and the run's counts."""
    leads = {
        (r["household_id"], r["programme_id"], r["status"]): (
            tuple(r[name] for name in FIELDS),
            r["first_run_id"] == run.pk,
            r["last_run_id"] == run.pk,
        )
        for r in Lead.objects.values(*FIELDS, "first_run_id", "last_run_id")
    }
    assert len(leads) == Lead.objects.count()
    return {
        "leads": leads,
        "counts": {name: getattr(run, name) for name in COUNTS},
        "explained": run.timings["explained_households"],
    }


def chunked(monkeypatch, chunk: int, batch: int) -> list[str]:
    """Explain `chunk` households at a time, write `batch` findings a transaction, empty the
    memo of criterion texts after almost every chunk; returns the order in which chunks were
    read ("read") and new leads written ("write")."""
    events: list[str] = []
    monkeypatch.setattr(scan_module, "EXPLAIN_CHUNK", chunk)
    monkeypatch.setattr(scan_module, "UPSERT_BATCH", batch)
    monkeypatch.setattr(scan_module, "MEMO_TEXTS", 10)
    engine_inputs, insert = scan_module.engine_inputs, scan_module._insert

    def reading(reader, ids, *args, **kwargs):
        assert len(ids) <= chunk
        events.append("read")
        return engine_inputs(reader, ids, *args, **kwargs)

    def writing(rows, now):
        assert len(rows) <= batch
        events.append("write")
        return insert(rows, now)

    monkeypatch.setattr(scan_module, "engine_inputs", reading)
    monkeypatch.setattr(scan_module, "_insert", writing)
    return events


def undone(monkeypatch, chunk: int, batch: int) -> tuple[dict, list[str]]:
    """A scan in chunks of `chunk` and batches of `batch`, its effects undone once read."""
    with monkeypatch.context() as patch:
        events = chunked(patch, chunk, batch)
        try:
            with transaction.atomic():
                run = scan()
                seen = state(run)
                raise Undo
        except Undo:
            pass
    return seen, events


def test_a_first_run_in_small_chunks_writes_each_chunk_before_the_next_and_the_same_leads(demo_city, monkeypatch):
    small, events = undone(monkeypatch, chunk=7, batch=5)
    assert events.count("read") > 5, "several chunks"
    # Streaming: leads are written before the last chunk is read.
    assert events.index("write") < len(events) - 1 - events[::-1].index("read")
    assert not Lead.objects.exists()
    whole = state(scan())
    assert whole["counts"]["leads_new"] > 100
    assert whole["explained"] == whole["counts"]["candidates"] == small["explained"]
    assert small == whole
    assert all(first and last for _, first, last in whole["leads"].values())


def test_a_run_in_small_chunks_keeps_the_leads_of_early_chunks_and_closes_only_the_vanished(demo_city, monkeypatch):
    first = scan()
    # The family with a 低保边缘 lead of the lowest household id is granted it: that lead vanishes.
    lead = Lead.objects.filter(programme__code="dibao_edge", status__in=OPEN_STATUSES).order_by("household_id").first()
    assert lead is not None
    status_begin(
        actor=demo_city["window_clerk"],
        household=lead.household,
        kind=StatusKind.DIBAO_EDGE,
        start=timezone.localdate(),
    )
    # Forget what every lead was explained from: every candidate household is explained again.
    Lead.objects.update(fingerprint="")
    earliest = Lead.objects.exclude(household=lead.household).order_by("household_id", "pk").first()

    small, events = undone(monkeypatch, chunk=7, batch=5)
    assert events.count("read") > 5
    whole_run = scan()
    whole = state(whole_run)
    assert small == whole
    assert whole["explained"] == whole_run.candidates
    lead.refresh_from_db()
    earliest.refresh_from_db()
    assert lead.status == LeadStatus.LAPSED and whole_run.leads_closed >= 1
    assert earliest.is_open and earliest.last_run_id == whole_run.pk
    open_now = Lead.objects.filter(status__in=OPEN_STATUSES).count()
    assert whole_run.leads_new + whole_run.leads_updated == open_now
    assert whole_run.leads_closed == Lead.objects.filter(status=LeadStatus.LAPSED).count()
    assert open_now + whole_run.leads_closed == first.leads_new + whole_run.leads_new
    # Every lead was rewritten (its fingerprint was blanked), none left as it was.
    assert whole_run.leads_unchanged == 0
