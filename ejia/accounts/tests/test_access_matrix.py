"""The authorisation matrix: every staff page, for every demo persona, GET and POST, says who may
see or do what. The table is written from the jobs (the issue's matrix), not from the policy
module, so a change to the policy that lets a role see more fails here until the table agrees.

Outcomes: "ok" (the page or the action's answer: 200, 400 for a form sent back with its errors,
or a redirect that is not to the login),
"purpose" (the auditor is asked for a stated purpose first), anything else is a refusal, which
must be the branded 403 page.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from ejia.accounts.policies import PUBLIC, purpose_token
from ejia.accounts.tests.urlwalk import routes
from ejia.accounts.tests.world import PERSONAS, build_world

pytestmark = pytest.mark.django_db

EVERYONE = frozenset(PERSONAS)
CASE_STAFF = frozenset({"window_clerk", "county_reviewer", "centre_director"})
CENTRE = frozenset({"county_reviewer", "centre_director"})
TOWNSHIPS = frozenset({"window_clerk", "window_clerk_other"})
VILLAGE = frozenset({"village_clerk", "grid_worker"})
AUDITOR = frozenset({"auditor"})
APPROVERS = frozenset({"approver_mz", "approver_yb", "approver_jy", "approver_zj"})
# Area-wide pages (lists, queues, starting points): the other township's clerk has them too.
HANDLERS = VILLAGE - {"grid_worker"} | TOWNSHIPS | CENTRE | APPROVERS
EDITORS = frozenset({"editor_mz", "editor_jy"})
LEADER = frozenset({"leader"})
DASHBOARD_READERS = CENTRE | TOWNSHIPS | APPROVERS | EDITORS | LEADER


def expectations(world) -> tuple[list[tuple], list[tuple]]:
    """(GET rows, POST rows): (url name, args, who may, who is asked for a purpose, POST data)."""
    o = world.objects
    village = world.staff["village_clerk"].unit.division

    def in_village(division) -> frozenset:
        """The village clerk handles what lies in her village (the grid worker does not handle)."""
        return frozenset({"village_clerk"}) if division.pk == village.pk else frozenset()

    def households_in_village(division) -> frozenset:
        return VILLAGE if division.pk == village.pk else frozenset()

    case = o["case"]
    proc_handlers = CASE_STAFF | in_village(o["procedure"].division)
    yb_handlers = CASE_STAFF | {"approver_yb"} | in_village(o["yb_procedure"].division)
    notice_readers = CASE_STAFF | in_village(o["notice"].village)
    ent_household = o["entitlement"].household
    token = purpose_token(case, reverse("cases:case_detail", args=[case.public_id]))
    notice_entry = str(o["notice"].entries.order_by("pk").first().procedure.public_id)

    get = [
        # Starting points and lists (filtered by the same policy as the details).
        ("accounts:home", [], EVERYONE, ()),
        ("cases:queue", [], VILLAGE | TOWNSHIPS | CENTRE, ()),
        ("cases:intake_start", [], VILLAGE | TOWNSHIPS, ()),
        ("cases:intake_household", [], VILLAGE | TOWNSHIPS, ()),
        ("cases:intake_needs", [], VILLAGE | TOWNSHIPS, ()),
        ("cases:intake_plan", [], VILLAGE | TOWNSHIPS, ()),
        ("cases:intake_authorise", [], VILLAGE | TOWNSHIPS, ()),
        ("cases:intake_materials", [], VILLAGE | TOWNSHIPS, ()),
        ("cases:id_reader_mock", [], VILLAGE | TOWNSHIPS, ()),
        ("registry:household_search", [], VILLAGE | TOWNSHIPS | CENTRE, ()),
        ("workflow:queue", [], HANDLERS, ()),
        ("workflow:notices", [], {"village_clerk"} | TOWNSHIPS | CENTRE, ()),
        ("catalogue:list", [], {"editor_mz", "editor_jy", "centre_director"}, ()),
        ("verification:sources", [], {"exchange_operator"}, ()),
        ("verification:reviews", [], CENTRE, ()),
        ("disbursement:batch_list", [], CENTRE, ()),
        ("disbursement:reviews_due", [], TOWNSHIPS | CENTRE, ()),
        ("accounts:audit_log", [], AUDITOR, ()),
        ("accounts:access_log", [], AUDITOR, ()),
        ("accounts:access_seal", [], AUDITOR | {"sysadmin"}, ()),
        ("accounts:ops_health", [], AUDITOR | {"sysadmin"}, ()),
        ("cases:outbox", [], CENTRE, ()),
        ("accounts:password_change", [], EVERYONE, ()),
        ("accounts:second_factor", [], EVERYONE, ()),
        ("accounts:second_factor_codes", [], EVERYONE, ()),
        ("accounts:session", [], EVERYONE, ()),
        ("accounts:staff_list", [], {"sysadmin"}, ()),
        ("accounts:staff_create", [], {"sysadmin"}, ()),
        ("accounts:staff_edit", [world.staff["window_clerk"].pk], {"sysadmin"}, ()),
        ("accounts:unit_list", [], {"sysadmin"}, ()),
        ("accounts:unit_options", [], {"sysadmin"}, ()),
        # DCI callbacks the partners did not take: the platform's plumbing, no person's data.
        ("dci:failed", [], {"sysadmin"}, ()),
        # A 低保-only case: its file is for the township window and the county centre; no
        # department is routed anything of it; the auditor reads it after stating a purpose.
        ("cases:case_detail", [case.public_id], CASE_STAFF, AUDITOR),
        ("cases:case_receipt", [case.public_id], CASE_STAFF, AUDITOR),
        ("cases:authorisation_image", [case.public_id, o["authorisation"].public_id], CASE_STAFF, AUDITOR),
        ("workflow:joint_review", [case.public_id], CASE_STAFF, AUDITOR),
        ("workflow:case_progress", [case.public_id], CASE_STAFF, AUDITOR),
        ("workflow:decision_pdf", [o["decided_case"].public_id], CASE_STAFF, AUDITOR),
        ("workflow:case_withdraw", [case.public_id], {"window_clerk"}, ()),
        # The village clerk's own case: hers to read and withdraw; the grid worker's station
        # neighbour did not start or hold it.
        ("cases:case_detail", [o["own_case"].public_id], CASE_STAFF | {"village_clerk"}, AUDITOR),
        ("cases:case_receipt", [o["own_case"].public_id], CASE_STAFF | {"village_clerk"}, AUDITOR),
        ("workflow:case_withdraw", [o["own_case"].public_id], {"window_clerk", "village_clerk"}, ()),
        # What the accepting clerk keeps of an application they took (全市通办): their own only.
        ("cases:intake_done", [o["own_case"].public_id], {"village_clerk"}, ()),
        ("cases:intake_done_receipt", [o["own_case"].public_id], {"village_clerk"}, ()),
        # The full one-click report: the case's handlers only.
        ("cases:verification", [case.public_id], CASE_STAFF, ()),
        ("cases:verification_panel", [case.public_id], CASE_STAFF, ()),
        ("cases:verification_pdf", [case.public_id], CASE_STAFF, ()),
        # The registry.
        (
            "registry:household_detail",
            [o["household"].public_id],
            CASE_STAFF | households_in_village(case.division),
            (),
        ),
        ("registry:household_detail", [o["own_household"].public_id], CASE_STAFF | VILLAGE, ()),
        # Handling: the 低保 request at its step; the 医保 request routed to the 医保 office.
        ("workflow:procedure", [o["procedure"].public_id], proc_handlers, ()),
        ("workflow:home_visit", [o["procedure"].public_id], proc_handlers, ()),
        ("workflow:self_care", [o["procedure"].public_id], proc_handlers, ()),
        ("workflow:home_visit_photo", [o["procedure"].public_id, o["photo"].pk], CASE_STAFF, ()),
        ("workflow:procedure", [o["yb_procedure"].public_id], yb_handlers, ()),
        ("workflow:notice", [o["notice"].public_id], notice_readers, ()),
        ("workflow:notice_pdf", [o["notice"].public_id], notice_readers, ()),
        # The catalogue: each department its own programmes; the centre all of them.
        ("catalogue:edit", [o["mz_programme"]], {"editor_mz", "centre_director"}, ()),
        ("catalogue:history", [o["mz_programme"]], {"editor_mz", "centre_director"}, ()),
        ("catalogue:whatif", [o["mz_programme"], o["whatif"].public_id], {"editor_mz", "centre_director"}, ()),
        ("catalogue:edit", [o["jy_programme"]], {"editor_jy", "centre_director"}, ()),
        # Department data.
        ("verification:upload", [o["source_code"]], {"exchange_operator"}, ()),
        ("verification:snapshot", [o["snapshot"].public_id], {"exchange_operator"}, ()),
        ("verification:rejected", [o["snapshot"].public_id, "csv"], {"exchange_operator"}, ()),
        ("verification:review_batch", [o["review_batch"].public_id], CENTRE, ()),
        # Money and dynamic management.
        ("disbursement:batch_detail", [o["batch"].public_id], CENTRE, ()),
        ("disbursement:batch_release", [o["batch"].public_id], CENTRE, ()),
        ("disbursement:batch_download", [o["batch"].public_id, "csv"], CENTRE, ()),
        ("disbursement:entitlement", [o["entitlement"].public_id], CASE_STAFF, ()),
        ("disbursement:review_complete", [o["entitlement"].public_id], CASE_STAFF, ()),
        ("disbursement:change_report_new", [ent_household.public_id], CASE_STAFF, ()),
        ("disbursement:change_report", [o["change_report"].public_id], CASE_STAFF, ()),
        ("disbursement:alert", [o["alert"].public_id], CASE_STAFF, ()),
        ("disbursement:recovery", [o["recovery"].public_id], CASE_STAFF, ()),
        ("disbursement:reverification_flag", [o["flag"].pk], CENTRE, ()),
        ("disbursement:held", [], CENTRE, ()),
        ("disbursement:household_account", [ent_household.public_id], CASE_STAFF, ()),
        # 主动发现: leads for the township, the village and the centre; the grid worker sees what
        # was handed to them or what they reported; the other township sees nothing of it.
        # Dashboards: aggregates of the viewer's area (a department's staff: its programmes only).
        ("dashboards:overview", [], DASHBOARD_READERS, ()),
        ("dashboards:area", ["371602"], CENTRE | APPROVERS | EDITORS | LEADER, ()),
        ("dashboards:area", [village.parent.code], CENTRE | APPROVERS | EDITORS | LEADER | {"window_clerk"}, ()),
        ("dashboards:area", ["371600"], EDITORS | LEADER, ()),
        ("dashboards:area", ["999999"], frozenset(), ()),
        # Its downloads (a table as CSV/XLSX, the monthly report) follow the page exactly.
        ("dashboards:export", ["371602", "money_trend.csv"], CENTRE | APPROVERS | EDITORS | LEADER, ()),
        (
            "dashboards:export",
            [village.parent.code, "money_trend.xlsx"],
            CENTRE | APPROVERS | EDITORS | LEADER | {"window_clerk"},
            (),
        ),
        ("dashboards:export", ["999999", "money_trend.csv"], frozenset(), ()),
        ("dashboards:report", ["371602"], CENTRE | APPROVERS | EDITORS | LEADER, ()),
        ("dashboards:report", [village.parent.code], CENTRE | APPROVERS | EDITORS | LEADER | {"window_clerk"}, ()),
        ("dashboards:report", ["371600"], EDITORS | LEADER, ()),
        ("discovery:leads", [], VILLAGE | TOWNSHIPS | CENTRE, ()),
        ("discovery:visits", [], VILLAGE | TOWNSHIPS, ()),
        ("discovery:report", [], VILLAGE, ()),
        ("discovery:lead", [o["lead"].public_id], VILLAGE | {"window_clerk"} | CENTRE, ()),
    ]
    post = [
        ("accounts:purpose", [], AUDITOR, (), {"token": token, "purpose": "审计抽查第12号"}),
        ("accounts:audit_verify", [], AUDITOR, (), {}),
        ("cases:outbox_retry", [o["message"].public_id], CENTRE, (), {}),
        ("dci:retry", [o["dci_delivery"].pk], {"sysadmin"}, (), {}),
        # Searches post what they look for (an ID or phone number stays out of the URL).
        ("registry:household_search", [], VILLAGE | TOWNSHIPS | CENTRE, (), {"q": "371602-20260501-0001"}),
        ("cases:queue", [], VILLAGE | TOWNSHIPS | CENTRE, (), {"q": "371602-20260501-0001"}),
        ("cases:outbox", [], CENTRE, (), {"q": "13812345678"}),
        ("accounts:password_change", [], EVERYONE, (), {}),
        ("accounts:staff_create", [], {"sysadmin"}, (), {}),
        ("accounts:staff_edit", [world.staff["window_clerk"].pk], {"sysadmin"}, (), {}),
        ("accounts:staff_password_reset", [world.staff["grid_worker"].pk], {"sysadmin"}, (), {}),
        ("accounts:second_factor", [], EVERYONE, (), {}),
        ("accounts:session", [], EVERYONE, (), {}),
        ("accounts:staff_second_factor_reset", [world.staff["grid_worker"].pk], {"sysadmin"}, (), {}),
        ("cases:intake_discard", [], VILLAGE | TOWNSHIPS, (), {}),
        ("cases:intake_submit", [], VILLAGE | TOWNSHIPS, (), {}),
        # (a persona before may have started a new check: re-run a source of the latest one)
        ("cases:verification_rerun", lambda: [case.public_id, latest_source(case)], CASE_STAFF, (), {}),
        ("cases:verification_start", [case.public_id], CASE_STAFF, (), {}),
        ("registry:person_reveal", [o["person"].public_id], CASE_STAFF, (), {"reason": "核对户籍"}),
        ("workflow:act", [o["yb_procedure"].public_id, "nonsense"], yb_handlers, (), {}),
        ("workflow:appraisal", [o["procedure"].public_id], proc_handlers, (), {}),
        ("workflow:notice", [o["notice"].public_id], {"window_clerk"}, (), {"procedure": notice_entry, "text": ""}),
        ("workflow:notice_publish", [], TOWNSHIPS, (), {}),
        ("workflow:claim", [], HANDLERS, (), {}),
        ("workflow:bulk_approve", [], HANDLERS, (), {}),
        ("workflow:joint_review", [case.public_id], CENTRE, (), {"opinion": ""}),
        ("workflow:case_withdraw", [case.public_id], {"window_clerk"}, (), {}),
        ("catalogue:check", [o["mz_programme"]], {"editor_mz", "centre_director"}, (), {}),
        ("catalogue:combinations_check", [o["mz_programme"]], {"editor_mz", "centre_director"}, (), {}),
        ("catalogue:whatif_start", [o["mz_programme"]], {"editor_mz", "centre_director"}, (), {}),
        ("verification:commit", [o["snapshot"].public_id], {"exchange_operator"}, (), {}),
        ("verification:review_start", [], CENTRE, (), {"county": "371602"}),
        ("disbursement:batch_return", [o["batch"].public_id], CENTRE, (), {}),
        ("disbursement:batch_reconcile", [o["batch"].public_id], CENTRE, (), {}),
        ("disbursement:batch_resume", [o["batch"].public_id], CENTRE, (), {}),
        ("disbursement:batch_recheck", [o["batch"].public_id], CENTRE, (), {}),
        ("disbursement:line_accept", [o["batch"].public_id, o["line"].reference], CENTRE, (), {}),
        ("disbursement:line_reissue", [o["batch"].public_id, o["line"].reference], CENTRE, (), {}),
        ("disbursement:held_decision_member", [o["held_decision"].pk], CENTRE, (), {}),
        ("disbursement:household_account", [ent_household.public_id], CASE_STAFF, (), {}),
        ("disbursement:batch_release", [o["batch"].public_id], CENTRE, (), {}),
        ("disbursement:review_complete", [o["entitlement"].public_id], CASE_STAFF, (), {}),
        ("disbursement:change_report", [o["change_report"].public_id], CASE_STAFF, (), {}),
        ("disbursement:alert", [o["alert"].public_id], CASE_STAFF, (), {}),
        ("disbursement:recovery", [o["recovery"].public_id], CASE_STAFF, (), {}),
        # A department comparison names a file, no person: whoever handles 动态管理 may rerun it.
        ("disbursement:scan_rerun", [o["scan"].public_id], TOWNSHIPS | CENTRE, (), {}),
        ("disbursement:entitlement", [o["entitlement"].public_id], CASE_STAFF, (), {}),
        ("disbursement:change_report_new", [ent_household.public_id], CASE_STAFF, (), {}),
        ("disbursement:reverification_flag", [o["flag"].pk], CENTRE, (), {}),
        ("verification:upload", [o["source_code"]], {"exchange_operator"}, (), {}),
        ("discovery:scan", [], CENTRE, (), {"area": "none"}),
        ("discovery:assign", [o["lead"].public_id], {"village_clerk", "window_clerk"} | CENTRE, (), {}),
        # The visit's outcome: whoever the lead is handed to (here its reporter) and the township window.
        ("discovery:outcome", [o["lead"].public_id], {"grid_worker", "window_clerk"}, (), {}),
        ("discovery:report", [], VILLAGE, (), {"village": "", "seen": ""}),
    ]
    return get, post


def latest_source(case) -> int:
    from ejia.cases.verify import case_latest_check

    return case_latest_check(case).sources.order_by("pk").first().pk


def outcome(response) -> str:
    if response.status_code == 302:
        return "login" if "/staff/login/" in response["Location"] else "ok"
    if response.status_code in (200, 400):
        return "ok"
    body = response.content.decode()
    if response.status_code == 403 and 'data-testid="purpose-required"' in body:
        return "purpose"
    if response.status_code == 403 and 'data-testid="forbidden"' in body:
        return "refused"
    return f"status {response.status_code}"


def expected(persona: str, allowed, purpose) -> str:
    if persona in allowed:
        return "ok"
    if persona in purpose:
        return "purpose"
    return "refused"


@pytest.fixture
def world(demo_city, settings):
    settings.EJIA_ID_READER_MOCK = True
    return build_world(demo_city)


def _walk(client, world, rows, method: str) -> list[str]:
    wrong = []
    for persona in PERSONAS:
        client.force_login(world.staff[persona])
        for row in rows:
            name, args, allowed, purpose = row[:4]
            url = reverse(name, args=args() if callable(args) else args)
            response = client.get(url) if method == "get" else client.post(url, row[4])
            got, want = outcome(response), expected(persona, allowed, purpose)
            if got != want:
                wrong.append(f"{method.upper()} {name} {args} as {persona}: {got}, expected {want}")
    return wrong


def test_every_staff_page_answers_each_persona_as_the_matrix_says(client, world):
    get, _ = expectations(world)
    wrong = _walk(client, world, get, "get")
    assert wrong == [], "\n".join(wrong)


def test_every_staff_action_answers_each_persona_as_the_matrix_says(client, world):
    _, post = expectations(world)
    wrong = _walk(client, world, post, "post")
    assert wrong == [], "\n".join(wrong)


def test_the_matrix_names_every_staff_url(demo_city, settings):
    """A new staff page cannot be added without saying here who may open it."""
    settings.EJIA_ID_READER_MOCK = True
    world = build_world(demo_city)
    get, post = expectations(world)
    named = {row[0] for row in get} | {row[0] for row in post}
    # Pages that only answer one of the methods are named under the other.
    staff = {r.name for r in routes() if r.capability != PUBLIC}
    assert staff - named == set()


def test_lists_show_only_what_the_viewer_may_open(client, world):
    """Every case the queue shows opens for that viewer; every household the search finds too."""
    for persona in ("village_clerk", "grid_worker", "window_clerk", "window_clerk_other", "county_reviewer"):
        client.force_login(world.staff[persona])
        html = client.get(reverse("cases:queue")).content.decode()
        links = re.findall(r'href="(/staff/cases/[0-9a-f-]{36}/)"', html)
        for link in links:
            assert client.get(link).status_code == 200, (persona, link)
        if persona == "village_clerk":
            assert links == [reverse("cases:case_detail", args=[world["own_case"].public_id])]
        if persona in ("grid_worker", "window_clerk_other"):
            assert links == []


def test_intake_never_shows_the_registry_of_a_person_outside_the_area(client, world):
    """Typing the ID number of a 市中街道 resident at 三河湖镇's window (全市通办) takes the
    application, but pre-fills nothing of the registry: no member, no village, no address."""
    from ejia.cases.intake import intake_prefill
    from ejia.core import crypto
    from ejia.registry.models import ID_PURPOSE

    person = world["person"]
    number = crypto.decrypt(person.id_number_ciphertext, purpose=ID_PURPOSE)
    data = intake_prefill(user=world.staff["window_clerk_other"], id_number=number)
    household = world["household"]
    division = household.division
    assert data["blind"] and len(data["members"]) == 1 and data["members"][0]["name"] == ""
    assert data["address"] == "" and data["household_facts"] == {}
    assert data["home_township"] == division.parent.name  # where the case goes, never the village
    client.force_login(world.staff["window_clerk_other"])
    client.post(reverse("cases:intake_start"), {"id_number": number})
    page = client.get(reverse("cases:intake_household")).content.decode()
    assert household.address and person.name
    assert division.name not in page and person.name not in page and household.address not in page
    client.force_login(world.staff["window_clerk_other"])
    html = client.post(reverse("registry:household_search"), {"q": number}, follow=True).content.decode()
    assert "不在您的数据权限范围内" in html and division.name not in html
