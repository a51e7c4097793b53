"""Part "data" (checks, department files, discovery and alerts) agrees with the raw rows at every
level; the sections 核对与数据 and 主动发现与动态管理 show those numbers; a department's staff see
only their own department's files; closing a lead, finishing a check and committing a file queue
a refresh of this month."""

from __future__ import annotations

from collections import Counter

import pytest
from django.db.models import Sum
from django.utils import timezone

from conftest import _unit, make_staff
from ejia.accounts.models import Division, Role
from ejia.core import crypto
from ejia.dashboards.models import CheckMonthly, DiscoveryMonthly, ImportMonthly, RefreshRun
from ejia.dashboards.refresh import refresh
from ejia.dashboards.sections import data as data_section
from ejia.dashboards.sections import discovery as discovery_section
from ejia.dashboards.selectors import query_for
from ejia.disbursement.alerts import alert_confirm, alerts_scan
from ejia.disbursement.models import DynamicAlert
from ejia.disbursement.services import entitlement_create
from ejia.disbursement.tests.conftest import MAY, household, person
from ejia.discovery.models import Lead, LeadStatus
from ejia.discovery.services import lead_close, lead_report
from ejia.verification.checks import check_start
from ejia.verification.models import DataSource, SourceSnapshot, VerificationCheck
from ejia.verification.services import snapshot_analyse, snapshot_import, snapshot_stage, upload_stage
from ejia.verification.tests.test_views import HEADER, ROWS

pytestmark = pytest.mark.django_db

CIVIL = "证件号码,姓名,事件类型,事件日期,登记机关\n"
VEHICLES = "所有人证件号码,所有人,号牌号码,号牌种类,车辆类型,初次登记日期,车辆价值(元),机动车状态\n"
LEVELS = ("village", "township", "county", "city")


def this_month():
    return timezone.localdate().replace(day=1)


def _number(p) -> str:
    return crypto.decrypt(p.id_number_ciphertext, purpose="person.id_number")


def _import(tmp_path, code: str, text: str, name: str) -> SourceSnapshot:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return snapshot_import(actor=None, source=DataSource.objects.get(code=code), path=path)


def _refused_file(olga) -> SourceSnapshot:
    """A 残联 file whose last row is in another encoding: staged, then refused by the analysis."""
    good = ",".join(ROWS[0]) + "\n"
    body = (",".join(HEADER) + "\n" + good * 20_000).encode("utf-8") + ",".join(ROWS[0]).encode("gbk") + b"\n"
    staged = upload_stage(chunks=[body])
    source = DataSource.objects.get(code="cl_disability")
    snapshot = snapshot_stage(actor=olga, source=source, path=staged, file_name="残联.csv")
    snapshot = snapshot_analyse(snapshot_id=snapshot.pk)
    assert snapshot.status == SourceSnapshot.Status.REFUSED
    return snapshot


def _check(household, declared_vehicles: int) -> VerificationCheck:
    members = [m.person for m in household.current_memberships()]
    declared = {"household": {"vehicles": declared_vehicles}, "members": {}}
    check = check_start(actor=None, household=household, members=members, reason="测试核对", declared=declared)
    check.refresh_from_db()
    return check


@pytest.fixture
def sources(org, settings, tmp_path):
    from ejia.verification.sources import sources_seed

    settings.VAR_DIR = tmp_path / "var"
    sources_seed()


@pytest.fixture
def gina(org):
    """A grid worker of the first village of 市中街道 (where `household()` puts families)."""
    village = Division.objects.filter(parent__code="371602001", level="village").order_by("code").first()
    return make_staff("gina", _unit(village.code, "station"), Role.GRID_WORKER, display_name="孙网格")


@pytest.fixture
def month_of_work(sources, programmes, dave, bob, carol, gina, tmp_path, django_capture_on_commit_callbacks):
    """This month in 滨城区: a 低保 family in 市中街道 with an undeclared car, a 低保 family in
    another township whose head died (alert confirmed), department files (two committed, one
    refused), three checks and three grid workers' reports (one applied, one not eligible)."""
    first = household()
    second = household(township="371602105", head=person("钱有福"))
    for hh in (first, second):
        entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    owner = first.memberships.get().person
    vehicles = _import(
        tmp_path,
        "gongan_vehicles",
        VEHICLES + f"{_number(owner)},王有车,鲁M12345,小型汽车,轿车,2026-10-01,80000,正常\n",
        "vehicles.csv",
    )
    dead = second.memberships.get().person
    civil = _import(tmp_path, "mz_civil", CIVIL + f"{_number(dead)},钱有福,死亡,2026-11-20,民政局\n", "civil.csv")
    _check(first, declared_vehicles=0)  # the car is a difference proved by 机动车登记
    _check(first, declared_vehicles=1)
    _check(second, declared_vehicles=0)
    alerts_scan(snapshot_id=vehicles.pk)
    alerts_scan(snapshot_id=civil.pk)
    alert_confirm(actor=carol, alert=DynamicAlert.objects.get(household=second))
    olga = make_staff("olga", _unit("371600", "centre"), Role.EXCHANGE_OPERATOR, display_name="杨帆")
    _refused_file(olga)
    village = gina.unit.division
    leads = [
        lead_report(actor=gina, division=village, name=name, address="幸福路", seen="独居老人")
        for name in ("赵大爷", "钱大妈", "孙阿姨")
    ]
    lead_close(actor=gina, lead_id=leads[0].pk, outcome=LeadStatus.APPLIED)
    lead_close(actor=gina, lead_id=leads[1].pk, outcome=LeadStatus.NOT_ELIGIBLE, reason="子女赡养")
    [run] = refresh(months=[this_month()], trigger="test", parts=["data"])
    assert run.status == RefreshRun.Status.DONE
    return {"first": first, "second": second, "village": village}


