"""一键核对 over a small synthetic city: what the departments say must be what the city is."""

from __future__ import annotations

import pytest
from django.utils import timezone

from ejia.registry.models import Household
from ejia.verification.checks import CheckRefused, check_source_rerun, check_start
from ejia.verification.models import CheckSource, CheckStatus, DataSource, SourceSnapshot, VerificationCheck
from ejia.verification.tests.city import small_city_loaded

pytestmark = pytest.mark.django_db


@pytest.fixture
def city(org, sources, tmp_path):
    return small_city_loaded(tmp_path / "city")


def _check(household, **kwargs):
    members = [m.person for m in household.current_memberships()]
    declared = {
        "household": dict(household.facts),
        "members": {str(m.person.public_id): dict(m.facts) for m in household.current_memberships()},
    }
    return check_start(actor=None, household=household, members=members, reason="测试核对", declared=declared, **kwargs)


def test_verified_facts_equal_the_city_the_departments_describe(city):
    # A household whose head has died keeps accounts in the dead person's name, out of reach
    # of a check of the living members: those are compared in the failure tests, not here.
    households = [h for h in Household.objects.order_by("pk")[:30] if h.head() is not None][:25]
    compared = 0
    for household in households:
        check = _check(household)
        check.refresh_from_db()
        assert check.status == CheckStatus.COMPLETE
        assert check.sources.filter(status=CheckSource.Status.DONE).count() == DataSource.objects.count()
        facts = check.facts["household"]
        for name in ("financial_assets_fen", "vehicles", "housing_units", "has_business"):
            if name in household.facts:
                assert facts[name]["value"] == household.facts[name], (name, household.pk)
                compared += 1
        assert facts["financial_assets_fen"]["sources"] == ["bank_deposit"]
        assert facts["financial_assets_fen"]["as_of"]
        for membership in household.current_memberships():
            member = check.facts["members"][str(membership.person.public_id)]
            assert member["disability_grade"]["value"] == int(membership.facts.get("disability_grade") or 0)
            if "pension_month_fen" in membership.facts:
                assert member["pension_month_fen"]["value"] == membership.facts["pension_month_fen"]
            # Documented income never exceeds the true income (farming, odd jobs are unrecorded).
            assert member["income_month_fen"]["value"] <= int(membership.facts.get("income_month_fen") or 0) + 1
        assert [d for d in check.differences if d["fact"] != "employment"] == []
    assert compared >= 50


def test_a_source_without_data_fails_and_its_facts_stay_unverified(city):
    SourceSnapshot.objects.filter(source__code="bank_deposit").update(status=SourceSnapshot.Status.SUPERSEDED)
    household = Household.objects.order_by("pk").first()
    check = _check(household)
    check.refresh_from_db()
    assert check.status == CheckStatus.PARTIAL
    failed = check.sources.get(source__code="bank_deposit")
    assert failed.status == CheckSource.Status.FAILED and "尚未导入" in failed.error
    assert "financial_assets_fen" not in check.facts["household"]
    assert any(u["fact"] == "financial_assets_fen" for u in check.facts["unverified"])
    # Data arrives; the operator reruns that source only, and the check completes.
    SourceSnapshot.objects.filter(source__code="bank_deposit").update(status=SourceSnapshot.Status.COMMITTED)
    check_source_rerun(actor=None, check_source_id=failed.pk)
    check.refresh_from_db()
    assert check.status == CheckStatus.COMPLETE
    assert check.facts["household"]["financial_assets_fen"]["value"] == household.facts["financial_assets_fen"]


def test_under_declared_property_shows_as_a_difference(city):
    household = Household.objects.filter(facts__vehicles__gte=1).order_by("pk").first()
    assert household is not None
    members = [m.person for m in household.current_memberships()]
    declared = {"household": {"vehicles": 0, "financial_assets_fen": 0}, "members": {}}
    check = check_start(actor=None, household=household, members=members, reason="测试", declared=declared)
    check.refresh_from_db()
    labels = {d["fact"]: d for d in check.differences}
    assert labels["vehicles"]["declared"] == 0 and labels["vehicles"]["verified"] == household.facts["vehicles"]
    assert "financial_assets_fen" in labels or household.facts["financial_assets_fen"] == 0


