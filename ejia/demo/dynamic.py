"""The demo's 动态管理 work in 市中街道: three households of the synthetic registry that have
received 低保 since January (as a decided case leaves them), and then —

- one household whose head found work: a change report (income) decided into 渐退期;
- one whose elderly member's death was registered by 民政: an open alert;
- one for whom 公安 registered a new car: an open alert.

Everything goes through the platform's services (entitlements, statuses, the change report
and its decision, the alert service the department-file scan uses). Idempotent: a household
already prepared is recognised by its demo report or alert and left as it is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.db import transaction
from django.utils import timezone

from ejia.accounts.models import User
from ejia.catalogue.models import Programme
from ejia.demo.staff import DEMO_TOWNSHIP
from ejia.disbursement.alerts import alert_upsert
from ejia.disbursement.dynamic import change_report_create, change_report_decide, change_report_evaluate
from ejia.disbursement.models import AlertReason, ChangeReport, DynamicAlert, Entitlement, add_months
from ejia.disbursement.services import entitlement_create
from ejia.registry.models import Household, HouseholdStatus, StatusKind
from ejia.registry.services import status_begin

DEMO_SOURCE = "（演示）"
DIBAO_MONTHLY_FEN = 100100  # per member: the 2023 urban standard, nobody in work


def _households(count: int) -> list[Household]:
    """Households of 市中街道 with two or more current members that receive nothing yet."""
    taken = set(Entitlement.objects.values_list("household_id", flat=True))
    taken |= set(HouseholdStatus.objects.values_list("household_id", flat=True))
    out = []
    for hh in (
        Household.objects.filter(division__parent__code=DEMO_TOWNSHIP).exclude(pk__in=taken).order_by("pk").iterator()
    ):
        members = list(hh.current_memberships().order_by("relation", "pk"))
        if len(members) >= 2 and hh.account_masked:
            out.append(hh)
        if len(out) == count:
            break
    return out


def _recipient(actor: User, hh: Household, start: dt.date) -> Entitlement:
    """低保 since `start`, as the county's decision left it."""
    size = hh.current_memberships().count()
    status_begin(actor=actor, household=hh, kind=StatusKind.DIBAO, start=start, note="演示：年初批准")
    return entitlement_create(
        actor=actor,
        household=hh,
        programme=Programme.objects.get(code="dibao"),
        amount_fen=DIBAO_MONTHLY_FEN * size,
        start_month=start,
        reason="演示：年初批准的低保",
    )


def demo_dynamic_ensure(*, today: dt.date | None = None, log: Callable[[str], None] | None = None) -> int:
    """Prepare the three demo households that are missing; returns how many were prepared."""
    log = log or (lambda line: None)
    today = today or timezone.localdate()
    clerk = User.objects.get(username="window_clerk")
    reviewer = User.objects.get(username="county_reviewer")
    have_exit = ChangeReport.objects.filter(source_detail__endswith=DEMO_SOURCE).exists()
    have = set(
        DynamicAlert.objects.filter(source_name__endswith=DEMO_SOURCE).values_list("reason", flat=True).distinct()
    )
    wanted = [not have_exit, AlertReason.DEATH not in have, AlertReason.VEHICLE not in have]
    households = _households(sum(wanted))
    if len(households) < sum(wanted):
        log("  动态管理演示：市中街道没有足够的家庭，跳过")
        return 0
    start = today.replace(month=1, day=1)
    made = 0
    with transaction.atomic():
        if wanted[0]:
            hh = households.pop(0)
            _recipient(reviewer, hh, start)
            head = hh.current_memberships().order_by("relation", "pk").first().person
            report = change_report_create(
                actor=clerk,
                household=hh,
                kind=ChangeReport.Kind.INCOME_CHANGE,
                person=head,
                effective_on=today,
                details={"facts": {"members": {str(head.public_id): {"income_month_fen": 600000}}}},
                source="household",
                source_detail="户主本人申报：在经济开发区企业就业" + DEMO_SOURCE,
            )
            report = change_report_evaluate(actor=clerk, report=report)
            change_report_decide(
                actor=clerk,
                report=report,
                from_month=add_months(today.replace(day=1), 1),
                reason="户主就业，家庭人均收入超过低保标准（演示）",
            )
            log(f"  渐退期：{hh.division.name} {hh.address}")
            made += 1
        if wanted[1]:
            hh = households.pop(0)
            _recipient(reviewer, hh, start)
            member = hh.current_memberships().order_by("-relation", "pk").first().person
            died = today - dt.timedelta(days=3)
            alert_upsert(
                household_id=hh.pk,
                person=member,
                reason=AlertReason.DEATH,
                facts={"members": {str(member.public_id): {"deceased": True}}, "died_on": died.isoformat()},
                effective_on=died,
                source_name="民政局婚姻及死亡登记" + DEMO_SOURCE,
                snapshot_id=None,
                on=today,
            )
            log(f"  死亡登记预警：{hh.division.name} {hh.address} {member.name}")
            made += 1
        if wanted[2]:
            hh = households.pop(0)
            _recipient(reviewer, hh, start)
            alert_upsert(
                household_id=hh.pk,
                person=None,
                reason=AlertReason.VEHICLE,
                facts={"household": {"vehicles": 1}},
                effective_on=today,
                source_name="公安局机动车登记" + DEMO_SOURCE,
                snapshot_id=None,
                on=today,
            )
            log(f"  新增车辆预警：{hh.division.name} {hh.address}")
            made += 1
    return made
