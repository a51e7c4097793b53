"""The visit list is one card per family: a household's leads are handed out together, ranked
likely before possible, then by how many programmes and how much a month; a visitor waits on
at most `visit_cap()` families at a time, and a clerk asking for more reads why."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count
from django.urls import reverse

from conftest import race
from ejia.core.models import AuditEvent
from ejia.discovery import selectors
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus
from ejia.discovery.services import LeadError, households_waiting, lead_assign, lead_close
from ejia.discovery.tests.test_scan import scan

pytestmark = pytest.mark.django_db


def families(village, *, least: int = 1) -> list[int]:
    """Households of the village with at least `least` open leads, most leads first."""
    return list(
        Lead.objects.filter(division=village, status=LeadStatus.OPEN, household__isnull=False)
        .values("household_id")
        .annotate(n=Count("pk"))
        .filter(n__gte=least)
        .order_by("-n", "household_id")
        .values_list("household_id", flat=True)
    )


def a_lead_of(household_id: int) -> Lead:
    return Lead.objects.filter(household_id=household_id, status__in=OPEN_STATUSES).order_by("pk").first()


def test_a_family_is_handed_out_whole_and_shown_as_one_card(demo_city, client):
    scan()
    grid, clerk = demo_city["grid_worker"], demo_city["window_clerk"]
    household_id = families(grid.unit.division, least=2)[0]
    leads = list(Lead.objects.filter(household_id=household_id, status=LeadStatus.OPEN).order_by("pk"))
    assert len(leads) >= 2, "a family of the village is found for several programmes"

    lead_assign(actor=clerk, lead_id=leads[-1].pk, assignee_id=grid.pk)
    for lead in leads:
        lead.refresh_from_db()
        assert lead.status == LeadStatus.ASSIGNED and lead.assigned_to_id == grid.pk
    assert AuditEvent.objects.filter(action="discovery.lead_assign").count() == len(leads)
    # The same click again changes nothing.
    lead_assign(actor=clerk, lead_id=leads[0].pk, assignee_id=grid.pk)
    assert AuditEvent.objects.filter(action="discovery.lead_assign").count() == len(leads)

    client.force_login(grid)
    page = client.get(reverse("discovery:visits"))
    cards = page.context["cards"]
    assert len(cards) == 1 and {lead.pk for lead in cards[0].leads} == {lead.pk for lead in leads}
    html = page.content.decode()
    assert html.count('data-testid="visit"') == 1
    assert all(lead.programme.name in html for lead in leads)
    # The lead page names the family's other leads.
    detail = client.get(reverse("discovery:lead", args=[leads[0].public_id])).content.decode()
    assert all(lead.programme.name in detail for lead in leads[1:])


def test_the_townships_list_ranks_families_by_likelihood_then_programmes_then_money(demo_city, client):
    scan()
    clerk = demo_city["window_clerk"]
    qs = selectors.leads_for_user(clerk)
    rows = list(selectors.cards(qs))
    assert len(rows) == len({lead.household_id for lead in qs})
    assert len({row["programmes"] for row in rows}) > 1, "families differ in how many programmes they are found for"
    key = [(r["tier"], -r["programmes"], -(r["monthly_fen"] or 0), r["village"], r["card"]) for r in rows]
    assert key == sorted(key)
    # The first family has the most programmes of those with a likely lead.
    assert rows[0]["programmes"] == max(r["programmes"] for r in rows if r["tier"] == rows[0]["tier"])
    # The monthly figure is the leads' own amounts, a yearly or one-off amount as a twelfth.
    card = selectors.cards_of(qs, rows[:1])[0]
    expected = 0
    for lead in card.leads:
        period = lead.programme.amount_period
        expected += (lead.amount_fen or 0) if period == "month" else ((lead.amount_fen or 0) // 12 if period else 0)
    assert card.monthly_fen == expected

    client.force_login(clerk)
    page = client.get(reverse("discovery:leads"))
    shown = [c.lead.household_id for c in page.context["cards"]]
    assert shown == [r["card"] for r in rows[: len(shown)]]
    assert page.content.decode().count('data-testid="lead-card"') == len(shown)


def test_a_visitor_waits_on_at_most_the_cap_of_families(demo_city, client, settings):
    settings.EJIA_DISCOVERY_VISIT_CAP = 2
    scan()
    grid, clerk = demo_city["grid_worker"], demo_city["window_clerk"]
    first, second, third = families(grid.unit.division)[:3]
    lead_assign(actor=clerk, lead_id=a_lead_of(first).pk, assignee_id=grid.pk)
    lead_assign(actor=clerk, lead_id=a_lead_of(second).pk, assignee_id=grid.pk)
    with pytest.raises(LeadError, match="已有2户待走访家庭，达到每人2户的上限"):
        lead_assign(actor=clerk, lead_id=a_lead_of(third).pk, assignee_id=grid.pk)
    assert not Lead.objects.filter(household_id=third, assigned_to=grid).exists()

    # The clerk clicking 分派 reads the same message; nothing is handed out.
    client.force_login(clerk)
    lead = a_lead_of(third)
    page = client.post(reverse("discovery:assign", args=[lead.public_id]), {"assignee": grid.pk}, follow=True)
    assert "达到每人2户的上限" in page.content.decode()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.OPEN and lead.assigned_to is None

    # One family visited (every lead of it closed): there is room again.
    for done in Lead.objects.filter(household_id=first, assigned_to=grid, status=LeadStatus.ASSIGNED):
        lead_close(actor=grid, lead_id=done.pk, outcome=LeadStatus.DECLINED, reason="家人表示暂不需要")
    lead_assign(actor=clerk, lead_id=a_lead_of(third).pk, assignee_id=grid.pk)
    assert Lead.objects.filter(household_id=third, assigned_to=grid, status=LeadStatus.ASSIGNED).exists()


@pytest.mark.django_db(transaction=True)
def test_two_clerks_at_once_cannot_take_a_visitor_past_the_cap(demo_city, settings):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers anyway; the visitor's row lock matters on PostgreSQL")
    settings.EJIA_DISCOVERY_VISIT_CAP = 2
    scan()
    grid = demo_city["grid_worker"]
    township, village = demo_city["window_clerk"], demo_city["village_clerk"]
    waiting, second, third = families(grid.unit.division)[:3]
    lead_assign(actor=township, lead_id=a_lead_of(waiting).pk, assignee_id=grid.pk)

    # The township's window and the village clerk each hand the grid worker one more family at
    # the same moment: one place is left under the cap, so exactly one of them gets it.
    def by(clerk, household_id):
        def attempt():
            lead_assign(actor=clerk, lead_id=a_lead_of(household_id).pk, assignee_id=grid.pk)
            return f"assigned:{household_id}"

        return attempt

    outcomes = race(
        by(township, second), by(village, third), expected={LeadError: lambda exc: "refused:" + exc.message}
    )
    won = [o for o in outcomes if o.startswith("assigned:")]
    refused = [o for o in outcomes if o.startswith("refused:")]
    assert len(won) == 1 and len(refused) == 1, outcomes
    assert "李建国已有2户待走访家庭，达到每人2户的上限" in refused[0]
    assert households_waiting(grid) == {waiting, int(won[0].split(":")[1])}
    loser = third if won[0] == f"assigned:{second}" else second
    assert not Lead.objects.filter(household_id=loser).exclude(status=LeadStatus.OPEN).exists()
    assert not Lead.objects.filter(household_id=loser, assigned_to__isnull=False).exists()
    lost = [str(pk) for pk in Lead.objects.filter(household_id=loser).values_list("public_id", flat=True)]
    assert lost and not AuditEvent.objects.filter(action="discovery.lead_assign", object_id__in=lost).exists()
    # Every lead of the winning family went to the grid worker, each with its audit event.
    given = Lead.objects.filter(assigned_to=grid, status=LeadStatus.ASSIGNED)
    assert AuditEvent.objects.filter(action="discovery.lead_assign").count() == given.count()
