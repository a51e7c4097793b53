"""动态监测: alerts from department data.

When a department file is committed (the verification app's `snapshot_committed` signal), the
file's records of current recipients are turned into facts by the same pure function the
one-click check uses (`verification.findings.derive`) and compared with what the registry
holds. A change that matters — a death registration, a new vehicle, property or business, an
income above the registered one, an unemployment registration, medical costs that make a
支出型困难 candidate — becomes one alert per (household, person, reason) while it holds:
a re-import updates the open alert instead of adding one, and a reason that no longer shows
in the new file closes it. The township confirms an alert into a change report carrying the
facts, or dismisses it with a reason. A scan that fails is an `AlertScan` row the 动态管理
queue shows until a rerun succeeds.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections import defaultdict

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ejia.core.audit import audit_record
from ejia.core.workdays import WorkCalendar
from ejia.disbursement.change_facts import DEPARTMENT_FILE
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import AlertReason, AlertScan, ChangeReport, DynamicAlert, Entitlement
from ejia.disbursement.services import LIVE, _check_actor
from ejia.registry.models import Household, HouseholdStatus, Membership, StatusKind

logger = logging.getLogger(__name__)

# The reasons each kind of department file can raise.
REASONS_BY_SOURCE = {
    "civil": (AlertReason.DEATH,),
    "population": (AlertReason.DEATH,),
    "vehicle": (AlertReason.VEHICLE,),
    "real_estate": (AlertReason.PROPERTY,),
    "business": (AlertReason.BUSINESS,),
    "tax": (AlertReason.INCOME,),
    "social_insurance": (AlertReason.INCOME,),
    "unemployment": (AlertReason.UNEMPLOYMENT,),
    "medical": (AlertReason.MEDICAL,),
}
# The change report an alert becomes.
REPORT_KIND = {
    AlertReason.DEATH: ChangeReport.Kind.DEATH,
    AlertReason.VEHICLE: ChangeReport.Kind.VEHICLE,
    AlertReason.PROPERTY: ChangeReport.Kind.PROPERTY,
    AlertReason.BUSINESS: ChangeReport.Kind.BUSINESS,
    AlertReason.INCOME: ChangeReport.Kind.INCOME_CHANGE,
    AlertReason.UNEMPLOYMENT: ChangeReport.Kind.EMPLOYMENT,
    AlertReason.MEDICAL: ChangeReport.Kind.MEDICAL_COSTS,
}
RECIPIENT_STATUSES = (StatusKind.DIBAO, StatusKind.TEKUN, StatusKind.DIBAO_EDGE, StatusKind.EXPENSE_HARDSHIP)
GONE_NOTE = "新导入的部门数据已不再显示该情况"
_CHUNK = 1000


def alert_deadline(day: dt.date) -> dt.date:
    """Working days to confirm or dismiss an alert (EJIA_ALERT_WORKING_DAYS, 10 by default)."""
    return WorkCalendar.load().add_working_days(day, int(getattr(settings, "EJIA_ALERT_WORKING_DAYS", 10)))


def _recipients(on: dt.date) -> dict[int, list[Membership]]:
    """Current members of every household that receives something: a live entitlement or an
    assistance status in force."""
    current = Q(start__lte=on) & (Q(end__isnull=True) | Q(end__gte=on))
    households = set(Entitlement.objects.filter(status__in=LIVE).values_list("household_id", flat=True))
    households |= set(
        HouseholdStatus.objects.filter(current, kind__in=RECIPIENT_STATUSES).values_list("household_id", flat=True)
    )
    members: dict[int, list[Membership]] = defaultdict(list)
    for m in (
        Membership.objects.filter(household_id__in=households, date_out__isnull=True)
        .select_related("person")
        .order_by("household_id", "pk")
    ):
        if m.person.deceased_on is None:
            members[m.household_id].append(m)
    return members


def _int(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _changes(*, kind: str, household: Household, members: list[Membership], derived: dict, found: dict, on):
    """(reason, membership or None, facts, effective_on) for each change that matters."""
    registry = household.facts or {}
    hh = derived.get("household") or {}
    out = []
    if kind in ("civil", "population"):
        for m in members:
            ref = str(m.person.public_id)
            fact = (derived["members"].get(ref) or {}).get("deceased")
            if fact and fact["value"]:
                dates = [
                    r.get("event_date") for r in found.get(ref, []) if r.get("event") == "death" and r.get("event_date")
                ]
                died_on = dt.date.fromisoformat(max(dates)) if dates else on
                out.append(
                    (AlertReason.DEATH, m, {"members": {ref: {"deceased": True}}, "died_on": str(died_on)}, died_on)
                )
    elif kind == "vehicle" and "vehicles" in hh and hh["vehicles"]["value"] > _int(registry.get("vehicles")):
        out.append((AlertReason.VEHICLE, None, {"household": {"vehicles": hh["vehicles"]["value"]}}, on))
    elif kind == "real_estate" and "housing_units" in hh:
        units = hh["housing_units"]["value"]
        if units > _int(registry.get("housing_units", 1)):
            out.append((AlertReason.PROPERTY, None, {"household": {"housing_units": units}}, on))
    elif (
        kind == "business" and "has_business" in hh and hh["has_business"]["value"] and not registry.get("has_business")
    ):
        out.append((AlertReason.BUSINESS, None, {"household": {"has_business": True}}, on))
    elif kind in ("tax", "social_insurance"):
        name = "income_month_fen" if kind == "tax" else "pension_month_fen"
        for m in members:
            ref = str(m.person.public_id)
            fact = (derived["members"].get(ref) or {}).get(name)
            if fact and fact["value"] > _int((m.facts or {}).get(name)):
                out.append((AlertReason.INCOME, m, {"members": {ref: {name: fact["value"]}}}, on))
    elif kind == "unemployment":
        for m in members:
            ref = str(m.person.public_id)
            fact = (derived["members"].get(ref) or {}).get("employment")
            if fact and (m.facts or {}).get("employment") != fact["value"]:
                out.append((AlertReason.UNEMPLOYMENT, m, {"members": {ref: {"employment": fact["value"]}}}, on))
    elif kind == "medical" and "medical_oop_year_fen" in hh:
        oop = hh["medical_oop_year_fen"]["value"]
        if oop > _int(registry.get("medical_oop_year_fen")) and _expense_candidate(household, oop, on):
            out.append((AlertReason.MEDICAL, None, {"household": {"medical_oop_year_fen": oop}}, on))
    return out


def _expense_candidate(household: Household, oop: int, on: dt.date) -> bool:
    """Whether the engine makes the household a 支出型困难 (or 低保) candidate with these costs."""
    from ejia.cases.matching import PlanError, plan_evaluate
    from ejia.catalogue.plan import PlanOutcome
    from ejia.verification.engine_input import household_engine_input

    try:
        plan = plan_evaluate(
            engine_input=household_engine_input(
                household, on=on, declared={"household": {"medical_oop_year_fen": oop}}
            ),
            on=on,
            combine=False,
        )
    except PlanError:
        return True  # the engine cannot tell: a person looks
    wanted = (PlanOutcome.LIKELY, PlanOutcome.POSSIBLE)
    return any(e.outcome in wanted for code in ("expense_hardship", "dibao") for e in plan.for_code(code))


def alerts_scan(*, snapshot_id: int, on: dt.date | None = None) -> AlertScan:
    """Compare one committed department file with the recipients; raise, update or close alerts.
    Safe to run twice. Every failure is recorded on the scan row (and re-raised)."""
    from ejia.verification.findings import Answer, derive
    from ejia.verification.models import SourceRecord, SourceSnapshot

    snapshot = SourceSnapshot.objects.select_related("source").get(pk=snapshot_id)
    scan = AlertScan.objects.create(snapshot_id=snapshot_id, source_name=f"{snapshot.source} {snapshot.file_name}")
    try:
        on = on or timezone.localdate()
        kind = snapshot.source.kind
        reasons = REASONS_BY_SOURCE.get(kind, ())
        raised = updated = 0
        if reasons:
            members = _recipients(on)
            by_index = {m.person.id_number_index: m for ms in members.values() for m in ms}
            found: dict[int, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
            indexes = list(by_index)
            for i in range(0, len(indexes), _CHUNK):
                for index, data in SourceRecord.objects.filter(
                    snapshot_id=snapshot_id, person_index__in=indexes[i : i + _CHUNK]
                ).values_list("person_index", "data"):
                    m = by_index[index]
                    found[m.household_id][str(m.person.public_id)].append(data)
            as_of = (snapshot.committed_at or timezone.now()).date()
            households = Household.objects.in_bulk(list(members))
            keep: set[tuple[int, str, str]] = set()
            for household_id, records in found.items():
                answer = Answer(
                    code=snapshot.source.code,
                    kind=kind,
                    name=snapshot.source.name,
                    status="done",
                    as_of=as_of.isoformat(),
                    findings=dict(records),
                )
                refs = [str(m.person.public_id) for m in members[household_id]]
                derived = derive([answer], refs, on=on)
                for reason, member, facts, effective_on in _changes(
                    kind=kind,
                    household=households[household_id],
                    members=members[household_id],
                    derived=derived,
                    found=records,
                    on=on,
                ):
                    key = (household_id, str(member.person.public_id) if member else "", reason)
                    keep.add(key)
                    made, _pk = _upsert(
                        household_id=household_id,
                        person=member.person if member else None,
                        reason=reason,
                        facts=facts,
                        effective_on=effective_on,
                        source_name=f"{snapshot.source.department}{snapshot.source.name}（{snapshot.file_name}）",
                        snapshot_id=snapshot_id,
                        on=on,
                    )
                    raised += made == "raised"
                    updated += made == "updated"
            _close_gone(reasons=reasons, keep=keep, snapshot_id=snapshot_id, source_id=snapshot.source_id)
        with transaction.atomic():
            scan.status = AlertScan.Status.DONE
            scan.alerts_raised, scan.alerts_updated = raised, updated
            scan.save(update_fields=["status", "alerts_raised", "alerts_updated", "updated_at"])
            # An earlier failed scan of the same file is answered by this one.
            AlertScan.objects.filter(snapshot_id=snapshot_id, status=AlertScan.Status.FAILED).update(
                status=AlertScan.Status.DONE, error=f"已由 {timezone.localtime():%Y-%m-%d %H:%M} 的重新比对完成"
            )
            audit_record(
                actor=None,
                action="disbursement.alerts_scan",
                obj=scan,
                data={"snapshot": snapshot_id, "raised": raised, "updated": updated},
            )
    except Exception as exc:
        logger.exception("alert scan of snapshot %s failed", snapshot_id)
        AlertScan.objects.filter(pk=scan.pk).update(
            status=AlertScan.Status.FAILED, error=f"比对出错（{type(exc).__name__}），请重新比对或联系管理员。"[:300]
        )
        raise
    return scan


def alert_upsert(*, household_id, person, reason, facts, effective_on, source_name, snapshot_id, on) -> int | None:
    """Raise the alert, or update the open one of the same key; returns the alert's pk (None when
    the same facts were handled already)."""
    return _upsert(
        household_id=household_id,
        person=person,
        reason=reason,
        facts=facts,
        effective_on=effective_on,
        source_name=source_name,
        snapshot_id=snapshot_id,
        on=on,
    )[1]


def _upsert(*, household_id, person, reason, facts, effective_on, source_name, snapshot_id, on):
    person_key = str(person.public_id) if person else ""
    with transaction.atomic():
        Household.objects.select_for_update().filter(pk=household_id).first()
        alert = DynamicAlert.objects.filter(
            household_id=household_id, person_key=person_key, reason=reason, status=DynamicAlert.Status.OPEN
        ).first()
        if alert is not None:
            if (alert.facts, alert.effective_on) == (facts, effective_on):
                return "same", alert.pk
            alert.facts, alert.effective_on = facts, effective_on
            alert.source_name, alert.snapshot_id = source_name[:200], snapshot_id
            alert.save(update_fields=["facts", "effective_on", "source_name", "snapshot_id", "updated_at"])
            return "updated", alert.pk
        last = (
            DynamicAlert.objects.filter(household_id=household_id, person_key=person_key, reason=reason)
            .order_by("-pk")
            .first()
        )
        if last is not None and last.facts == facts and last.dismiss_reason != GONE_NOTE:
            return "same", None  # handled already (confirmed, or dismissed with a reason)
        alert = DynamicAlert.objects.create(
            household_id=household_id,
            person=person,
            person_key=person_key,
            reason=reason,
            facts=facts,
            effective_on=effective_on,
            source_name=source_name[:200],
            snapshot_id=snapshot_id,
            due_on=alert_deadline(on),
        )
    return "raised", alert.pk


def _close_gone(*, reasons, keep: set, snapshot_id: int, source_id: int) -> None:
    """Open alerts this source raised that its new file no longer shows end: the reason no longer holds."""
    from ejia.verification.models import SourceSnapshot

    same_source = SourceSnapshot.objects.filter(source_id=source_id).values("pk")
    for alert in DynamicAlert.objects.filter(
        status=DynamicAlert.Status.OPEN, reason__in=reasons, snapshot_id__in=same_source
    ):
        if (alert.household_id, alert.person_key, alert.reason) in keep:
            continue
        DynamicAlert.objects.filter(pk=alert.pk, status=DynamicAlert.Status.OPEN).update(
            status=DynamicAlert.Status.DISMISSED,
            dismiss_reason=GONE_NOTE,
            snapshot_id=snapshot_id,
            handled_at=timezone.now(),
            updated_at=timezone.now(),
        )


def alert_confirm(*, actor, alert: DynamicAlert) -> ChangeReport:
    """The township confirms the alert: a change report carrying the alert's facts (source: the
    department file), evaluated at once. A second confirmation returns the same report."""
    from ejia.disbursement.dynamic import change_report_create, change_report_evaluate

    _check_actor(actor, alert.household_id)
    with transaction.atomic():
        # Household first, then the alert: the order of every writer of a household's rows.
        Household.objects.select_for_update().filter(pk=alert.household_id).first()
        locked = (
            DynamicAlert.objects.select_for_update(of=("self",)).select_related("household", "person").get(pk=alert.pk)
        )
        if locked.status == DynamicAlert.Status.CONFIRMED:
            return locked.change_report
        if locked.status != DynamicAlert.Status.OPEN:
            raise DisbursementError("该预警已处理。")
        facts = {k: v for k, v in locked.facts.items() if k in ("household", "members")}
        report = change_report_create(
            actor=actor,
            household=locked.household,
            kind=REPORT_KIND[locked.reason],
            effective_on=locked.effective_on,
            channel=ChangeReport.Channel.DEPARTMENT,
            person=locked.person,
            details={"facts": facts, "note": f"由动态监测预警转入：{locked.get_reason_display()}"},
            source=DEPARTMENT_FILE,
            source_detail=locked.source_name,
        )
        locked.status = DynamicAlert.Status.CONFIRMED
        locked.change_report = report
        locked.handled_by = actor
        locked.handled_at = timezone.now()
        locked.save(update_fields=["status", "change_report", "handled_by", "handled_at", "updated_at"])
        audit_record(
            actor=actor, action="disbursement.alert_confirm", obj=locked, data={"report": str(report.public_id)}
        )
    # If the engine cannot evaluate, the report page offers the evaluation again and says why.
    with contextlib.suppress(DisbursementError):
        change_report_evaluate(actor=actor, report=report)
    return report


def alert_dismiss(*, actor, alert: DynamicAlert, reason: str) -> DynamicAlert:
    reason = (reason or "").strip()
    if not reason:
        raise DisbursementError("请填写排除的理由。")
    _check_actor(actor, alert.household_id)
    with transaction.atomic():
        Household.objects.select_for_update().filter(pk=alert.household_id).first()
        locked = DynamicAlert.objects.select_for_update().get(pk=alert.pk)
        if locked.status != DynamicAlert.Status.OPEN:
            return locked
        locked.status = DynamicAlert.Status.DISMISSED
        locked.dismiss_reason = reason
        locked.handled_by = actor
        locked.handled_at = timezone.now()
        locked.save(update_fields=["status", "dismiss_reason", "handled_by", "handled_at", "updated_at"])
        audit_record(actor=actor, action="disbursement.alert_dismiss", obj=locked, reason=reason)
    return locked


def alerts_rescan(*, actor, scan: AlertScan) -> None:
    """A failed scan is run again (in the background)."""
    from ejia.disbursement.tasks import scan_alerts

    audit_record(actor=actor, action="disbursement.alerts_rescan", obj=scan, data={"snapshot": scan.snapshot_id})
    scan_alerts.enqueue(scan.snapshot_id)
