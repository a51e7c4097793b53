"""动态监测: a committed department file raises one alert per (household, person, reason) for
recipients whose records changed in a way that matters; re-imports update it; the township
confirms it into a change report with the facts, or dismisses it with a reason; a scan that
fails is a visible row."""

from __future__ import annotations

import datetime as dt

import pytest

from ejia.core import crypto
from ejia.disbursement.alerts import alert_confirm, alert_dismiss, alerts_scan
from ejia.disbursement.exceptions import DisbursementError
from ejia.disbursement.models import AlertReason, AlertScan, ChangeReport, DynamicAlert, Entitlement
from ejia.disbursement.selectors import alerts_for_user, failed_scans_for_user
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import MAY, household, person
from ejia.registry.models import Membership
from ejia.verification.models import DataSource, SourceSnapshot
from ejia.verification.services import snapshot_import

pytestmark = pytest.mark.django_db
CIVIL = "证件号码,姓名,事件类型,事件日期,登记机关\n"
VEHICLES = "所有人证件号码,所有人,号牌号码,号牌种类,车辆类型,初次登记日期,车辆价值(元),机动车状态\n"


@pytest.fixture
def sources(org, settings, tmp_path):
    from ejia.verification.sources import sources_seed

    settings.VAR_DIR = tmp_path / "var"
    sources_seed()


def _number(p) -> str:
    return crypto.decrypt(p.id_number_ciphertext, purpose="person.id_number")


def _import(tmp_path, code: str, text: str, name: str) -> SourceSnapshot:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return snapshot_import(actor=None, source=DataSource.objects.get(code=code), path=path)


@pytest.fixture
def recipients(dave, programmes):
    """Two 低保 households of 市中街道; the first has an elderly father with his own subsidy."""
    first = household()
    father = person("王老汉", dt.date(1940, 1, 1))
    Membership.objects.create(household=first, person=father, relation="50", date_in=dt.date(2020, 1, 1))
    second = household(head=person("赵有车"))
    for hh in (first, second):
        entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    entitlement_create(
        actor=dave,
        household=first,
        programme=programmes["disability_living_subsidy"],
        person=father,
        amount_fen=9000,
        start_month=MAY,
    )
    return first, father, second


def test_a_death_registration_raises_one_alert_that_reimports_update(sources, recipients, bob, carol, tmp_path):
    first, father, _second = recipients
    stranger = person("不相干")  # not a recipient: no alert
    rows = f"{_number(father)},王老汉,死亡,2026-11-20,滨城区民政局\n{_number(stranger)},不相干,死亡,2026-11-01,x\n"
    snapshot = _import(tmp_path, "mz_civil", CIVIL + rows, "civil-1.csv")
    scan = alerts_scan(snapshot_id=snapshot.pk, on=dt.date(2026, 12, 1))
    assert (scan.status, scan.alerts_raised) == (AlertScan.Status.DONE, 1)
    [alert] = alerts_for_user(user=bob)
    assert (alert.household, alert.person, alert.reason) == (first, father, AlertReason.DEATH)
    assert alert.effective_on == dt.date(2026, 11, 20) and "民政局" in alert.source_name
    assert alert.due_on == dt.date(2026, 12, 15)  # ten working days
    assert alerts_for_user(user=carol) == []  # another township
    # The next month's file says the same with a corrected date: the alert is updated, not doubled.
    rows = rows.replace("2026-11-20", "2026-11-19")
    again = alerts_scan(snapshot_id=_import(tmp_path, "mz_civil", CIVIL + rows, "civil-2.csv").pk)
    assert (again.alerts_raised, again.alerts_updated) == (0, 1)
    assert DynamicAlert.objects.get().effective_on == dt.date(2026, 11, 19)


