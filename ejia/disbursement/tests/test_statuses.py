"""救助身份 follows decisions and entitlements: an approved 低保 makes the household a 低保
household in the decision's transaction, the 360° page says so and shows what was paid, and
the status ends with the entitlement (with its last paid month)."""

# ruff: noqa: F811 (fixtures imported from the workflow tests are parameters here)
from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import TEST_PASSWORD
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.tests.conftest import bob2, finished_check, procedures, submit_case  # noqa: F401
from ejia.cases.workflow.tests.test_procedures import walk_dibao_to_decision
from ejia.core.models import AuditEvent
from ejia.disbursement.bankfiles import bank_file_export, bank_return_import
from ejia.disbursement.batches import batch_build, batch_release
from ejia.disbursement.dynamic import change_report_create
from ejia.disbursement.models import ChangeReport, Entitlement, PaymentLine, add_months
from ejia.disbursement.services import (
    entitlement_change_amount,
    entitlement_create,
    entitlement_end,
    entitlement_gradual_exit,
)
from ejia.disbursement.tests.conftest import MAY, household, person
from ejia.registry.models import HouseholdStatus, Membership, MemberStatus, StatusKind
from ejia.registry.selectors import household_overview
from ejia.registry.services import status_begin

pytestmark = pytest.mark.django_db


def _decide_dibao(case, bob, bob2, dave, finished_check, *, approve=True):
    today = dt.date(2026, 3, 2)
    p, _ = walk_dibao_to_decision(case, bob, bob2, dave, today, finished_check)
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    if approve:
        return wf.procedure_approve(actor=dave, procedure_id=p.pk, expected_version=p.version)
    return wf.procedure_refuse(actor=dave, procedure_id=p.pk, expected_version=p.version, reasons="家庭存款超过规定")


def _pay(grace, dave, county="371602"):
    # 低保 is paid from the month after the application was accepted (the programme's pay_from).
    month = add_months(timezone.localdate().replace(day=1), 1)
    batch = batch_release(actor=grace, batch=batch_build(actor=dave, county=county, period=month))
    rows = list(csv.reader(io.StringIO(bank_file_export(actor=grace, batch=batch).content.decode("utf-8-sig"))))[6:]
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["交易流水号", "金额（元）", "结果", "银行流水号", "说明"])
    w.writerows([[r[1], r[5], "成功", f"B{n}", ""] for n, r in enumerate(rows)])
    bank_return_import(actor=grace, batch=batch, data=out.getvalue().encode("utf-8"))
    return batch


def test_an_approved_dibao_makes_a_dibao_household_whose_page_shows_the_status_and_what_was_paid(
    client,
    submit_case,
    bob,
    bob2,
    dave,
    grace,
    finished_check,
):
    case = submit_case(bank_name="滨州农商银行", account_number="6228480000000000999")
    household = case.household
    assert not household_overview(user=dave, household=household).statuses
    decision = _decide_dibao(case, bob, bob2, dave, finished_check)

    status = HouseholdStatus.objects.get(household=household)
    assert (status.kind, status.start, status.end) == (StatusKind.DIBAO, timezone.localdate(), None)
    assert case.reference in status.note
    assert AuditEvent.objects.filter(action="registry.status_begin", actor=dave).exists()

    batch = _pay(grace, dave)
    line = PaymentLine.objects.get(batch=batch, household=household)
    assert line.status == PaymentLine.Status.PAID and line.amount_fen == decision.amount_fen
    overview = household_overview(user=dave, household=household)
    assert [s.kind for s in overview.active_statuses] == [StatusKind.DIBAO]
    assert [(b.programme.code, b.amount_fen) for b in overview.benefits] == [("dibao", decision.amount_fen)]
    assert overview.benefit_total_fen == sum(
        PaymentLine.objects.filter(household=household, status="paid").values_list("amount_fen", flat=True)
    )

    assert client.login(username="dave", password=TEST_PASSWORD)
    page = client.get(reverse("registry:household_detail", args=[household.public_id])).content.decode()
    assert "暂无救助身份" not in page and 'data-testid="status-badge">低保<' in page
    assert "暂无救助记录" not in page

    # The county ends it from next month: the status ends with this month, still held today.
    entitlement = Entitlement.objects.get(household=household)
    this_month = timezone.localdate().replace(day=1)
    entitlement_end(actor=dave, entitlement=entitlement, from_month=add_months(this_month, 1), reason="收入超标")
    status.refresh_from_db()
    assert status.end == add_months(this_month, 1) - dt.timedelta(days=1)
    assert [s.kind for s in household_overview(user=dave, household=household).active_statuses] == ["dibao"]


def test_a_refusal_confers_no_status(submit_case, bob, bob2, dave, finished_check):
    case = submit_case()
    _decide_dibao(case, bob, bob2, dave, finished_check, approve=False)
    assert not HouseholdStatus.objects.filter(household=case.household).exists()


def test_an_approved_dibao_lifts_the_household_out_of_dibao_edge(submit_case, bob, bob2, dave, finished_check):
    case = submit_case()
    status_begin(actor=dave, household=case.household, kind=StatusKind.DIBAO_EDGE, start=dt.date(2025, 1, 1))
    _decide_dibao(case, bob, bob2, dave, finished_check)
    edge = HouseholdStatus.objects.get(household=case.household, kind=StatusKind.DIBAO_EDGE)
    assert edge.end == timezone.localdate() - dt.timedelta(days=1) and "转入低保" in edge.note
    assert HouseholdStatus.objects.get(household=case.household, kind=StatusKind.DIBAO).end is None


