import re

import pytest
from django.urls import reverse
from django.utils import timezone

from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application
from ejia.cases.tracking import TrackingError, case_track, sms_code_send, sms_code_verify
from ejia.core.sms import MemoryBackend

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(bob, catalogue):
    data = application()
    case = case_submit(actor=bob, channel="window", idempotency_key="t", data=data)
    case.id_number = data["members"][0]["id_number"]
    return case


def last_code() -> str:
    return re.search(r"验证码是(\d{6})", MemoryBackend.sent[-1][1]).group(1)


def test_a_citizen_tracks_by_reference_and_the_last_six_id_characters(client, case):
    page = client.post(reverse("citizen:track"), {"reference": case.reference, "id_last6": case.id_number[-6:]})
    text = page.content.decode()
    assert "调查核实" in text and "最低生活保障" in text and "张*山" in text
    assert case.id_number not in text and "张大山" not in text


def test_a_wrong_tail_is_refused_and_repeated_guessing_is_locked(case):
    for _ in range(5):
        with pytest.raises(TrackingError, match="不正确"):
            case_track(reference=case.reference, id_last6="000000")
    with pytest.raises(TrackingError, match="过多"):
        case_track(reference=case.reference, id_last6=case.id_number[-6:])


def test_a_citizen_logs_in_with_the_phone_and_an_sms_code(client, case, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("citizen:login"), {"phone": "138 1234 5678", "action": "send"})
    assert MemoryBackend.sent[-1][0] == "13812345678"
    wrong = client.post(
        reverse("citizen:login"),
        {"phone": "13812345678", "action": "verify", "code": "999999" if last_code() != "999999" else "111111"},
    )
    assert "验证码不正确" in wrong.content.decode()
    done = client.post(reverse("citizen:login"), {"phone": "13812345678", "action": "verify", "code": last_code()})
    assert done.url == reverse("citizen:mine")
    assert case.reference in client.get(done.url).content.decode()


def test_codes_are_single_use_rate_limited_and_expire(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sms_code_send(phone="13900000000")
    code = last_code()
    with pytest.raises(TrackingError, match="60秒"):
        sms_code_send(phone="13900000000")
    assert sms_code_verify(phone="13900000000", code=code) == "13900000000"
    with pytest.raises(TrackingError):
        sms_code_verify(phone="13900000000", code=code)
    with pytest.raises(TrackingError, match="11位"):
        sms_code_send(phone="12345")


def test_expected_dates_count_working_days_across_national_day(db):
    import datetime as dt

    from ejia.cases.models import Case
    from ejia.cases.tracking import case_stages
    from ejia.core.workdays import calendar_seed

    calendar_seed()
    submitted = timezone.make_aware(dt.datetime(2026, 9, 30, 10, 0))
    stages = case_stages(Case(submitted_at=submitted))
    # 15 working days after Wed 30 Sep: Oct 1–7 are holidays, Sat 10 Oct is a make-up working day.
    assert stages[1].expected == dt.date(2026, 10, 27)


def test_the_applicant_gets_an_sms_with_the_reference_when_the_case_commits(
    bob, catalogue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        case = case_submit(actor=bob, channel="window", idempotency_key="sms", data=application())
    phone, text, _ = MemoryBackend.sent[-1]
    assert phone == "13812345678" and case.reference in text


def test_the_tracker_counts_failures_per_reference_not_per_address(client, case):
    """Behind the proxy every citizen has the proxy's address: twenty wrong tries on other
    references from there leave the first try of this citizen answered."""
    proxy = {"REMOTE_ADDR": "10.20.0.5"}
    for n in range(20):
        wrong = client.post(
            reverse("citizen:track"), {"reference": f"371602-20260501-{n + 100:04d}", "id_last6": "000000"}, **proxy
        )
        assert "不正确" in wrong.content.decode()
    page = client.post(
        reverse("citizen:track"), {"reference": case.reference, "id_last6": case.id_number[-6:]}, **proxy
    )
    assert "调查核实" in page.content.decode() and "过多" not in page.content.decode()


def test_a_reference_is_locked_whatever_address_the_guesses_come_from(client, case):
    for n in range(5):
        client.post(
            reverse("citizen:track"),
            {"reference": case.reference, "id_last6": "000000"},
            REMOTE_ADDR=f"198.51.100.{n + 1}",
        )
    page = client.post(
        reverse("citizen:track"),
        {"reference": case.reference, "id_last6": case.id_number[-6:]},
        REMOTE_ADDR="203.0.113.1",
    )
    assert "该受理号查询失败次数过多" in page.content.decode() and "调查核实" not in page.content.decode()


def test_sms_codes_are_limited_per_phone_not_per_address(client, db, django_capture_on_commit_callbacks):
    proxy = {"REMOTE_ADDR": "10.20.0.5"}
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(8):
            sent = client.post(reverse("citizen:login"), {"phone": f"1390000{n:04d}", "action": "send"}, **proxy)
            assert f"验证码已发送到 1390000{n:04d}" in sent.content.decode()
        again = client.post(reverse("citizen:login"), {"phone": "13900000000", "action": "send"}, **proxy)
    assert [phone for phone, *_ in MemoryBackend.sent[-8:]] == [f"1390000{n:04d}" for n in range(8)]
    assert "60秒" in again.content.decode()
