"""年度复核批量核对 over the small synthetic city: recipients whose department data no longer
fits their programme are listed for review, and nobody is flagged on data that is missing."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from conftest import TEST_PASSWORD, _unit, make_staff
from ejia.accounts.models import Division, Role
from ejia.core.audit import AuditEvent
from ejia.registry.models import Household, HouseholdStatus, StatusKind
from ejia.verification.models import (
    ReverificationBatch,
    ReverificationFlag,
    SourceRecord,
    SourceSnapshot,
)
from ejia.verification.reviews import review_batch_run, review_batch_start
from ejia.verification.tests.city import small_city_loaded

pytestmark = pytest.mark.django_db
ON = dt.date(2026, 6, 15)


@pytest.fixture
def city(org, sources, tmp_path):
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()
    return small_city_loaded(tmp_path / "city")


@pytest.fixture
def county(org):
    return Division.objects.get(code="371602")


@pytest.fixture
def hana(org):
    """A window clerk of a township in 惠民县, another county."""
    return make_staff("hana", _unit("371621101", "window"), Role.WINDOW_CLERK, display_name="韩梅")


def _eligible_on_registry(household: Household, code: str) -> bool:
    from ejia.catalogue.selectors import engine_for
    from ejia.verification.engine_input import household_engine_input

    engine_input = household_engine_input(household, on=ON)
    return engine_for(ON).evaluate(engine_input.input, on=ON)[code].outcome == "eligible"


def _dibao_households() -> list[Household]:
    ids = HouseholdStatus.objects.filter(kind=StatusKind.DIBAO, end__isnull=True).values("household_id")
    households = [h for h in Household.objects.filter(pk__in=ids).order_by("pk") if h.head() is not None]
    return [h for h in households if _eligible_on_registry(h, "dibao")]


def _bank_shows_savings(household: Household, yuan: int) -> None:
    """The bank now reports a large deposit of the head that the registry does not know of."""
    snapshot = SourceSnapshot.objects.get(source__code="bank_deposit", status=SourceSnapshot.Status.COMMITTED)
    head = household.head()
    SourceRecord.objects.create(
        snapshot=snapshot,
        row_number=999_999,
        person_index=head.id_number_index,
        id_ciphertext=head.id_number_ciphertext,
        data={"bank": "滨州农商银行", "account_type": "定期储蓄", "balance_fen": yuan * 100},
    )


def _run(actor, county) -> ReverificationBatch:
    batch = review_batch_start(actor=actor, county=county, on=ON)
    batch.refresh_from_db()
    return batch


def test_a_recipient_whose_bank_now_shows_savings_is_flagged_and_one_still_eligible_is_not(city, dave, county):
    changed, unchanged = _dibao_households()[:2]
    _bank_shows_savings(changed, 5_000_000)

    batch = _run(dave, county)

    assert batch.status == ReverificationBatch.Status.FINISHED and batch.error == ""
    flag = batch.flags.get(household=changed, programme_code="dibao")
    assert flag.outcome == ReverificationFlag.Outcome.NOT_ELIGIBLE
    assert flag.status_kind == StatusKind.DIBAO and flag.programme_name == "最低生活保障（低保）"
    assert any("金融资产" in reason for reason in flag.reasons), flag.reasons
    assets = next(d for d in flag.differences if d["fact"] == "financial_assets_fen")
    assert assets["verified"] >= 500_000_000 and assets["sources"] == ["存款及理财"] and assets["as_of"]
    assert not batch.flags.filter(household=unchanged).exists()
    # Every flag names what is wrong.
    assert all(f.reasons for f in batch.flags.all())


def test_progress_numbers_add_up_and_every_source_query_is_audited(city, dave, county):
    batch = _run(dave, county)

    recipients = set(
        HouseholdStatus.objects.filter(
            kind__in=[StatusKind.TEKUN, StatusKind.DIBAO, StatusKind.DIBAO_EDGE, StatusKind.EXPENSE_HARDSHIP],
            household__division__path__startswith=county.path,
        ).values_list("household_id", flat=True)
    )
    assert batch.total == len(recipients) > 0
    assert batch.done == batch.total and batch.percent == 100
    assert batch.flagged == batch.flags.count()
    assert set(batch.flags.values_list("household_id", flat=True)) <= recipients
    assert batch.persons > batch.total and batch.failed_sources == []
    events = AuditEvent.objects.filter(object_id=str(batch.public_id))
    queries = events.filter(action="verification.review_source_query")
    assert queries.count() == 12
    assert {e.data["persons"] for e in queries} == {batch.persons}
    assert all(e.actor_id == dave.pk for e in events)
    finish = events.get(action="verification.review_batch_finish")
    assert finish.data["households"] == batch.total and finish.data["flagged"] == batch.flagged


def test_a_source_without_data_is_recorded_and_nobody_is_flagged_on_what_it_would_have_said(city, dave, county):
    changed = _dibao_households()[0]
    _bank_shows_savings(changed, 5_000_000)
    SourceSnapshot.objects.filter(source__code="bank_deposit").update(status=SourceSnapshot.Status.SUPERSEDED)

    batch = _run(dave, county)

    assert batch.status == ReverificationBatch.Status.FINISHED
    assert [f["code"] for f in batch.failed_sources] == ["bank_deposit"]
    assert "尚未导入" in batch.failed_sources[0]["why"]
    assert not batch.flags.filter(household=changed).exists()
    assert not any("金融资产" in r for f in batch.flags.all() for r in f.reasons)
    assert not AuditEvent.objects.filter(
        object_id=str(batch.public_id), action="verification.review_source_query", data__source="bank_deposit"
    ).exists()


def test_a_second_start_returns_the_open_batch(dave, county):
    first = review_batch_start(actor=dave, county=county, run=False)
    second = review_batch_start(actor=dave, county=county, run=False)
    assert second.pk == first.pk and first.status == ReverificationBatch.Status.QUEUED
    assert ReverificationBatch.objects.count() == 1
    assert AuditEvent.objects.filter(action="verification.review_batch_start").count() == 1
    # Once it has run, a new start makes a new batch; an empty county finishes with nothing to do.
    review_batch_run(batch_id=first.pk)
    first.refresh_from_db()
    assert (first.status, first.total, first.done, first.flagged) == ("finished", 0, 0, 0)
    assert review_batch_start(actor=dave, county=county, run=False).pk != first.pk


def test_a_stale_running_batch_is_replaced(dave, county):
    stale = review_batch_start(actor=dave, county=county, run=False)
    ReverificationBatch.objects.filter(pk=stale.pk).update(
        status=ReverificationBatch.Status.RUNNING, updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )
    fresh = review_batch_start(actor=dave, county=county, run=False)
    stale.refresh_from_db()
    assert fresh.pk != stale.pk and stale.status == ReverificationBatch.Status.FAILED and stale.error


def test_dave_starts_a_batch_from_the_page_and_sees_its_flags(city, client, dave, county):
    changed = _dibao_households()[0]
    _bank_shows_savings(changed, 5_000_000)
    client.login(username="dave", password=TEST_PASSWORD)

    page = client.get(reverse("verification:reviews"))
    assert page.status_code == 200 and "年度复核批量核对" in page.content.decode()

    response = client.post(reverse("verification:review_start"), {"county": "371602"})
    batch = ReverificationBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("verification:review_batch", args=[batch.public_id])

    html = client.get(response["Location"]).content.decode()
    assert 'data-testid="flags"' in html and changed.address in html
    assert changed.head().id_number_masked in html
    assert reverse("registry:household_detail", args=[changed.public_id]) in html
    assert "不再符合条件" in html
    # A finished batch's progress fragment tells the polling page to reload, and stops polling.
    fragment = client.get(response["Location"], headers={"HX-Request": "true"})
    assert fragment["HX-Refresh"] == "true" and "hx-trigger" not in fragment.content.decode()


def test_an_open_batch_polls_its_progress(client, dave, county):
    batch = review_batch_start(actor=dave, county=county, run=False)
    client.login(username="dave", password=TEST_PASSWORD)
    fragment = client.get(reverse("verification:review_batch", args=[batch.public_id]), headers={"HX-Request": "true"})
    html = fragment.content.decode()
    assert fragment.status_code == 200 and 'hx-trigger="every' in html and 'role="progressbar"' in html
    assert "<html" not in html


def test_a_township_clerk_of_another_county_is_refused(client, dave, hana, county):
    batch = review_batch_start(actor=dave, county=county, run=False)
    client.login(username="hana", password=TEST_PASSWORD)
    assert client.get(reverse("verification:reviews")).status_code == 403
    assert client.get(reverse("verification:review_batch", args=[batch.public_id])).status_code == 403
    assert client.post(reverse("verification:review_start"), {"county": "371602"}).status_code == 403
    assert ReverificationBatch.objects.count() == 1


def test_a_reviewer_of_another_county_cannot_open_this_countys_batch(client, dave, county):
    other = make_staff("ivan", _unit("371621", "centre"), Role.COUNTY_REVIEWER, display_name="伊万")
    batch = review_batch_start(actor=dave, county=county, run=False)
    client.force_login(other)
    assert client.get(reverse("verification:review_batch", args=[batch.public_id])).status_code == 403
    assert client.post(reverse("verification:review_start"), {"county": "371602"}).status_code == 403


def test_reviewers_reach_the_batches_from_the_menu_and_clerks_do_not_see_it(client, dave, bob):
    from django.urls import reverse

    client.force_login(dave)
    assert reverse("verification:reviews") in client.get(reverse("accounts:home")).content.decode()
    client.force_login(bob)
    assert reverse("verification:reviews") not in client.get(reverse("accounts:home")).content.decode()


def test_a_finished_batch_that_flagged_nobody_says_so(client, dave, county):
    batch = review_batch_start(actor=dave, county=county, run=False)
    ReverificationBatch.objects.filter(pk=batch.pk).update(status=ReverificationBatch.Status.FINISHED, total=3, done=3)
    client.force_login(dave)
    html = client.get(reverse("verification:review_batch", args=[batch.public_id])).content.decode()
    assert 'data-testid="no-flags"' in html and "所有核对的家庭仍符合所享受项目的条件" in html