def first_village_code() -> str:
    return Division.objects.filter(parent__code="371602001", level="village").order_by("code").first().code


def _in(area: Division):
    return {"household__division__path__startswith": area.path}


def test_check_rows_equal_the_raw_checks_at_every_level(month_of_work):
    first = month_of_work["first"]
    month = this_month()
    chain = []
    area = first.division
    while area is not None:
        chain.append(area)
        area = area.parent
    assert [a.level for a in chain] == list(LEVELS)
    for area in chain:
        checks = VerificationCheck.objects.filter(**_in(area))
        row = CheckMonthly.objects.get(month=month, area_code=area.code, source_code="")
        assert row.level == area.level and row.parent_code == (area.parent.code if area.parent else "")
        assert row.checks == checks.count()
        assert row.with_differences == sum(1 for c in checks if c.differences)
        assert row.failed == checks.filter(status="partial").count()
        # Per source (from the township up): every check asked every source; differences
        # counted once per check.
        if area.level == "village":
            assert not CheckMonthly.objects.filter(month=month, area_code=area.code).exclude(source_code="").exists()
            continue
        proved = Counter(name for c in checks for name in {n for d in c.differences for n in d["sources"]})
        for source in DataSource.objects.all():
            per = CheckMonthly.objects.get(month=month, area_code=area.code, source_code=source.code)
            assert per.checks == checks.count()
            assert per.with_differences == proved[source.name], source.code
            assert per.failed == checks.filter(sources__source=source, sources__status="failed").count()
    city = CheckMonthly.objects.get(month=month, area_code="371600", source_code="gongan_vehicles")
    assert (city.checks, city.with_differences, city.failed) == (3, 1, 0)
    assert CheckMonthly.objects.get(month=month, area_code="371600", source_code="").checks == 3
    # Only the village and township of 市中街道 hold the first family's checks.
    assert CheckMonthly.objects.get(month=month, area_code=first.division.code, source_code="").checks == 2


def test_import_rows_add_up_by_department_and_source(month_of_work):
    month = this_month()
    committed = SourceSnapshot.objects.filter(committed_at__isnull=False)
    totals = ImportMonthly.objects.filter(month=month).aggregate(
        files=Sum("files"), refused=Sum("refused_files"), rows=Sum("rows"), accepted=Sum("accepted")
    )
    assert totals["files"] == committed.count() == 2
    assert totals["refused"] == SourceSnapshot.objects.filter(status="refused").count() == 1
    assert (
        totals["rows"]
        == committed.aggregate(t=Sum("rows_total"))["t"]
        == totals["accepted"] + sum(ImportMonthly.objects.filter(month=month).values_list("rejected", flat=True))
    )
    civil = ImportMonthly.objects.get(month=month, source_code="mz_civil")
    assert (civil.department_code, civil.files, civil.rows, civil.accepted) == ("mz", 1, 1, 1)
    assert ImportMonthly.objects.get(month=month, source_code="gongan_vehicles").department_code == "gongan"
    refused = ImportMonthly.objects.get(month=month, source_code="cl_disability")
    assert (refused.department_code, refused.files, refused.refused_files, refused.rows) == ("cl", 0, 1, 0)


def test_discovery_rows_equal_the_raw_leads_and_alerts_at_every_level(month_of_work):
    month = this_month()
    village, second = month_of_work["village"], month_of_work["second"]
    area = village
    while area is not None:
        leads = Lead.objects.filter(division__path__startswith=area.path)
        alerts = DynamicAlert.objects.filter(**_in(area))
        row = DiscoveryMonthly.objects.get(month=month, area_code=area.code)
        assert row.leads_found == leads.count() == 3
        assert row.reports == leads.filter(source=Lead.Source.REPORT).count()
        assert row.leads_visited == leads.filter(status__in=["applied", "declined", "not_eligible"]).count() == 2
        assert row.leads_applied == leads.filter(status="applied").count() == 1
        assert row.alerts_raised == alerts.count()
        assert row.alerts_confirmed == alerts.filter(status="confirmed").count()
        area = area.parent
    other = DiscoveryMonthly.objects.get(month=month, area_code=second.division.parent.code)
    assert (other.leads_found, other.alerts_raised, other.alerts_confirmed) == (0, 1, 1)
    city = DiscoveryMonthly.objects.get(month=month, area_code="371600")
    assert (city.alerts_raised, city.alerts_confirmed) == (DynamicAlert.objects.count(), 1)


