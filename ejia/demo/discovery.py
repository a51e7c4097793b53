"""The demo's first 主动发现 scan: the county of the demo township is scanned once, and a few
of the demo village's families are handed out, so the village clerk and the grid worker find
visits waiting on first start. Idempotent: a county scanned before is not scanned again, and
leads already handed out stay with whoever has them."""

from __future__ import annotations

from collections.abc import Callable

from ejia.accounts.models import Division, User
from ejia.demo.staff import DEMO_TOWNSHIP
from ejia.discovery.models import Lead, LeadStatus, ScanRun
from ejia.discovery.scan import scan_run, scan_start
from ejia.discovery.services import households_waiting, lead_assign

PER_VISITOR = 5


def demo_leads_ensure(*, log: Callable[[str], None] | None = None) -> ScanRun | None:
    log = log or (lambda line: None)
    county = Division.objects.get(code=DEMO_TOWNSHIP[:6])
    scan = ScanRun.objects.filter(area=county, status=ScanRun.Status.FINISHED).first()
    if scan is None:
        scan = scan_run(scan_id=scan_start(actor=None, area=county, run=False).pk)
        log(
            f"discovery: {scan.households} households scanned in {scan.timings.get('total')} s, +{scan.leads_new} leads"
        )
    clerk = User.objects.filter(username="window_clerk").first()
    village_staff = [User.objects.filter(username=name).first() for name in ("grid_worker", "village_clerk")]
    if clerk is None or not all(village_staff):
        return scan
    village = village_staff[0].unit.division
    for visitor in village_staff:
        # Five families each (a family's leads go to one visitor together).
        while len(households_waiting(visitor)) < PER_VISITOR:
            lead = (
                Lead.objects.filter(division=village, status=LeadStatus.OPEN, likelihood=Lead.Likelihood.LIKELY)
                .order_by("pk")
                .first()
            )
            if lead is None:
                break
            lead_assign(actor=clerk, lead_id=lead.pk, assignee_id=visitor.pk)
    return scan
