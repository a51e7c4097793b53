"""A first run (no leads yet) writes exactly the leads the window's own plan gives: every
field of every lead — programme, village, likelihood, amount, persons, reasons, missing facts,
facts with their sources — equals what `plan_evaluate` (all programmes, every reason
explained) and the scan's rules for a visit make of the same household, whatever shortcut the
explain step takes (only the candidates' reasons written) and however the upsert writes them
(COPY on PostgreSQL)."""

from __future__ import annotations

from collections import defaultdict

import pytest

from ejia.accounts.models import Division
from ejia.cases.matching import holdings_by_household, plan_evaluate
from ejia.catalogue.models import Programme
from ejia.catalogue.selectors import engine_for
from ejia.discovery.export import Reader, area_households, engine_inputs, sources_committed
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus, ScanRun
from ejia.discovery.scan import OFFERED, _finding, held_and_applied, scan_run, scan_start, worth_a_visit
from ejia.registry.models import Household

pytestmark = pytest.mark.django_db

FIELDS = (
    "source",
    "status",
    "division_id",
    "likelihood",
    "amount_fen",
    "persons",
    "reasons",
    "facts",
    "unknown_labels",
)


def expected_leads(area: Division, on) -> dict[tuple[int, int], dict]:
    """{(household, programme): lead fields} as the window's full plan of each household of
    `area` gives them: the entries worth a visit of programmes it neither holds nor applied for."""
    reader = Reader.for_area(area, on, sources_committed())
    ids = list(area_households(area))
    inputs = engine_inputs(reader, ids)
    holdings = holdings_by_household(ids, on)
    taken = held_and_applied(ids, on)
    programmes = {p.code: p for p in Programme.objects.select_related("department")}
    engine = engine_for(on)
    households = Household.objects.in_bulk(ids)
    out = {}
    for household_id, item in inputs.items():
        plan = plan_evaluate(engine_input=item, on=on, held=holdings[household_id])
        by_code = defaultdict(list)
        for entry in plan.entries:
            programme = programmes.get(entry.code)
            if (
                entry.code not in taken.get(household_id, set())
                and entry.outcome in OFFERED
                and worth_a_visit(entry, programme)
            ):
                by_code[entry.code].append(entry)
        for code, entries in by_code.items():
            f = _finding(
                households[household_id], item, programmes[code], engine.programmes[code], entries, plan.members
            )
            out[(household_id, programmes[code].pk)] = {
                "source": Lead.Source.SCAN,
                "status": LeadStatus.OPEN,
                "division_id": f.division_id,
                "likelihood": f.likelihood,
                "amount_fen": f.amount_fen,
                "persons": f.persons,
                "reasons": f.reasons,
                "facts": f.facts,
                "unknown_labels": f.unknown_labels,
            }
    return out


def test_a_first_run_writes_exactly_the_leads_of_the_windows_full_plan(demo_city):
    county = Division.objects.get(code="371602")
    run = scan_run(scan_id=scan_start(actor=demo_city["county_reviewer"], area=county, run=False).pk)
    assert run.status == ScanRun.Status.FINISHED and run.timings["explained_households"] == run.candidates
    written = {(row["household_id"], row["programme_id"]): row for row in Lead.objects.values()}
    expected = expected_leads(county, run.on)
    assert len(written) == run.leads_new > 100
    assert set(written) == set(expected)
    for key, fields in expected.items():
        row = written[key]
        assert {name: row[name] for name in FIELDS} == fields, key
        assert row["first_run_id"] == row["last_run_id"] == run.pk
        assert run.started_at <= row["created_at"] <= row["updated_at"] <= run.finished_at and row["public_id"]
        assert (row["assigned_to_id"], row["closed_at"], row["close_reason"], row["reported_name"]) == (
            None,
            None,
            "",
            "",
        )
    # Each household's leads carry one fingerprint naming every programme they were found for.
    by_household = defaultdict(list)
    for (household_id, _programme_id), row in written.items():
        by_household[household_id].append(row)
    for rows in by_household.values():
        assert len({r["fingerprint"] for r in rows}) == 1 and len(rows[0]["fingerprint"]) == 32
    # The reasons are the explained ones (never the label and result only).
    assert all(r["explanation"] for row in written.values() for r in row["reasons"])
    assert any(f["source"].startswith("部门数据") for row in written.values() for f in row["facts"])
    # The leads are the open ones and a second scan finds them all again, unchanged.
    second = scan_run(scan_id=scan_start(actor=None, area=county, run=False).pk)
    assert second.leads_new == 0 and second.leads_closed == 0 and second.leads_unchanged == len(written)
    assert Lead.objects.filter(status__in=OPEN_STATUSES).count() == len(written)


def test_new_leads_keep_every_character_of_their_texts(demo_city):
    """The COPY text format escapes backslashes, tabs and line breaks: a lead's texts come back
    exactly as written (on SQLite the same rows go through bulk_create)."""
    from django.utils import timezone

    from ejia.discovery.scan import _insert

    county = Division.objects.get(code="371602")
    run = scan_start(actor=None, area=county, run=False)
    household = Household.objects.filter(division__path__startswith=county.path).order_by("pk").first()
    programme = Programme.objects.order_by("code").first()
    odd = 'C:\\路径\t制表\n换行\r回车 \\N "引号" \\\\ 结束'
    row = {
        "source": Lead.Source.SCAN,
        "division_id": household.division_id,
        "household_id": household.pk,
        "programme_id": programme.pk,
        "first_run_id": run.pk,
        "last_run_id": run.pk,
        "likelihood": Lead.Likelihood.POSSIBLE,
        "amount_fen": None,
        "persons": [{"ref": "", "name": odd}],
        "reasons": [{"label": odd, "result": None, "explanation": odd}],
        "facts": [{"label": "收入", "who": odd, "value": "¥1,000.00", "source": "申报"}],
        "unknown_labels": [odd, "\\"],
        "fingerprint": "0" * 32,
    }
    _insert([row], timezone.now())
    lead = Lead.objects.get(household=household, programme=programme)
    assert {name: getattr(lead, name) for name in row if not name.endswith("_id")} == {
        name: value for name, value in row.items() if not name.endswith("_id")
    }
    assert (lead.status, lead.amount_fen, lead.assigned_to_id, lead.close_reason) == (LeadStatus.OPEN, None, None, "")
