"""The scan's set-based steps (`ejia/discovery/sets.py`): the outcomes worth a lead taken from
whole columns, what households hold and applied for read as one table, the stamp's digest of
what a household holds standing in for its holdings, and the one-statement stamp of the leads
left as they were."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.catalogue.models import Programme
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus, ScanRun
from ejia.discovery.scan import discovery_modes, held_and_applied, scan_run, scan_start
from ejia.discovery.selectors import lead_last_found
from ejia.discovery.services import lead_assign, lead_close
from ejia.discovery.sets import open_leads_table, taken_table, wanted_pairs

pytestmark = pytest.mark.django_db

Mode = Programme.DiscoveryMode


def county() -> Division:
    return Division.objects.get(code="371602")


def scan() -> ScanRun:
    return scan_run(scan_id=scan_start(actor=None, area=county(), run=False).pk)


def test_the_outcomes_worth_a_lead_are_those_the_discovery_mode_admits_row_by_row(demo_city, tmp_path):
    import duckdb

    from ejia.catalogue.selectors import engine_for
    from ejia.discovery.export import Reader, export_area, sources_committed

    on = timezone.localdate()
    export = export_area(Reader.for_area(county(), on, sources_committed()), county(), tmp_path)
    engine = engine_for(on)
    con = duckdb.connect()
    for table in ("households", "members", "standards"):
        con.read_parquet(str(export.folder / f"{table}.parquet")).create_view(table)
    result = engine.evaluate_bulk(con, on=on, amounts=())
    rows = result.to_pylist()
    modes = {code: discovery_modes().get(code, Mode.LIKELY) for code in engine.programmes}

    def count(code: str, outcome: str) -> int:
        return sum(row[f"{code}__outcome"] == outcome for row in rows)

    # The programme most households are eligible for is set to never: none of it is wanted. Of
    # the two with the most "possible" outcomes, one admits them and the other does not.
    never = max(modes, key=lambda code: count(code, "eligible"))
    maybe, only_likely = sorted((c for c in modes if c != never), key=lambda c: -count(c, "possibly_eligible"))[:2]
    assert count(never, "eligible") and count(maybe, "possibly_eligible") and count(only_likely, "possibly_eligible")
    modes.update({never: Mode.NEVER, maybe: Mode.LIKELY_AND_POSSIBLE, only_likely: Mode.LIKELY})
    possible = {code for code, mode in modes.items() if mode == Mode.LIKELY_AND_POSSIBLE}

    expected = set()
    for row in rows:
        for code, mode in modes.items():
            outcome = row[f"{code}__outcome"]
            if mode != Mode.NEVER and (outcome == "eligible" or (outcome == "possibly_eligible" and code in possible)):
                expected.add((row["household_id"], code, outcome))
    got = {(r["household_id"], r["code"], r["outcome"]) for r in wanted_pairs(result, modes).to_pylist()}
    assert got == expected
    assert any(code == maybe and outcome == "possibly_eligible" for _, code, outcome in got)
    assert not any(code == only_likely and outcome == "possibly_eligible" for _, code, outcome in got)
    assert not any(code == never for _, code, _ in got)


def test_what_households_hold_and_applied_for_read_as_one_table_is_what_the_window_reads(demo_city):
    scan()
    on = timezone.localdate()
    pairs = {(r["household_id"], r["code"]) for r in taken_table(county(), on).to_pylist()}
    held = held_and_applied(None, on, area=county())
    assert pairs and pairs == {(h, code) for h, codes in held.items() for code in codes}
    leads = open_leads_table(county()).to_pylist()
    assert leads and {tuple(r.values()) for r in leads} == set(
        Lead.objects.filter(status__in=OPEN_STATUSES).values_list(
            "pk", "household_id", "programme_id", "programme__code", "fingerprint"
        )
    )


def test_a_change_to_what_a_household_holds_explains_it_again_and_no_other(demo_city):
    from ejia.disbursement.models import Entitlement
    from ejia.disbursement.services import entitlement_change_amount, entitlement_create

    first = scan()
    # A household with leads starts to receive a programme it had no lead for (a new holding,
    # and a new programme taken: it is explained again on the next run, as every other is not).
    lead = Lead.objects.filter(status__in=OPEN_STATUSES, programme__code="elderly_allowance").first()
    assert lead is not None
    household = lead.household
    taken = held_and_applied([household.pk], timezone.localdate()).get(household.pk, set())
    programme = next(
        p
        for p in Programme.objects.filter(target=Programme.Target.HOUSEHOLD).exclude(leads__household=household)
        if p.pays_cash and p.code not in taken
    )
    month = timezone.localdate().replace(day=1)
    earlier = (month - dt.timedelta(days=1)).replace(day=1)
    entitlement = entitlement_create(
        actor=None, household=household, programme=programme, amount_fen=30000, start_month=earlier
    )
    baseline = scan()
    steady = scan()
    assert baseline.timings["explained_households"] == steady.timings["explained_households"] + 1
    assert first.timings["explained_households"] == first.candidates
    before = dict(Lead.objects.values_list("pk", "fingerprint"))

    # Only the amount changes from this month: the same programme taken, the same facts, the
    # same export fingerprint; what the household holds is not the same.
    entitlement_change_amount(
        actor=None, entitlement=entitlement, amount_fen=45000, from_month=month, reason="标准调整"
    )
    assert Entitlement.objects.filter(household=household, amount_fen=45000, status="active").exists()
    run = scan()
    assert run.timings["explained_households"] == steady.timings["explained_households"] + 1
    assert run.leads_new == 0 and run.leads_closed == 0
    after = dict(Lead.objects.values_list("pk", "fingerprint"))
    changed = {pk for pk in before if before[pk] != after[pk]}
    assert changed and changed == set(
        Lead.objects.filter(household=household, status__in=OPEN_STATUSES).values_list("pk", flat=True)
    )
    # And nothing changed since: the household is left as it is again.
    assert scan().timings["explained_households"] == steady.timings["explained_households"]


def test_a_lead_left_as_it_was_is_not_written_and_the_last_scan_that_found_it_is_derived(demo_city):
    clerk = demo_city["village_clerk"]
    first = scan()
    written = dict(Lead.objects.values_list("pk", "updated_at"))
    second = scan()
    assert second.leads_unchanged == len(written) and dict(Lead.objects.values_list("pk", "updated_at")) == written
    lead = Lead.objects.select_related("division", "last_run").get(
        pk=Lead.objects.filter(division=clerk.unit.division, status=LeadStatus.OPEN).values("pk")[:1]
    )
    assert lead.last_run == first and lead_last_found(lead) == second
    lead_assign(actor=clerk, lead_id=lead.pk, assignee_id=clerk.pk)
    lead_close(actor=clerk, lead_id=lead.pk, outcome=LeadStatus.DECLINED, reason="家人表示暂不需要")
    third = scan()
    lead.refresh_from_db()
    # Closed by the visit after the second scan: the third did not find it.
    assert lead.status == LeadStatus.DECLINED and lead_last_found(lead) == second
    # A scan of another county finds none of this county's leads.
    other = Division.objects.filter(level=Division.Level.COUNTY).exclude(pk=county().pk).first()
    scan_run(scan_id=scan_start(actor=None, area=other, run=False).pk)
    kept = Lead.objects.select_related("division", "last_run").filter(status__in=OPEN_STATUSES).first()
    assert lead_last_found(kept) == third
