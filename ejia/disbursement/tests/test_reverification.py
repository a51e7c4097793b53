"""The reviewer's answer to each household the annual batch flagged: kept with a written reason,
or acted on in 动态管理 first; answered once, in scope, and audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.core.audit import AuditEvent
from ejia.disbursement.reverification import review_flag_resolve
from ejia.disbursement.services import entitlement_create, entitlement_suspend
from ejia.disbursement.tests.conftest import MAY, household, programmes  # noqa: F401 (fixture)
from ejia.verification.models import ReverificationBatch, ReverificationFlag
from ejia.verification.reviews import ReviewRefused
from ejia.verification.tests.factories import flagged_batch

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(dave, programmes):  # noqa: F811
    """A finished batch of 滨城区 that flagged one 低保 household the platform pays."""
    hh = household()
    ent = entitlement_create(actor=dave, household=hh, programme=programmes["dibao"], amount_fen=60000, start_month=MAY)
    return flagged_batch(actor=dave, household=hh), ent


def _url(flag):
    return reverse("disbursement:reverification_flag", args=[flag.pk])


def _batch_page(client, flag, show="open"):
    return client.get(reverse("verification:review_batch", args=[flag.batch.public_id]) + f"?show={show}")


def test_dave_keeps_a_flag_with_a_reason_once_even_when_he_clicks_twice(client, dave, flagged):
    flag, ent = flagged
    client.force_login(dave)
    listing = _batch_page(client, flag).content.decode()
    assert f'id="flag-{flag.pk}"' in listing and _url(flag) in listing
    page = client.get(_url(flag)).content.decode()
    assert 'data-testid="resolve-form"' in page and "家庭金融资产超过规定标准" in page
    # The household's entitlement is one click away, to act on it in 动态管理.
    assert reverse("disbursement:entitlement", args=[ent.public_id]) in page
    assert AuditEvent.objects.filter(action="verification.review_flag_view", actor=dave).count() == 1

    form = {"resolution": "kept", "note": "入户核实：存款为代管的亲属治病款，已提供证明"}
    response = client.post(_url(flag), form)
    # The last open flag of the batch: back to the batch, with the news that all are done.
    assert response.status_code == 302
    assert response["Location"] == reverse("verification:review_batch", args=[flag.batch.public_id])
    again = client.post(_url(flag), {"resolution": "acted", "note": "另一个浏览器窗口里的旧页面"})
    assert again.status_code == 400 and "未重复处理" in again.content.decode()

    flag.refresh_from_db()
    assert (flag.resolution, flag.resolved_by) == ("kept", dave)
    assert flag.resolution_note.startswith("入户核实")
    events = AuditEvent.objects.filter(action="verification.review_flag_resolve")
    assert events.count() == 1 and events.get().actor == dave and events.get().data["resolution"] == "kept"
    # It left the 待处理 tab for 已处理, with who answered and why.
    assert f'id="flag-{flag.pk}"' not in _batch_page(client, flag).content.decode()
    done = _batch_page(client, flag, "done").content.decode()
    assert "核实后继续享受" in done and "代管的亲属治病款" in done and _url(flag) not in done


def test_after_an_answer_the_next_open_flag_follows(client, dave, flagged):
    flag, _ = flagged
    second = ReverificationFlag.objects.create(
        batch=flag.batch,
        household=household(),
        programme_code="dibao",
        programme_name="最低生活保障（低保）",
        status_kind="dibao",
        outcome=ReverificationFlag.Outcome.POSSIBLY,
        reasons=["缺少家庭金融资产的核对数据"],
    )
    client.force_login(dave)
    response = client.post(_url(flag), {"resolution": "kept", "note": "核实无误继续享受"})
    assert response["Location"] == _url(second)
    refused = client.post(_url(second), {"resolution": "kept", "note": "好"})
    assert refused.status_code == 400
    html = refused.content.decode()
    assert "请写明处理说明" in html and 'value="kept" checked' in html  # nothing typed is lost


def test_acted_is_refused_until_the_entitlement_was_changed_in_dynamic_management(dave, flagged):
    flag, ent = flagged
    with pytest.raises(ReviewRefused, match="请先在待遇页面"):
        review_flag_resolve(actor=dave, flag_id=flag.pk, resolution="acted", note="已停发低保")
    flag.refresh_from_db()
    assert flag.resolution == ""

    entitlement_suspend(actor=dave, entitlement=ent, reason="年度复核：银行存款超过标准，待核实")
    flag = review_flag_resolve(actor=dave, flag_id=flag.pk, resolution="acted", note="已暂停发放，待户主说明存款来源")
    assert flag.resolution == ReverificationFlag.Resolution.ACTED


@pytest.mark.parametrize(
    ("resolution", "note", "message"),
    [
        ("", "核实无误继续享受", "请选择处理结果"),
        ("ignore", "核实无误继续享受", "请选择处理结果"),
        ("kept", "  好 ", "请写明处理说明"),
        ("kept", "很" * 501, "500字以内"),
    ],
)
def test_a_resolution_without_a_choice_or_a_reason_is_refused_in_chinese(dave, flagged, resolution, note, message):
    flag, _ = flagged
    with pytest.raises(ReviewRefused, match=message):
        review_flag_resolve(actor=dave, flag_id=flag.pk, resolution=resolution, note=note)
    assert not AuditEvent.objects.filter(action="verification.review_flag_resolve").exists()


def test_a_flag_of_a_batch_still_running_cannot_be_answered(dave, flagged):
    flag, _ = flagged
    ReverificationBatch.objects.filter(pk=flag.batch_id).update(status=ReverificationBatch.Status.RUNNING)
    with pytest.raises(ReviewRefused, match="尚未核对完成"):
        review_flag_resolve(actor=dave, flag_id=flag.pk, resolution="kept", note="核实无误继续享受")


def test_a_reviewer_of_another_county_and_a_window_clerk_cannot_answer(client, bob, flagged):
    flag, _ = flagged
    other = make_staff("ivan", _unit("371621", "centre"), Role.COUNTY_REVIEWER, display_name="伊万")
    for user in (other, bob):
        client.force_login(user)
        response = client.post(_url(flag), {"resolution": "kept", "note": "核实无误继续享受"})
        assert response.status_code == 403
    flag.refresh_from_db()
    assert flag.resolution == ""


def test_an_unknown_flag_is_not_found(client, dave, flagged):
    client.force_login(dave)
    url = reverse("disbursement:reverification_flag", args=[999_999])
    assert client.post(url, {"resolution": "kept", "note": "核实无误继续享受"}).status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_reviewers_answering_the_same_flag_at_once_record_one_answer(dave, programmes):  # noqa: F811
    from django.db import connection

    from ejia.cases.workflow.tests.test_concurrency import race

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    flag = flagged_batch(actor=dave, household=household())

    def answer(i):
        def attempt():
            try:
                review_flag_resolve(actor=dave, flag_id=flag.pk, resolution="kept", note=f"第{i}次提交：核实无误")
            except ReviewRefused as exc:
                return "refused: 未重复处理" if "未重复处理" in exc.message else repr(exc)
            return "recorded"

        return attempt

    outcomes = race(*(answer(i) for i in range(20)))
    assert sorted(outcomes) == ["recorded"] + ["refused: 未重复处理"] * 19, outcomes
    assert AuditEvent.objects.filter(action="verification.review_flag_resolve").count() == 1
