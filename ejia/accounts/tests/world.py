"""The demo world for the access tests: the demo city, its ten demo cases walked through the real
workflow, and one object of every kind a staff URL names, each made by the project's services.

`build_world()` needs the `demo_city` fixture to have run (it returns the demo staff).
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from ejia.accounts.models import Division, User

# Everyone who logs into the demo, by the name the demo prints.
PERSONAS = (
    "village_clerk",
    "grid_worker",
    "window_clerk",
    "window_clerk_other",
    "county_reviewer",
    "centre_director",
    "approver_mz",
    "approver_yb",
    "approver_jy",
    "approver_zj",
    "editor_mz",
    "editor_jy",
    "exchange_operator",
    "auditor",
    "sysadmin",
    "leader",
)


@dataclass
class World:
    staff: dict[str, User]
    objects: dict[str, object] = field(default_factory=dict)

    def __getitem__(self, key: str):
        return self.objects[key]


def _jpeg() -> SimpleUploadedFile:
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 180, 160)).save(buf, format="JPEG")
    return SimpleUploadedFile("visit.jpg", buf.getvalue(), content_type="image/jpeg")


def build_world(staff: dict[str, User]) -> World:
    from ejia.cases.models import Case
    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application
    from ejia.cases.verify import case_latest_check
    from ejia.cases.workflow import services as wf
    from ejia.cases.workflow.models import Decision, DecisionNotice, HomeVisitPhoto, PublicNotice, RequestProcedure
    from ejia.catalogue.models import Programme
    from ejia.core.models import OutboxMessage
    from ejia.demo.cases import demo_cases_ensure
    from ejia.disbursement.alerts import alert_upsert, alerts_scan
    from ejia.disbursement.batches import batch_build
    from ejia.disbursement.departures import recoveries_after_death
    from ejia.disbursement.dynamic import change_report_create
    from ejia.disbursement.models import (
        AlertReason,
        ChangeReport,
        DynamicAlert,
        Entitlement,
        Recovery,
        add_months,
        month_start,
    )
    from ejia.disbursement.services import entitlement_create
    from ejia.verification.models import SourceSnapshot
    from ejia.verification.tests.factories import flagged_batch

    demo_cases_ensure()
    world = World(staff=staff)
    o = world.objects
    village = staff["village_clerk"].unit.division

    def case(key: str) -> Case:
        return Case.objects.get(idempotency_key=key)

    # A 低保-only case with its one-click check finished, waiting for the home visit.
    o["case"] = case("demo-case-3")
    o["household"] = o["case"].household
    o["person"] = o["case"].applicant
    o["check"] = case_latest_check(o["case"])
    o["check_source"] = o["check"].sources.order_by("pk").first()
    o["authorisation"] = o["case"].authorisations.order_by("pk").first()
    o["procedure"] = RequestProcedure.objects.get(case=o["case"])
    # The home visit is recorded (with a photo) by the township clerk and the village clerk.
    wf.home_visit_record(
        actor=staff["window_clerk"],
        procedure_id=o["procedure"].pk,
        visit_date=timezone.localdate(),
        staff_1=staff["window_clerk"],
        staff_2=staff["village_clerk"],
        findings="家中陈设简陋，无贵重物品。",
        photos=[_jpeg()],
    )
    o["photo"] = HomeVisitPhoto.objects.get(visit__procedure=o["procedure"])
    # A case with a 医保 and an 教育 request routed to the departments, nothing for 民政 or 住建.
    o["dept_case"] = case("demo-case-7")
    o["yb_procedure"] = RequestProcedure.objects.get(case=o["dept_case"], request__programme__code="medical_aid")
    o["notice"] = PublicNotice.objects.order_by("pk").first()
    o["decided_case"] = DecisionNotice.objects.get().case
    # A case the village clerk accepted herself at her station.
    o["own_case"] = case_submit(
        actor=staff["village_clerk"],
        channel="window",
        idempotency_key="matrix-own-case",
        data=application(township=village.parent.code),
    )
    o["own_household"] = o["own_case"].household
    # Department data and the catalogue.
    o["snapshot"] = SourceSnapshot.objects.filter(status=SourceSnapshot.Status.COMMITTED).order_by("pk").first()
    o["source_code"] = o["snapshot"].source.code
    o["mz_programme"] = "dibao"
    o["jy_programme"] = "edu_compulsory"
    # A draft of 低保 with a what-if recorded (not run): the what-if pages are the editor's.
    from ejia.catalogue.services import programme_draft_create
    from ejia.discovery.whatif import whatif_start

    dibao = Programme.objects.get(code="dibao")
    published = dibao.versions.filter(status="published").order_by("-number").first()
    draft = programme_draft_create(
        actor=staff["editor_mz"],
        programme=dibao,
        criteria=[{"label": c["label"], "expr": c["expr"]} for c in published.criteria],
        amount_expr=published.amount_expr,
        effective_from=timezone.localdate(),
        change_note="矩阵测试草稿",
    )
    o["whatif"] = whatif_start(actor=staff["editor_mz"], version=draft, run=False)
    # Money: the decided case's approvals become entitlements in the county's next batch.
    county = Division.objects.get(code="371602")
    period = add_months(month_start(timezone.localdate()), 1)
    # A member's own benefit paid for next month, then the member's death this month: the paid
    # month is listed for recovery (待追回).
    ent_household = Entitlement.objects.filter(household=o["decided_case"].household).first().household
    member = ent_household.current_memberships().order_by("pk").first().person
    entitlement_create(
        actor=staff["county_reviewer"],
        household=ent_household,
        programme=Programme.objects.get(code="disability_living_subsidy"),
        person=member,
        amount_fen=9000,
        start_month=period,
    )
    o["batch"] = batch_build(actor=staff["county_reviewer"], county=county, period=period)
    recoveries_after_death(person=member, died_on=timezone.localdate())
    o["recovery"] = Recovery.objects.get(person=member)
    o["entitlement"] = Entitlement.objects.filter(household=o["decided_case"].household).order_by("pk").first()
    o["line"] = o["batch"].lines.order_by("pk").first()
    # The 教育 office decides its grant after the batch was built: an approved cash decision that
    # waits for the next batch to become an entitlement (listed under 暂缓和待处理).
    jy = staff["approver_jy"]
    step = RequestProcedure.objects.get(case=o["dept_case"], request__programme__code__startswith="edu_")
    wf.procedure_approve(
        actor=jy,
        procedure_id=step.pk,
        expected_version=None,
        amount_fen=wf.proposed_amount(step) or 100000,
        amount_change_reason="按学段标准核定",
    )
    o["held_decision"] = Decision.objects.get(procedure=step)  # (held once the case is decided)
    o["change_report"] = change_report_create(
        actor=staff["window_clerk"],
        household=o["entitlement"].household,
        kind=ChangeReport.Kind.OTHER,
        effective_on=timezone.localdate() - dt.timedelta(days=3),
        details={"note": "家庭成员找到工作"},
    )
    o["alert"] = DynamicAlert.objects.get(
        pk=alert_upsert(
            household_id=o["entitlement"].household_id,
            person=None,
            reason=AlertReason.VEHICLE,
            facts={"household": {"vehicles": 1}},
            effective_on=timezone.localdate(),
            source_name="公安局机动车登记（vehicles.csv）",
            snapshot_id=o["snapshot"].pk,
            on=timezone.localdate(),
        )
    )
    o["scan"] = alerts_scan(snapshot_id=o["snapshot"].pk)
    o["message"] = OutboxMessage.objects.filter(area_path__startswith=o["case"].division.path).order_by("pk").first()
    o["flag"] = flagged_batch(actor=staff["county_reviewer"], household=o["household"])
    o["review_batch"] = o["flag"].batch
    # 主动发现: the grid worker reports a family of the village (a lead for the township).
    from ejia.discovery.services import lead_report

    o["lead"] = lead_report(
        actor=staff["grid_worker"], division=village, name="赵大娘", address="村东头", seen="独居老人，屋顶漏雨"
    )
    o["dci_delivery"] = failed_dci_callback()
    return world


def failed_dci_callback():
    """A partner registry whose callback address answers nothing (the discard port on loopback):
    a txn-on-status callback to it fails until it gives up."""
    from django.db import transaction

    from ejia.accounts.policies import ApiScope
    from ejia.api.dci import envelope as env
    from ejia.api.dci.delivery import MAX_ATTEMPTS, deliveries_send, delivery_enqueue
    from ejia.api.dci.search import receiver_id, signed
    from ejia.api.dci.transactions import our_signature
    from ejia.api.models import ApiClient, DciDelivery
    from ejia.api.services import client_create, client_set_callback_uri

    client, _ = client_create(
        actor=None,
        name="省社会救助登记系统",
        kind=ApiClient.Kind.PARTNER,
        client_id="spmis-sd",
        scopes=[ApiScope.DCI_SEARCH],
    )
    client = client_set_callback_uri(actor=None, client_id=client.client_id, uri="http://127.0.0.1:9/dci")
    header = env.callback_header(
        action="txn-on-status",
        status="rcvd",
        sender_id=receiver_id(),
        receiver_id=client.client_id,
        total_count=1,
        completed_count=0,
    )
    message = {"transaction_id": "s-1", "correlation_id": env.new_id(), "txnstatus_response": {"txn_type": "search"}}
    with transaction.atomic():
        delivery = delivery_enqueue(
            client=client, base_uri=client.callback_uri, envelope=signed(header, message, our_signature)
        )
    for _ in range(MAX_ATTEMPTS):
        DciDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=None)
        deliveries_send()
    delivery.refresh_from_db()
    assert delivery.status == DciDelivery.Status.FAILED, delivery.last_error
    return delivery
