"""The replay: follow the links of the staff pages as the window clerk, the county reviewer and
the centre director would, then open every page found as each of the other demo personas.

Whether a persona may see a page is decided here by an oracle written from the jobs (the issue's
matrix), over whatever object the URL names, not by the policy module. The test counts the
wrong 200s (a page shown to someone whose job does not need it) and the wrong refusals of the
three crawling personas' own pages, and wants both to be zero.
"""

from __future__ import annotations

import re
from collections import deque

import pytest
from django.urls import Resolver404, resolve

from ejia.accounts.tests.world import PERSONAS, build_world

pytestmark = pytest.mark.django_db

CRAWLERS = ("window_clerk", "county_reviewer", "centre_director")
MAX_PAGES = 80
HREF = re.compile(r'href="(/staff/[^"#?]*)(?:\?[^"]*)?"')
# The dashboards' drill-down pages (one per area: hundreds) would use up the crawl's budget; the
# access matrix checks them area by area. The crawl keeps each persona's own dashboard.
SKIP = ("/staff/logout/", "/staff/login/", "/staff/dashboards/3")

# Pages each job opens (namespace:name), whatever the object.
CASE_FILE = {
    "cases:case_detail",
    "cases:case_receipt",
    "cases:authorisation_image",
    "workflow:joint_review",
    "workflow:decision_pdf",
    "workflow:case_progress",
    "workflow:home_visit_photo",
}
REPORT = {"cases:verification", "cases:verification_panel", "cases:verification_pdf"}
HANDLING = {"workflow:queue", "workflow:procedure", "workflow:home_visit", "workflow:self_care"}
NOTICES = {"workflow:notices", "workflow:notice", "workflow:notice_pdf"}
DYNAMIC = {
    "disbursement:reviews_due",
    "disbursement:entitlement",
    "disbursement:review_complete",
    "disbursement:change_report_new",
    "disbursement:change_report",
    "disbursement:household_account",
    "disbursement:alert",
    "disbursement:recovery",
}
PAY = {
    "disbursement:held",
    "disbursement:household_account",
    "disbursement:batch_list",
    "disbursement:batch_detail",
    "disbursement:batch_release",
    "disbursement:batch_download",
}
REVERIFY = {"verification:reviews", "verification:review_batch", "disbursement:reverification_flag"}
INTAKE = {"cases:queue", "cases:intake_start", "registry:household_search"}
TOWNSHIP_JOB = (
    CASE_FILE | REPORT | HANDLING | NOTICES | DYNAMIC | INTAKE | {"registry:household_detail", "workflow:case_withdraw"}
)
COUNTY_JOB = CASE_FILE | REPORT | HANDLING | NOTICES | DYNAMIC | PAY | REVERIFY
COUNTY_JOB |= {"cases:queue", "registry:household_search", "registry:household_detail", "cases:outbox"}
LEADS = {"discovery:leads", "discovery:lead"}
VISITS = LEADS | {"discovery:visits"}
TOWNSHIP_JOB |= VISITS
COUNTY_JOB |= LEADS
DASHBOARDS = {"dashboards:overview", "dashboards:area"}
TOWNSHIP_JOB |= DASHBOARDS
COUNTY_JOB |= DASHBOARDS
JOBS = {
    "window_clerk": TOWNSHIP_JOB,
    "window_clerk_other": TOWNSHIP_JOB,
    "county_reviewer": COUNTY_JOB,
    "centre_director": COUNTY_JOB | {"catalogue:list", "catalogue:edit", "catalogue:history"},
    "village_clerk": {"cases:queue", "cases:intake_start", "registry:household_search", "registry:household_detail"}
    | CASE_FILE
    | HANDLING
    | NOTICES
    | VISITS
    | {"workflow:case_withdraw", "discovery:report"},
    "grid_worker": {"cases:queue", "cases:intake_start", "registry:household_search", "registry:household_detail"}
    | CASE_FILE
    | VISITS
    | {"discovery:report"},
    "approver_mz": {"workflow:queue", "workflow:procedure"} | DASHBOARDS,
    "approver_yb": {"workflow:queue", "workflow:procedure"} | DASHBOARDS,
    "approver_jy": {"workflow:queue", "workflow:procedure"} | DASHBOARDS,
    "approver_zj": {"workflow:queue", "workflow:procedure"} | DASHBOARDS,
    "editor_mz": {"catalogue:list", "catalogue:edit", "catalogue:history"} | DASHBOARDS,
    "editor_jy": {"catalogue:list", "catalogue:edit", "catalogue:history"} | DASHBOARDS,
    "exchange_operator": {"verification:sources", "verification:upload", "verification:snapshot"},
    "auditor": {"accounts:audit_log", "accounts:access_log"},
    "sysadmin": {
        "accounts:staff_list",
        "accounts:staff_create",
        "accounts:staff_edit",
        "accounts:unit_list",
        "dci:failed",
    },
    "leader": DASHBOARDS,
}