def test_the_sections_show_the_summary_numbers_and_drill_down(month_of_work, dave):
    q = query_for(dave, area_code=None, start=None, end=None, today=timezone.localdate())
    assert q.area.code == "371602" and q.last_month == this_month()
    section = data_section.build(q)
    assert section.title == "核对与数据"
    checks = section.table("data_checks")
    assert checks.rows[-1][:3] == (q.month_labels[-1], 3, 1) and checks.total[1:4] == (3, 1, 33.3)
    by_source = {r[0]: r for r in section.table("data_sources").rows}
    assert by_source["机动车登记"][2:5] == (3, 1, 33.3)
    children = section.table("data_children")
    shizhong = children.links.index("371602001")
    assert children.rows[shizhong][1:3] == (2, 1)
    assert children.rows[children.links.index("371602105")][1] == 1
    departments = {r[0]: r for r in section.table("data_departments").rows}
    assert departments["民政局"][1:6] == (1, 0, 1, 1, 0)
    assert departments["残疾人联合会"][2] == 1  # the refused file
    assert "全市" in section.table("data_departments").note
    assert {c.table_key for c in section.charts} <= {t.key for t in section.tables}

    village = query_for(dave, area_code=first_village_code(), start=None, end=None, today=timezone.localdate())
    at_village = data_section.build(village)
    assert "data_sources" not in [t.key for t in at_village.tables] and "乡镇" in at_village.note
    assert at_village.table("data_checks").total[1:3] == (2, 1)

    discovery = discovery_section.build(q)
    assert discovery.title == "主动发现与动态管理"
    monthly = discovery.table("discovery_months")
    assert monthly.rows[-1][1:] == (3, 3, 2, 1, 50.0, 2, 1)
    kids = discovery.table("discovery_children")
    assert kids.rows[kids.links.index("371602001")][1:5] == (3, 3, 2, 1)
    assert kids.rows[kids.links.index("371602105")][6:] == (1, 1)
    assert {c.table_key for c in discovery.charts} <= {t.key for t in discovery.tables}


def test_a_department_sees_only_its_own_files_and_no_checks_or_discovery(month_of_work):
    mia = make_staff("mia", _unit("371602", "department", "mz"), Role.DEPT_APPROVER, display_name="民政审批")
    q = query_for(mia, area_code=None, start=None, end=None, today=timezone.localdate())
    assert q.department_code == "mz"
    section = data_section.build(q)
    assert [t.key for t in section.tables] == ["data_imports", "data_departments"]
    assert [r[0] for r in section.table("data_departments").rows] == ["民政局"]
    assert section.table("data_imports").total[1:4] == (1, 0, 1)
    assert discovery_section.build(q) is None


def test_closing_a_lead_finishing_a_check_and_committing_a_file_refresh_this_month(
    sources, gina, tmp_path, django_capture_on_commit_callbacks
):
    village = gina.unit.division
    lead = lead_report(actor=gina, division=village, name="周奶奶", address="", seen="腿脚不便")
    with django_capture_on_commit_callbacks(execute=True):
        lead_close(actor=gina, lead_id=lead.pk, outcome=LeadStatus.APPLIED)
    assert RefreshRun.objects.get(trigger="lead_closed").status == RefreshRun.Status.DONE
    row = DiscoveryMonthly.objects.get(month=this_month(), area_code=village.code)
    assert (row.leads_found, row.leads_visited, row.leads_applied) == (1, 1, 1)

    with django_capture_on_commit_callbacks(execute=True):
        _check(household(), declared_vehicles=0)
    assert RefreshRun.objects.get(trigger="check_finished").status == RefreshRun.Status.DONE
    assert CheckMonthly.objects.get(month=this_month(), area_code="371600", source_code="").checks == 1

    with django_capture_on_commit_callbacks(execute=True):
        _import(tmp_path, "mz_civil", CIVIL + f"{_number(person())},李四,结婚登记,2026-11-20,民政局\n", "c.csv")
    assert RefreshRun.objects.filter(trigger="import_commit", status=RefreshRun.Status.DONE).exists()
    assert ImportMonthly.objects.get(month=this_month(), source_code="mz_civil").files == 1


def test_the_page_shows_both_sections_and_a_department_only_its_files(month_of_work, dave, client):
    client.force_login(dave)
    page = client.get("/staff/dashboards/").content.decode()
    assert "核对与数据" in page and "主动发现与动态管理" in page
    assert "各数据源核出差异的占比" in page and "机动车登记" in page and "走访转化率" in page
    assert 'href="/staff/dashboards/371602001/' in page
    mia = make_staff("mia", _unit("371602", "department", "mz"), Role.DEPT_APPROVER, display_name="民政审批")
    client.force_login(mia)
    page = client.get("/staff/dashboards/").content.decode()
    assert "各部门数据文件导入与拒收行" in page and "民政局" in page
    assert "各数据源核出差异的占比" not in page and "主动发现与动态管理" not in page
