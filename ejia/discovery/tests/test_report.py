"""网格员上报: a short phone form becomes a lead of the village for the township, without an ID
number; a double tap makes one lead; the township window sees it, the other township does not."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ejia.core.models import AuditEvent
from ejia.discovery.models import Lead, LeadStatus

pytestmark = pytest.mark.django_db


def test_a_grid_worker_reports_a_family_without_an_id_number(client, demo_city):
    grid = demo_city["grid_worker"]
    village = grid.unit.division
    client.force_login(grid)
    form = {"village": village.code, "name": "", "address": "村西头第三户", "seen": "老人独居，冬天没有取暖"}
    first = client.post(reverse("discovery:report"), form)
    again = client.post(reverse("discovery:report"), form)
    assert first.status_code == again.status_code == 302
    lead = Lead.objects.get()
    assert lead.source == Lead.Source.REPORT and lead.household is None and lead.status == LeadStatus.OPEN
    assert lead.division == village and lead.reported_by == grid
    assert AuditEvent.objects.filter(action="discovery.lead_report").count() == 1
    # Nothing seen, or neither a name nor an address: the form says what is missing.
    empty = client.post(reverse("discovery:report"), {"village": village.code, "name": "", "address": "", "seen": "x"})
    assert empty.status_code == 400 and "姓名或住址" in empty.content.decode()
    assert Lead.objects.count() == 1

    client.force_login(demo_city["window_clerk"])
    assert "村西头第三户" in client.get(reverse("discovery:leads")).content.decode()
    client.force_login(demo_city["window_clerk_other"])
    assert "村西头第三户" not in client.get(reverse("discovery:leads")).content.decode()
    assert client.get(reverse("discovery:lead", args=[lead.public_id])).status_code == 403

    # The window hands it to the village clerk, who finds the family not in need and says why.
    clerk = demo_city["village_clerk"]
    client.force_login(demo_city["window_clerk"])
    client.post(reverse("discovery:assign", args=[lead.public_id]), {"assignee": clerk.pk})
    lead.refresh_from_db()
    assert lead.assigned_to == clerk and lead.status == LeadStatus.ASSIGNED
    client.force_login(clerk)
    url = reverse("discovery:outcome", args=[lead.public_id])
    client.post(url, {"outcome": LeadStatus.NOT_ELIGIBLE, "reason": ""})
    lead.refresh_from_db()
    assert lead.status == LeadStatus.ASSIGNED, "not eligible needs a reason"
    client.post(url, {"outcome": LeadStatus.NOT_ELIGIBLE, "reason": "子女每月赡养，已安装取暖设备"})
    client.post(url, {"outcome": LeadStatus.NOT_ELIGIBLE, "reason": "子女每月赡养，已安装取暖设备"})
    lead.refresh_from_db()
    assert lead.status == LeadStatus.NOT_ELIGIBLE and lead.closed_by == clerk
    assert AuditEvent.objects.filter(action="discovery.lead_not_eligible").count() == 1


def test_the_home_page_counts_the_visits_handed_out_and_the_leads_nobody_has_taken(client, demo_city):
    from ejia.accounts.work import work_items

    def counts(user) -> dict[str, int]:
        return {i.key: i.count for i in work_items(user) if i.key.startswith("lead")}

    grid, clerk, window = demo_city["grid_worker"], demo_city["village_clerk"], demo_city["window_clerk"]
    assert counts(clerk)["lead_visits"] == 0 and counts(window)["leads_unassigned"] == 0
    client.force_login(grid)
    village = grid.unit.division
    client.post(
        reverse("discovery:report"), {"village": village.code, "name": "", "address": "桥东第二户", "seen": "独居老人"}
    )
    lead = Lead.objects.get()
    # Reported and not yet taken: on the reporter's visit list and waiting at the window.
    assert counts(grid)["lead_visits"] == 1 and counts(window)["leads_unassigned"] == 1
    assert "leads_unassigned" not in counts(grid)
    assert counts(demo_city["window_clerk_other"])["leads_unassigned"] == 0
    client.force_login(window)
    client.post(reverse("discovery:assign", args=[lead.public_id]), {"assignee": clerk.pk})
    assert counts(clerk)["lead_visits"] == 1 and counts(window)["leads_unassigned"] == 0
    assert counts(grid)["lead_visits"] == 0
    client.force_login(clerk)
    home = client.get(reverse("accounts:home")).content.decode()
    assert "我的走访" in home and reverse("discovery:visits") in home
