"""Self-service: a citizen logs in with an SMS code, applies one question per page, resumes, submits."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from ejia.cases.models import Case, IntakeDraft, SmsCode
from ejia.cases.tests.conftest import signature_data_url
from ejia.core.sms import MemoryBackend
from ejia.registry.tests.factories import new_id, village

pytestmark = pytest.mark.django_db
PHONE = "13700001111"


def login(client, capture):
    # The last code was sent "a while ago" (one code per minute per phone).
    SmsCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    with capture(execute=True):
        client.post(reverse("citizen:login"), {"phone": PHONE, "action": "send"})
    code = re.search(r"验证码是(\d{6})", MemoryBackend.sent[-1][1]).group(1)
    client.post(reverse("citizen:login"), {"phone": PHONE, "action": "verify", "code": code})


def test_a_citizen_applies_by_phone_and_resumes_after_logging_in_again(
    client, catalogue, django_capture_on_commit_callbacks
):
    assert client.get(reverse("citizen:apply")).url == reverse("citizen:login") + "?next=%2Fapply%2F"
    login(client, django_capture_on_commit_callbacks)
    me, child = new_id(), new_id(dt.date(2015, 3, 3))
    bad = client.post(
        reverse("citizen:apply"), {"id_number": me[:-1] + ("0" if me[-1] != "0" else "1"), "name": "周敏"}
    )
    assert "校验位" in bad.content.decode()
    client.post(reverse("citizen:apply"), {"id_number": me, "name": "周敏"})
    v = village()
    page = client.get(reverse("citizen:apply_place"), {"township": v.parent.code})
    assert v.name in page.content.decode()
    client.post(reverse("citizen:apply_place"), {"township": v.parent.code, "village": v.code, "address": "3号"})
    # Leave and come back: the draft is kept under the phone number.
    client.post(reverse("citizen:logout"))
    login(client, django_capture_on_commit_callbacks)
    members = client.get(reverse("citizen:apply_members"))
    key = members.context["rows"][0]["m"]["key"]
    client.post(
        reverse("citizen:apply_members"),
        {f"income_{key}": "600", "new_id_number": child, "new_name": "周小宝", "new_relation": "20", "action": "add"},
    )
    rows = client.get(reverse("citizen:apply_members")).context["rows"]
    assert [r["m"]["name"] for r in rows] == ["周敏", "周小宝"]
    client.post(
        reverse("citizen:apply_members"),
        {f"income_{rows[0]['m']['key']}": "600", f"income_{rows[1]['m']['key']}": "0", "action": "next"},
    )
    client.post(reverse("citizen:apply_needs"), {"needs": ["daily_living", "schooling"]})
    programmes = client.get(reverse("citizen:apply_programmes"))
    assert "最低生活保障" in programmes.content.decode()
    client.post(reverse("citizen:apply_programmes"), {"programmes": ["dibao"]})
    refused = client.post(reverse("citizen:apply_sign"), {})
    assert "请以下家庭成员本人签名：周敏" in refused.content.decode()  # the child signs nothing
    client.post(reverse("citizen:apply_sign"), {f"sig_{key}": signature_data_url()})
    check = client.get(reverse("citizen:apply_check"))
    idem = check.context["draft"].idempotency_key
    done = client.post(reverse("citizen:apply_check"), {"idempotency_key": idem})
    assert done.url == reverse("citizen:mine")
    client.post(reverse("citizen:apply_check"), {"idempotency_key": idem})  # pressed twice
    case = Case.objects.get()
    assert case.channel == "self_service" and case.submitted_by is None and case.phone == PHONE
    assert case.window.division.code == v.parent.code and not IntakeDraft.objects.exists()
    assert case.reference in client.get(reverse("citizen:mine")).content.decode()


def test_the_login_returns_to_the_application_and_the_list_offers_a_way_in(
    client, catalogue, django_capture_on_commit_callbacks
):
    started = client.get(reverse("citizen:apply"))
    assert started.url == reverse("citizen:login") + "?next=%2Fapply%2F"
    form = client.get(started.url).content.decode()
    assert 'name="next" value="/apply/"' in form and 'class="navbar-brand' in form
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("citizen:login"), {"phone": PHONE, "action": "send", "next": "/apply/"})
    code = re.search(r"验证码是(\d{6})", MemoryBackend.sent[-1][1]).group(1)
    back = client.post(reverse("citizen:login"), {"phone": PHONE, "action": "verify", "code": code, "next": "/apply/"})
    assert back.url == "/apply/"
    empty = client.get(reverse("citizen:mine")).content.decode()
    assert 'data-testid="start-apply"' in empty and reverse("portal:home") in empty
    client.post(reverse("citizen:apply"), {"id_number": new_id(), "name": "周敏"})
    resume = client.get(reverse("citizen:mine"))
    assert resume.context["resume_url"] == reverse("citizen:apply_place")
    assert 'data-testid="draft-resume"' in resume.content.decode()
    assert 'data-testid="start-apply"' not in resume.content.decode()


def test_the_login_never_sends_the_citizen_to_another_site(client, catalogue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("citizen:login"), {"phone": PHONE, "action": "send"})
    code = re.search(r"验证码是(\d{6})", MemoryBackend.sent[-1][1]).group(1)
    away = client.post(
        reverse("citizen:login"),
        {"phone": PHONE, "action": "verify", "code": code, "next": "https://evil.example/apply/"},
    )
    assert away.url == reverse("citizen:mine")