def test_refusals(city):
    household = Household.objects.order_by("pk").first()
    with pytest.raises(CheckRefused):
        check_start(actor=None, household=household, members=[], reason="x")
    with pytest.raises(CheckRefused):
        check_start(actor=None, household=household, members=[household.head()], reason="  ")
    assert VerificationCheck.objects.count() == 0


def test_online_sources_answer_through_the_simulator_and_a_failing_one_shows_as_failed(city, settings):
    from ejia.verification.simulator import Behaviour, MemoryProvider, start_in_thread

    settings.EJIA_EXCHANGE_BACKOFF_SECONDS = 0.01
    provider = MemoryProvider.from_committed_snapshots()
    # Banks answer slowly; the tax office fails every request.
    server, url = start_in_thread(provider, Behaviour(slow={"bank": 300}, fail_first={"sw_tax": 100}))
    try:
        DataSource.objects.filter(code__in=["bank_deposit", "sw_tax"]).update(
            online_enabled=True, base_url=url, retries=1, timeout_seconds=2.0
        )
        household = next(h for h in Household.objects.order_by("pk") if h.head() is not None)
        check = _check(household)
    finally:
        server.shutdown()
    check.refresh_from_db()
    bank = check.sources.get(source__code="bank_deposit")
    tax = check.sources.get(source__code="sw_tax")
    assert bank.mode == CheckSource.Mode.ONLINE and bank.status == CheckSource.Status.DONE
    assert bank.elapsed_ms >= 300
    assert check.facts["household"]["financial_assets_fen"]["value"] == household.facts["financial_assets_fen"]
    assert tax.status == CheckSource.Status.FAILED and tax.error and tax.findings == {}
    assert check.status == CheckStatus.PARTIAL
    # Income cannot be verified without the tax office: it stays declared and says why.
    assert all("income_month_fen" not in m for m in check.facts["members"].values())
    assert any(u["fact"] == "income_month_fen" and "个人所得税" in u["why"] for u in check.facts["unverified"])


def test_the_data_date_is_the_one_the_department_rows_carry(city):
    household = Household.objects.filter(facts__financial_assets_fen__gt=0).order_by("pk").first()
    while household.head() is None:
        household = Household.objects.filter(pk__gt=household.pk, facts__financial_assets_fen__gt=0).first()
    check = _check(household)
    bank = check.sources.get(source__code="bank_deposit")
    assert bank.as_of.isoformat() == "2025-12-31"  # 余额日期 in the bank's rows
    vehicles = check.sources.get(source__code="gongan_vehicles")
    assert vehicles.as_of == timezone.localtime(vehicles.snapshot.committed_at).date()  # no date column: load day


def test_snapshot_sources_are_one_task_online_sources_one_each_and_a_second_run_does_nothing(city, settings):
    from django_tasks import task_backends

    from ejia.core.models import AuditEvent
    from ejia.verification.checks import check_snapshots_run
    from ejia.verification.tasks import run_check_snapshots, run_check_source

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    queued = task_backends["default"]
    queued.clear()
    DataSource.objects.filter(code="bank_deposit").update(online_enabled=True, base_url="http://127.0.0.1:9")
    household = next(h for h in Household.objects.order_by("pk") if h.head() is not None)
    check = _check(household)
    names = sorted(r.task.name for r in queued.results)
    assert names == sorted([run_check_snapshots.name, run_check_source.name])
    assert check.sources.get(source__code="bank_deposit").mode == CheckSource.Mode.ONLINE

    assert check_snapshots_run(check_id=check.pk) == 11
    assert check_snapshots_run(check_id=check.pk) == 0  # a second worker finds nothing to do
    assert AuditEvent.objects.filter(action="verification.snapshot_query").count() == 11
    check.refresh_from_db()
    assert check.status == CheckStatus.RUNNING  # the bank has not answered yet
    assert "financial_assets_fen" not in check.facts
