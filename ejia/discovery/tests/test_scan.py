"""The scan over the small city: leads for what families neither receive nor applied for, one
row per (household, programme) across runs, closed when the reason goes away, and not found
again within the cool-off after the family said no."""

from __future__ import annotations

import pytest
from django.utils import timezone

from ejia.accounts.models import Division
from ejia.cases.matching import holdings_by_household, household_holdings
from ejia.core.models import AuditEvent
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus, ScanRun
from ejia.discovery.scan import held_and_applied, scan_run, scan_start
from ejia.discovery.services import LeadError, lead_assign, lead_close
from ejia.registry.models import Household, StatusKind
from ejia.registry.services import status_begin

pytestmark = pytest.mark.django_db


def scan(actor=None) -> ScanRun:
    county = Division.objects.get(code="371602")
    return scan_run(scan_id=scan_start(actor=actor, area=county, run=False).pk)


def test_a_scan_finds_leads_with_reasons_and_facts_and_never_what_a_family_holds(demo_city):
    run = scan(demo_city["county_reviewer"])
    assert run.status == ScanRun.Status.FINISHED
    assert run.households > 100 and run.leads_new > 0
    assert set(run.timings) >= {"export", "read", "evaluate", "explain", "upsert", "total", "peak_rss_mb"}
    assert {"export_pull", "export_build", "export_write", "export_fingerprints"} <= set(run.timings)
    leads = list(Lead.objects.select_related("programme", "household"))
    assert len(leads) == run.leads_new
    held = held_and_applied([lead.household_id for lead in leads], run.on)
    assert all(lead.programme.code not in held.get(lead.household_id, set()) for lead in leads)
    likely = [lead for lead in leads if lead.likelihood == Lead.Likelihood.LIKELY]
    assert likely, "the small city has families likely eligible for something they do not get"
    for lead in likely:
        assert lead.reasons and all(r["result"] is not False for r in lead.reasons)
    # The facts behind the reasons carry their source (registry or a department's data).
    sourced = [f for lead in leads for f in lead.facts]
    assert any(f["source"].startswith("部门数据") for f in sourced)
    # Households that receive a status programme never get a lead for it.
    dibao_holders = set(
        Lead.objects.filter(household__statuses__kind=StatusKind.DIBAO, household__statuses__end__isnull=True)
        .values_list("household_id", flat=True)
        .distinct()
    )
    assert not Lead.objects.filter(household_id__in=dibao_holders, programme__code="dibao").exists()
    assert run.by_programme and sum(run.by_programme.values()) == run.leads_new
    assert AuditEvent.objects.filter(action="discovery.scan_source_query").exists()
    # The scan reads what families hold set-based: the same holdings as the window's reader.
    households = list(Household.objects.filter(division__path__startswith=run.area.path))
    together = holdings_by_household([h.pk for h in households], run.on)
    assert any(together.values()), "the small city has families that receive something"
    # (the same holdings; the order of a household's rows is not part of the contract)
    assert {k: sorted(v, key=repr) for k, v in together.items()} == {
        h.pk: sorted(household_holdings(h, run.on), key=repr) for h in households
    }


def test_a_second_scan_updates_the_same_leads_and_closes_those_whose_reason_went_away(demo_city):
    first = scan()
    before = set(Lead.objects.values_list("pk", flat=True))
    second = scan()
    assert second.leads_new == 0 and second.leads_updated == first.leads_new and second.leads_closed == 0
    assert set(Lead.objects.values_list("pk", flat=True)) == before
    # A family found for 低保边缘 is granted it: the next scan closes that lead, and only that one.
    lead = Lead.objects.filter(programme__code="dibao_edge", status__in=OPEN_STATUSES).first()
    assert lead is not None
    status_begin(
        actor=demo_city["window_clerk"],
        household=lead.household,
        kind=StatusKind.DIBAO_EDGE,
        start=timezone.localdate(),
    )
    third = scan()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.LAPSED and lead.closed_at is not None
    assert third.leads_closed >= 1
    assert AuditEvent.objects.filter(action="discovery.lead_lapse", object_id=str(lead.public_id)).exists()
    assert not Lead.objects.filter(
        household=lead.household, programme__code="dibao_edge", status__in=OPEN_STATUSES
    ).exists()


def test_a_family_that_declined_is_not_found_again_within_the_cool_off(demo_city):
    scan()
    clerk = demo_city["village_clerk"]
    lead = Lead.objects.filter(division=clerk.unit.division, status=LeadStatus.OPEN).first()
    assert lead is not None, "the village clerk's village has leads"
    lead_assign(actor=clerk, lead_id=lead.pk, assignee_id=clerk.pk)
    with pytest.raises(LeadError, match="原因"):
        lead_close(actor=clerk, lead_id=lead.pk, outcome=LeadStatus.NOT_ELIGIBLE, reason=" ")
    lead_close(actor=clerk, lead_id=lead.pk, outcome=LeadStatus.DECLINED, reason="家人表示暂不需要")
    # The same click again changes nothing; another outcome is refused.
    lead_close(actor=clerk, lead_id=lead.pk, outcome=LeadStatus.DECLINED)
    with pytest.raises(LeadError):
        lead_close(actor=clerk, lead_id=lead.pk, outcome=LeadStatus.NOT_ELIGIBLE, reason="已外出务工")
    assert AuditEvent.objects.filter(action="discovery.lead_declined").count() == 1
    again = scan()
    assert again.leads_new == 0
    assert not Lead.objects.filter(
        household=lead.household, programme=lead.programme, status__in=OPEN_STATUSES
    ).exists()