def test_an_approved_tekun_marks_the_eligible_person_and_the_household(procedures, finished_check, bob, bob2, dave):
    elder = member(
        "孙守义", birth=dt.date(1948, 2, 3), income_month_fen=0, has_capable_supporter=False, self_care="partial"
    )
    son = member("孙立", birth=dt.date(1978, 6, 1), relation="20", income_month_fen=150000, employment="employed")
    data = application(elder, son, programmes=("tekun",))
    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="tk", data=data)
    today = dt.date(2026, 3, 2)
    p = RequestProcedure.objects.get(case=case)
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today)
    check = finished_check(case)
    p = wf.procedure_complete(
        actor=bob, procedure_id=p.pk, expected_version=p.version, check_id=check.public_id, on=today
    )
    wf.home_visit_record(actor=bob, procedure_id=p.pk, visit_date=today, staff_1=bob, staff_2=bob2, findings="独居")
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today)
    wf.self_care_record(actor=bob, procedure_id=p.pk, person_name="孙守义", assessed_on=today, can_do={"eating": True})
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today)
    p = wf.procedure_complete(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today)
    wf.notice_publish(actor=bob, versions={p.pk: p.version}, on=today)
    p.refresh_from_db()
    p = wf.notice_close(actor=bob, procedure_id=p.pk, expected_version=p.version, on=today + dt.timedelta(days=8))
    amount = wf.proposed_amount(p)
    wf.procedure_approve(
        actor=dave,
        procedure_id=p.pk,
        expected_version=p.version,
        amount_fen=amount or 132000,
        amount_change_reason="评估后核定",
    )
    [mine] = MemberStatus.objects.filter(household=case.household)
    assert mine.kind == StatusKind.TEKUN and mine.person.name == "孙守义"
    assert HouseholdStatus.objects.get(household=case.household).kind == StatusKind.TEKUN


def test_a_status_ends_with_the_last_month_its_entitlement_pays(dave, programmes):
    hh = household()
    status_begin(actor=dave, household=hh, kind=StatusKind.DIBAO, start=dt.date(2026, 4, 20))
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    successor = entitlement_change_amount(
        actor=dave, entitlement=ent, amount_fen=65000, from_month=dt.date(2026, 7, 1), reason="标准提高"
    )
    # An amount change ends one entitlement and starts the next: the household stays on 低保.
    assert HouseholdStatus.objects.get(household=hh).end is None
    entitlement_end(actor=dave, entitlement=successor, from_month=dt.date(2026, 9, 1), reason="家庭收入超过低保标准")
    assert HouseholdStatus.objects.get(household=hh).end == dt.date(2026, 8, 31)
    assert AuditEvent.objects.filter(action="registry.status_end").count() == 1


def test_an_entitlement_cancelled_before_its_first_month_ends_the_status_on_its_first_day(dave, programmes):
    hh = household()
    status_begin(actor=dave, household=hh, kind=StatusKind.DIBAO, start=dt.date(2026, 5, 10))
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    entitlement_end(actor=dave, entitlement=ent, from_month=MAY, reason="申请人主动放弃")
    assert HouseholdStatus.objects.get(household=hh).end == dt.date(2026, 5, 10)


def test_a_gradual_exit_keeps_the_status_to_its_last_paid_month(bob, dave, programmes):
    hh = household()
    status_begin(actor=dave, household=hh, kind=StatusKind.DIBAO, start=dt.date(2026, 1, 5))
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    entitlement_gradual_exit(
        actor=bob, entitlement=ent, from_month=dt.date(2026, 6, 1), reason="家庭成员就业", months=6
    )
    assert HouseholdStatus.objects.get(household=hh).end == dt.date(2026, 11, 30)
    # Approved again before it runs out: the planned end is lifted.
    status_begin(actor=dave, household=hh, kind=StatusKind.DIBAO, start=dt.date(2026, 9, 1))
    assert list(HouseholdStatus.objects.filter(household=hh).values_list("start", "end")) == [
        (dt.date(2026, 1, 5), None)
    ]


def test_a_death_ends_the_persons_tekun_status_and_the_households(dave, programmes):
    hh = household()
    elder = person("王大爷", dt.date(1940, 1, 1))
    Membership.objects.create(household=hh, person=elder, relation="50", date_in=dt.date(2020, 1, 1))
    status_begin(actor=dave, household=hh, kind=StatusKind.TEKUN, start=dt.date(2026, 4, 1), persons=[elder])
    entitlement_create(
        actor=dave, household=hh, programme=programmes["tekun"], person=elder, amount_fen=132000, start_month=MAY
    )
    change_report_create(
        actor=None,
        household=hh,
        kind=ChangeReport.Kind.DEATH,
        person=elder,
        effective_on=dt.date(2026, 6, 15),
        channel=ChangeReport.Channel.DEPARTMENT,
    )
    assert MemberStatus.objects.get(person=elder).end == dt.date(2026, 6, 30)
    assert HouseholdStatus.objects.get(household=hh).end == dt.date(2026, 6, 30)