def test_confirming_a_death_alert_makes_a_report_with_the_facts_and_ends_the_members_benefit(
    sources, recipients, bob, tmp_path
):
    _first, father, _second = recipients
    snapshot = _import(tmp_path, "mz_civil", CIVIL + f"{_number(father)},王老汉,死亡,2026-11-20,民政局\n", "c.csv")
    alerts_scan(snapshot_id=snapshot.pk)
    alert = DynamicAlert.objects.get()
    report = alert_confirm(actor=bob, alert=alert)
    assert (report.kind, report.person, report.channel) == (ChangeReport.Kind.DEATH, father, "department")
    assert "婚姻及死亡登记" in report.source_detail and report.effective_on == dt.date(2026, 11, 20)
    subsidy = Entitlement.objects.get(person=father)
    assert subsidy.status == Entitlement.Status.ENDED and subsidy.end_month == dt.date(2026, 11, 1)
    father.refresh_from_db()
    assert father.deceased_on == dt.date(2026, 11, 20)
    assert alert_confirm(actor=bob, alert=alert) == report  # a double post is harmless
    assert alerts_for_user(user=bob) == []


def test_a_new_vehicle_alert_is_dismissed_with_a_reason_and_not_raised_again(sources, recipients, bob, tmp_path):
    _first, _father, second = recipients
    owner = second.memberships.get().person
    text = VEHICLES + f"{_number(owner)},赵有车,鲁M12345,小型汽车,轿车,2026-10-01,80000,正常\n"
    alerts_scan(snapshot_id=_import(tmp_path, "gongan_vehicles", text, "v1.csv").pk)
    alert = DynamicAlert.objects.get(reason=AlertReason.VEHICLE)
    assert alert.household == second and alert.facts == {"household": {"vehicles": 1}}
    with pytest.raises(DisbursementError, match="理由"):
        alert_dismiss(actor=bob, alert=alert, reason="  ")
    alert_dismiss(actor=bob, alert=alert, reason="车辆为残疾人功能性补偿代步车，已入户核实")
    alerts_scan(snapshot_id=_import(tmp_path, "gongan_vehicles", text, "v2.csv").pk)
    assert DynamicAlert.objects.filter(reason=AlertReason.VEHICLE).count() == 1
    # A low-speed farm vehicle is no property: no alert.
    farm = text.replace("小型汽车", "低速车")
    DynamicAlert.objects.all().delete()
    alerts_scan(snapshot_id=_import(tmp_path, "gongan_vehicles", farm, "v3.csv").pk)
    assert not DynamicAlert.objects.exists()


def test_a_vehicle_gone_from_the_next_file_closes_the_open_alert(sources, recipients, tmp_path):
    _first, _father, second = recipients
    owner = second.memberships.get().person
    text = VEHICLES + f"{_number(owner)},赵有车,鲁M12345,小型汽车,轿车,2026-10-01,80000,正常\n"
    alerts_scan(snapshot_id=_import(tmp_path, "gongan_vehicles", text, "v1.csv").pk)
    sold = text.replace(",正常", ",转出")
    alerts_scan(snapshot_id=_import(tmp_path, "gongan_vehicles", sold, "v2.csv").pk)
    alert = DynamicAlert.objects.get()
    assert alert.status == DynamicAlert.Status.DISMISSED and "不再显示" in alert.dismiss_reason


def test_the_commit_of_a_file_starts_the_scan_and_a_failing_scan_is_visible(
    sources, recipients, bob, tmp_path, monkeypatch, django_capture_on_commit_callbacks
):
    _first, father, _second = recipients
    with django_capture_on_commit_callbacks(execute=True):
        _import(tmp_path, "mz_civil", CIVIL + f"{_number(father)},王老汉,死亡,2026-11-20,民政局\n", "c.csv")
    assert DynamicAlert.objects.filter(reason=AlertReason.DEATH).count() == 1

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("ejia.disbursement.alerts._recipients", lambda on: broken())
    with django_capture_on_commit_callbacks(execute=True):
        _import(tmp_path, "mz_civil", CIVIL + f"{_number(father)},王老汉,死亡,2026-11-20,民政局\n", "d.csv")
    [failed] = failed_scans_for_user(user=bob)
    assert "RuntimeError" in failed.error
    monkeypatch.undo()
    alerts_scan(snapshot_id=failed.snapshot_id)
    assert failed_scans_for_user(user=bob) == []