def _object(match):
    """The object a staff URL names, and its division (None for pages without one)."""
    from ejia.cases.models import Case
    from ejia.cases.workflow.models import PublicNotice, RequestProcedure
    from ejia.catalogue.models import Programme
    from ejia.disbursement.models import ChangeReport, DynamicAlert, Entitlement, PaymentBatch, Recovery
    from ejia.discovery.models import Lead
    from ejia.registry.models import Household
    from ejia.verification.models import ReverificationBatch, ReverificationFlag

    kw, name = match.kwargs, match.view_name
    if "code" in kw:
        return Programme.objects.get(code=kw["code"]), None
    if "flag_id" in kw:
        flag = ReverificationFlag.objects.get(pk=kw["flag_id"])
        return flag, flag.household.division
    if "household_id" in kw:
        household = Household.objects.get(public_id=kw["household_id"])
        return household, household.division
    if "public_id" not in kw:
        return None, None
    pid = kw["public_id"]
    model = {
        "discovery": Lead,
        "cases": Case,
        "registry": Household,
        "verification": ReverificationBatch,
    }.get(name.split(":")[0])
    if name.startswith("workflow:"):
        if name in ("workflow:notice", "workflow:notice_pdf"):
            notice = PublicNotice.objects.get(public_id=pid)
            return notice, notice.village
        # /staff/work/r/<procedure>/… and /staff/work/case/<case>/…
        procedure = RequestProcedure.objects.filter(public_id=pid).first()
        if procedure is not None:
            return procedure, procedure.division
        case = Case.objects.get(public_id=pid)
        return case, case.division
    if name.startswith("disbursement:"):
        if name.startswith("disbursement:batch"):
            batch = PaymentBatch.objects.get(public_id=pid)
            return batch, batch.county
        if name == "disbursement:change_report":
            report = ChangeReport.objects.get(public_id=pid)
            return report, report.household.division
        if name in ("disbursement:alert", "disbursement:recovery"):
            row = (DynamicAlert if name == "disbursement:alert" else Recovery).objects.get(public_id=pid)
            return row, row.household.division
        entitlement = Entitlement.objects.get(public_id=pid)
        return entitlement, entitlement.household.division
    obj = model.objects.get(public_id=pid)
    return obj, getattr(obj, "division", None) or getattr(obj, "county", None)


def may_see(user, path: str) -> bool:
    """The oracle: the job needs the page, and the object lies where the job reaches."""
    from ejia.cases.models import Case
    from ejia.cases.workflow.models import RequestProcedure, StepRecord
    from ejia.catalogue.models import Programme
    from ejia.discovery.models import Lead

    match = resolve(path)
    if match.view_name in ("accounts:home", "accounts:password_change"):
        return True
    if match.view_name not in JOBS[user.username]:
        return False
    obj, division = _object(match)
    unit = user.unit
    if division is not None and not division.path.startswith(unit.division.path):
        return False
    if isinstance(obj, Programme):
        return user.username == "centre_director" or obj.department_id == unit.department_id
    if user.username in ("village_clerk", "grid_worker") and isinstance(obj, Case):
        return obj.submitted_by_id == user.pk
    if user.username == "grid_worker" and isinstance(obj, Lead):
        return user.pk in (obj.assigned_to_id, obj.reported_by_id)
    if user.username.startswith("approver_") and isinstance(obj, RequestProcedure):
        return (
            obj.acting_unit.department_id == unit.department_id
            or StepRecord.objects.filter(procedure=obj, unit__department_id=unit.department_id).exists()
        )
    return True


def crawl(client, user) -> set[str]:
    client.force_login(user)
    seen: set[str] = set()
    found: set[str] = set()
    queue = deque(["/staff/"])
    while queue and len(seen) < MAX_PAGES:
        path = queue.popleft()
        if path in seen:
            continue
        seen.add(path)
        response = client.get(path)
        if response.status_code != 200:
            continue
        found.add(path)
        if not response.get("Content-Type", "").startswith("text/html"):
            continue
        for link in HREF.findall(response.content.decode()):
            if link not in seen and not link.startswith(SKIP):
                try:
                    resolve(link)
                except Resolver404:
                    continue
                queue.append(link)
    return found


@pytest.fixture
def world(demo_city, settings):
    settings.EJIA_ID_READER_MOCK = True
    return build_world(demo_city)


def test_replaying_every_page_the_centre_staff_reach_gives_no_wrong_200(client, world):
    pages: set[str] = set()
    for name in CRAWLERS:
        pages |= crawl(client, world.staff[name])
    # The crawl reaches the objects of every kind the three jobs handle.
    kinds = {resolve(p).view_name for p in pages}
    assert {"cases:case_detail", "workflow:procedure", "registry:household_detail"} <= kinds
    assert {"cases:verification", "workflow:decision_pdf", "disbursement:batch_detail"} <= kinds
    wrong_200, wrong_refusals, replayed = [], [], 0
    for persona in PERSONAS:
        user = world.staff[persona]
        client.force_login(user)
        for path in sorted(pages):
            status = client.get(path).status_code
            replayed += 1
            allowed = may_see(user, path)
            if status == 200 and not allowed:
                wrong_200.append(f"{persona} {path} ({resolve(path).view_name})")
            if persona in CRAWLERS and allowed and status != 200:
                wrong_refusals.append(f"{persona} {path} ({resolve(path).view_name}): {status}")
    print(f"replayed {replayed} requests over {len(pages)} pages: {len(wrong_200)} wrong 200s")
    assert wrong_200 == [], "\n".join(wrong_200)
    assert wrong_refusals == [], "\n".join(wrong_refusals)
