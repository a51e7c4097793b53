"""Nothing approved is dropped: what stops money becomes a held item on the batch page and a
work item for the county centre, and someone there can act on it."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.accounts.work import work_items
from ejia.cases.models import ProgrammeRequest
from ejia.cases.tests.conftest import member as new_member
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import Decision, RequestProcedure
from ejia.cases.workflow.tests.conftest import procedures, submit_case  # noqa: F401
from ejia.disbursement.batches import batch_build
from ejia.disbursement.holds import held_decisions_for_county
from ejia.disbursement.models import Entitlement, PaymentBatch, PaymentLine, add_months
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import MAY, household

pytestmark = pytest.mark.django_db


def _counts(user) -> dict[str, int]:
    return {item.key: item.count for item in work_items(user)}


@pytest.fixture
def mz(org):
    """民政 approver of 滨城区 (困难残疾人生活补贴 is decided by the department)."""
    return make_staff("mz", _unit("371602", "department", "mz"), Role.DEPT_APPROVER, display_name="郑民")


def _approve(case, code, actor, amount_fen, reason):
    p = RequestProcedure.objects.get(case=case, request__programme__code=code)
    while not p.step.decides:
        p = wf.procedure_complete(actor=actor, procedure_id=p.pk, expected_version=p.version)
    return wf.procedure_approve(
        actor=actor, procedure_id=p.pk, expected_version=p.version, amount_fen=amount_fen, amount_change_reason=reason
    )


def test_a_member_benefit_without_a_named_member_is_held_then_named_and_paid(
    client,
    submit_case,  # noqa: F811
    mz,
    dave,
):
    head = new_member("张大山", income_month_fen=30000)
    members = (head, new_member("李小花", female=True, relation="10", income_month_fen=0))
    case = submit_case(members=members, programmes=(f"disability_living_subsidy:{head['key']}",))
    _approve(case, "disability_living_subsidy", mz, 9000, "按二级残疾标准")
    # An approval recorded before this release, when a member programme could be approved
    # without naming its member (the plan migration names one only where the old plan found
    # exactly one): no person on the request, no entitlement.
    ProgrammeRequest.objects.filter(case=case).update(person=None)
    Entitlement.objects.filter(request__case=case).delete()
    month = timezone.localdate().replace(day=1)
    batch = batch_build(actor=dave, county="371602", period=month)
    assert not batch.lines.exists() and not Entitlement.objects.exists()
    [held] = held_decisions_for_county(county_code="371602")
    assert held.can_name_member and "未能确定享受待遇的家庭成员" in held.reason
    assert _counts(dave)["held_decisions"] == 1
    client.force_login(dave)
    page = client.get(reverse("disbursement:batch_detail", args=[batch.public_id])).content.decode()
    assert case.reference in page and "指定并生成待遇" in page
    home = client.get("/staff/").content.decode()
    assert 'data-testid="work-held_decisions">1<' in home

    member = case.household.memberships.order_by("pk").last().person
    response = client.post(
        reverse("disbursement:held_decision_member", args=[held.decision.pk]), {"person": str(member.public_id)}
    )
    assert response.status_code == 302
    entitlement = Entitlement.objects.get(request__case=case)
    assert (entitlement.person, entitlement.amount_fen, entitlement.start_month) == (member, 9000, month)
    assert held_decisions_for_county(county_code="371602") == [] and _counts(dave)["held_decisions"] == 0
    # The next month's batch pays it: this month as arrears, next month as usual.
    nxt = batch_build(actor=dave, county="371602", period=add_months(month, 1))
    assert sorted(nxt.lines.values_list("kind", "amount_fen", "status", "hold_reason")) == [
        ("arrears", 9000, "held", "no_account"),  # the application registered no bank account
        ("regular", 9000, "held", "no_account"),
    ]
    assert _counts(dave)["held_lines"] == 2


def test_a_cash_decision_without_an_amount_is_held_and_says_so(
    submit_case,  # noqa: F811
    bob,
    dave,
):
    case = submit_case(programmes=("linshi",))
    decision = _approve(case, "linshi", bob, 50000, "按实际困难核定")
    # Approving cash without an amount is refused now; a release before that recorded some
    # (and made no entitlement for them).
    Decision.objects.filter(pk=decision.pk).update(amount_fen=None)
    Entitlement.objects.filter(request__case=case).delete()
    batch_build(actor=dave, county="371602", period=timezone.localdate().replace(day=1))
    [held] = held_decisions_for_county(county_code="371602")
    assert "未核定金额" in held.reason and not held.can_name_member
    assert held.request.case == case and _counts(dave)["held_decisions"] == 1


def test_a_held_line_is_a_work_item_until_the_account_is_registered(client, dave, programmes):
    hh = household(account=None)
    entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    batch = batch_build(actor=dave, county="371602", period=MAY)
    assert _counts(dave)["held_lines"] == 1
    client.force_login(dave)
    detail = reverse("disbursement:batch_detail", args=[batch.public_id])
    page = client.get(detail).content.decode()
    assert "未登记银行账户" in page and "登记账户" in page
    url = reverse("disbursement:household_account", args=[hh.public_id]) + f"?next={detail}"
    head = hh.memberships.get().person
    bad = client.post(url, {"bank_name": "滨州农商银行", "account_number": "12ab", "holder": str(head.public_id)})
    assert "银行账号应为12至30位数字" in bad.content.decode()
    response = client.post(
        url, {"bank_name": "滨州农商银行", "account_number": "6228480000000000777", "holder": str(head.public_id)}
    )
    assert response["Location"] == detail
    client.post(reverse("disbursement:batch_recheck", args=[batch.public_id]))
    batch.refresh_from_db()
    line = batch.lines.get()
    assert line.status == PaymentLine.Status.PENDING and line.holder_name == head.name
    assert batch.status == PaymentBatch.Status.BUILT and batch.declared_total_fen == 60000
    assert _counts(dave)["held_lines"] == 0
