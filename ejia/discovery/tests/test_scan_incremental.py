"""The incremental scan: a household whose open leads were explained from exactly what the
scan sees now is not explained again (its leads only get the run stamped on them); a change
to one household explains that household again and rewrites its leads; a lead a visit closed
since makes the household be explained again, and closing vanished leads stays as it was."""

from __future__ import annotations

import pytest

from ejia.accounts.models import Division
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus, ScanRun
from ejia.discovery.scan import scan_run, scan_start
from ejia.discovery.selectors import lead_last_found
from ejia.discovery.services import lead_assign, lead_close
from ejia.registry.models import Person
from ejia.registry.services import person_ensure, person_id_number_reveal

pytestmark = pytest.mark.django_db

CONTENT = ("status", "likelihood", "amount_fen", "persons", "reasons", "facts", "unknown_labels", "fingerprint")


def scan() -> ScanRun:
    county = Division.objects.get(code="371602")
    return scan_run(scan_id=scan_start(actor=None, area=county, run=False).pk)


def leads() -> dict[int, tuple]:
    return {row[0]: row[1:] for row in Lead.objects.values_list("pk", "household_id", *CONTENT)}


def households_with_open_leads() -> int:
    return (
        Lead.objects.filter(source=Lead.Source.SCAN, status__in=OPEN_STATUSES).values("household_id").distinct().count()
    )


def test_a_second_scan_with_nothing_changed_explains_no_household_with_leads_and_keeps_every_lead(demo_city):
    first = scan()
    assert first.leads_new > 0 and first.leads_unchanged == 0
    assert first.timings["explained_households"] == first.candidates
    before = leads()
    assert all(row[-1] for row in before.values()), "every scan lead remembers what it was explained from"

    second = scan()
    # Only candidate households without any lead (the plan offered nothing worth a visit) are
    # explained again: there is no lead to remember them by.
    assert second.timings["explained_households"] == second.candidates - households_with_open_leads()
    assert second.timings["explained_households"] < first.candidates / 10
    assert second.leads_new == 0 and second.leads_closed == 0
    assert second.leads_updated == second.leads_unchanged == first.leads_new
    assert leads() == before
    # Not written again: they keep the run that explained them, and were found by the second.
    assert set(Lead.objects.values_list("last_run", flat=True)) == {first.pk}
    assert set(Lead.objects.values_list("first_run", flat=True)) == {first.pk}
    assert {lead_last_found(lead) for lead in Lead.objects.select_related("division", "last_run")} == {second}


def test_a_changed_household_is_explained_again_and_its_lead_rewritten_the_others_are_left(demo_city):
    clerk = demo_city["window_clerk"]
    scan()
    lead = Lead.objects.filter(programme__code="elderly_allowance", status__in=OPEN_STATUSES).first()
    assert lead is not None and lead.persons, "the small city has people over 80 without the allowance"
    baseline = scan()
    before = leads()

    # The registry corrects the elderly person's name (the window's own services).
    person = Person.objects.get(public_id=lead.persons[0]["ref"])
    number = person_id_number_reveal(actor=clerk, person=person, reason="更正姓名")
    person_ensure(actor=clerk, id_number=number, name=person.name + "更正", reason="更正姓名")

    run = scan()
    assert run.timings["explained_households"] == baseline.timings["explained_households"] + 1
    assert run.leads_new == 0 and run.leads_closed == 0
    lead.refresh_from_db()
    assert lead.is_open and lead.last_run_id == run.pk and lead_last_found(lead) == run
    assert lead.persons[0]["name"] == person.name + "更正"
    assert lead.fingerprint != before[lead.pk][-1]
    after = leads()
    # The household's leads all carry the new fingerprint; every other lead is as it was.
    mine = {pk for pk, row in before.items() if row[0] == lead.household_id}
    assert len({after[pk][-1] for pk in mine}) == 1
    assert {pk: row for pk, row in after.items() if pk not in mine} == {
        pk: row for pk, row in before.items() if pk not in mine
    }
    # The household's leads are rewritten (their new fingerprint at least); every other is unchanged.
    assert run.leads_unchanged == len(before) - len(mine)


def test_a_lead_closed_by_a_visit_has_its_household_explained_again_and_stays_closed(demo_city):
    clerk = demo_city["village_clerk"]
    scan()
    lead = Lead.objects.filter(division=clerk.unit.division, status=LeadStatus.OPEN).first()
    assert lead is not None, "the village clerk's village has leads"
    baseline = scan()
    lead_assign(actor=clerk, lead_id=lead.pk, assignee_id=clerk.pk)
    lead_close(actor=clerk, lead_id=lead.pk, outcome=LeadStatus.DECLINED, reason="家人表示暂不需要")

    run = scan()
    # The household's remaining leads no longer name every programme its explanation found.
    assert run.timings["explained_households"] == baseline.timings["explained_households"] + 1
    assert run.leads_new == 0 and run.leads_closed == 0
    lead.refresh_from_db()
    assert lead.status == LeadStatus.DECLINED
    # The last scan that found it is the one before the visit closed it.
    assert lead_last_found(lead) == baseline
    assert not Lead.objects.filter(
        household=lead.household, programme=lead.programme, status__in=OPEN_STATUSES
    ).exists()


def test_a_catalogue_change_explains_every_household_again(demo_city):
    from ejia.catalogue.models import Programme
    from ejia.catalogue.services import programme_update

    scan()
    assert scan().timings["explained_households"] < scan().candidates
    programme = Programme.objects.get(code="single_mother_aid")
    programme_update(actor=demo_city["centre_director"], programme=programme, discovery_mode="likely_possible")
    run = scan()
    assert run.timings["explained_households"] == run.candidates and run.leads_unchanged == 0


def test_a_changed_fact_label_explains_every_household_again_and_the_leads_show_it(demo_city, monkeypatch):
    import dataclasses

    from ejia.rules.facts import FACTS

    scan()
    lead = Lead.objects.filter(status__in=OPEN_STATUSES).exclude(facts=[]).first()
    assert lead is not None, "the small city's leads show the facts behind them"
    name = next(n for n, f in FACTS.items() if f.label == lead.facts[0]["label"])
    monkeypatch.setitem(FACTS, name, dataclasses.replace(FACTS[name], label=FACTS[name].label + "（新）"))
    run = scan()
    assert run.timings["explained_households"] == run.candidates and run.leads_unchanged == 0
    lead.refresh_from_db()
    assert any(f["label"] == FACTS[name].label for f in lead.facts)