def editor_sets_discovery_mode(client, editor, code: str, mode: str) -> None:
    """The programme's editor changes its 主动发现 setting on the editor page (项目维护)."""
    from django.urls import reverse

    client.force_login(editor)
    url = reverse("catalogue:edit", args=[code])
    form = client.get(url).context["text_form"]
    data = {"form": "text"}
    for field in form:
        value = form.initial.get(field.name, "")
        data[field.html_name] = field.field.prepare_value(value) if hasattr(field.field, "prepare_value") else value
    data["text-discovery_mode"] = mode
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[-2000:]


def test_a_programme_set_to_never_closes_its_leads_on_the_next_scan_and_comes_back_when_set_again(demo_city, client):
    from ejia.catalogue.models import Programme

    scan()
    mine = Lead.objects.filter(programme__code="elderly_allowance", status__in=OPEN_STATUSES)
    found = set(mine.values_list("pk", flat=True))
    assert found, "the small city has people over 80 without the allowance"
    others = set(Lead.objects.filter(status__in=OPEN_STATUSES).exclude(pk__in=found).values_list("pk", flat=True))

    editor_sets_discovery_mode(client, demo_city["editor_mz"], "elderly_allowance", Programme.DiscoveryMode.NEVER)
    event = AuditEvent.objects.get(action="catalogue.programme_update", actor=demo_city["editor_mz"])
    assert event.data == {"discovery_mode": "never"}

    run = scan()
    assert run.leads_new == 0 and run.leads_closed == len(found)
    assert not mine.exists()
    for lead in Lead.objects.filter(pk__in=found):
        assert lead.status == LeadStatus.LAPSED and "不列主动发现线索" in lead.close_reason
    assert set(Lead.objects.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True)) == others
    assert "elderly_allowance" not in run.by_programme

    # Set back: the scan finds the families again (a lapsed lead is no cool-off).
    editor_sets_discovery_mode(client, demo_city["editor_mz"], "elderly_allowance", Programme.DiscoveryMode.LIKELY)
    again = scan()
    assert again.leads_new == len(found) and mine.count() == len(found)


def test_possible_leads_come_and_go_with_the_programmes_discovery_mode(demo_city):
    from ejia.catalogue.models import Programme
    from ejia.catalogue.services import programme_update

    # 单亲母亲帮扶 lists likely families only: single mothers whose income is unknown are not leads.
    single_mother = Programme.objects.get(code="single_mother_aid")
    assert single_mother.discovery_mode == Programme.DiscoveryMode.LIKELY
    scan()
    possible = Lead.objects.filter(
        programme=single_mother, likelihood=Lead.Likelihood.POSSIBLE, status__in=OPEN_STATUSES
    )
    assert not possible.exists()
    staying = set(Lead.objects.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True))

    director = demo_city["centre_director"]
    programme_update(actor=director, programme=single_mother, discovery_mode="likely_possible")
    found = scan()
    opened = set(possible.values_list("pk", flat=True))
    assert opened and found.leads_new == len(opened)
    # Every possible lead rests on a criterion positively met (here: a single mother).
    assert all(any(r["result"] is True for r in lead.reasons) for lead in possible)

    programme_update(actor=director, programme=single_mother, discovery_mode="likely")
    run = scan()
    assert run.leads_closed == len(opened) and run.leads_new == 0
    assert all(
        lead.status == LeadStatus.LAPSED and "只列“可能符合”" in lead.close_reason
        for lead in Lead.objects.filter(pk__in=opened)
    )
    assert set(Lead.objects.filter(status__in=OPEN_STATUSES).values_list("pk", flat=True)) == staying


def test_the_seed_keeps_programmes_delivered_without_an_application_off_the_visit_list(demo_city):
    from ejia.catalogue.models import Programme
    from ejia.catalogue.services import programme_update

    never = set(Programme.objects.filter(discovery_mode="never").values_list("code", flat=True))
    assert {"legal_aid", "skills_training_subsidy", "medical_premium_subsidy"} <= never
    run = scan()
    assert not Lead.objects.filter(programme__code__in=never).exists()
    assert not set(run.by_programme) & never
    # The same families are found as soon as the catalogue lists the programme again.
    skills = Programme.objects.get(code="skills_training_subsidy")
    programme_update(actor=demo_city["centre_director"], programme=skills, discovery_mode="likely")
    assert scan().by_programme.get("skills_training_subsidy", 0) > 0
