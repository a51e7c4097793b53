"""主动发现 on the phone: the nightly scan finds a family likely eligible for a programme it
neither receives nor asked for; the township hands the lead to 李建国, the village's grid
worker; on his phone (390 px) he opens 我的走访, reads why, visits, and starts the application,
which opens pre-filled from the registry with the programme ticked. The next scan does not
find the family twice, and a lead whose reason went away (the family got the status in the
meantime) closes itself and leaves his list."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from e2e.conftest import go, login, screenshot
from ejia.accounts.models import Division
from ejia.demo.staff import DEMO_PASSWORD
from ejia.discovery.models import OPEN_STATUSES, Lead, LeadStatus
from ejia.discovery.scan import scan_run, scan_start
from ejia.discovery.services import lead_assign
from ejia.registry.models import StatusKind
from ejia.registry.services import status_begin

pytestmark = pytest.mark.e2e

STATUS_OF = {"dibao_edge": StatusKind.DIBAO_EDGE, "expense_hardship": StatusKind.EXPENSE_HARDSHIP}


def scan():
    county = Division.objects.get(code="371602")
    return scan_run(scan_id=scan_start(actor=None, area=county, run=False).pk)


@pytest.fixture
def city(transactional_db, demo_city):
    return demo_city


def test_a_grid_worker_visits_a_discovered_family_and_starts_its_application(phone_page, live_server, city):
    page = phone_page
    first = scan()
    assert first.leads_new > 0
    grid, clerk = city["grid_worker"], city["window_clerk"]
    village = grid.unit.division
    in_village = Lead.objects.filter(division=village, status=LeadStatus.OPEN, likelihood=Lead.Likelihood.LIKELY)
    lead = in_village.exclude(programme__code__in=list(STATUS_OF)).order_by("pk").first()
    vanishing = in_village.filter(programme__code__in=list(STATUS_OF)).exclude(household=lead.household).first()
    assert lead is not None and vanishing is not None
    for item in (lead, vanishing):
        lead_assign(actor=clerk, lead_id=item.pk, assignee_id=grid.pk)
    head = lead.household.head()
    # The visit is to the family: each household's open leads went to him together.
    family = list(Lead.objects.filter(household=lead.household, status__in=OPEN_STATUSES))
    assert all(item.assigned_to_id == grid.pk for item in family)

    login(page, live_server, grid, password=DEMO_PASSWORD)
    page.goto(live_server.url + reverse("discovery:visits"))
    visits = page.get_by_test_id("visit")
    assert visits.count() == 2  # one card per household, however many programmes
    assert head.name in page.inner_text("[data-testid=visits]")
    card = visits.filter(has_text=head.name)
    assert card.get_by_test_id("card-programme").count() == len(family)
    assert all(item.programme.name in card.inner_text() for item in family)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    screenshot(page, "discovery-1-visits-phone")
    go(page, page.get_by_test_id("visit").filter(has_text=head.name).first)
    assert lead.programme.name in page.inner_text("[data-testid=lead-title]")
    reasons = page.inner_text("[data-testid=lead-reasons]")
    assert all(r["label"] in reasons for r in lead.reasons)
    screenshot(page, "discovery-2-lead-phone")

    # The visit: the family wants to apply. Two taps on the button start one application.
    page.get_by_test_id("start-application").dblclick()
    page.wait_for_url("**/intake/household/")
    assert head.name in page.inner_text("main")
    screenshot(page, "discovery-3-intake-prefilled")
    go(page, page.get_by_role("button", name="下一步：困难情况"))
    page.wait_for_url("**/intake/needs/")
    go(page, page.get_by_role("button", name="下一步：查看救助方案"))
    page.wait_for_url("**/intake/plan/")
    ticked = page.locator(f"input[name=programmes][value^='{lead.programme.code}']")
    assert ticked.count() >= 1 and ticked.first.is_checked()
    lead.refresh_from_db()
    assert lead.status == LeadStatus.APPLIED and lead.closed_by_id == grid.pk

    # The next night: the family with a started application is not found twice; the other
    # family has been granted the status its lead was about, so that lead closes itself.
    status_begin(
        actor=clerk,
        household=vanishing.household,
        kind=STATUS_OF[vanishing.programme.code],
        start=timezone.localdate(),
    )
    second = scan()
    assert second.leads_new == 0
    assert Lead.objects.filter(household=lead.household, programme=lead.programme).count() == 1
    vanishing.refresh_from_db()
    assert vanishing.status == LeadStatus.LAPSED
    # What is left on his list: the two families' other programmes, not the applied or lapsed ones.
    left = Lead.objects.filter(assigned_to=grid, status__in=OPEN_STATUSES)
    assert not left.filter(pk__in=[lead.pk, vanishing.pk]).exists()
    page.goto(live_server.url + reverse("discovery:visits"))
    assert page.get_by_test_id("visit").count() == len({item.household_id for item in left})
    assert page.get_by_test_id("card-programme").count() == left.count()
    page.goto(live_server.url + reverse("discovery:lead", args=[vanishing.public_id]))
    assert "线索已消失" in page.inner_text("[data-testid=lead-status]")
    screenshot(page, "discovery-4-lapsed")
