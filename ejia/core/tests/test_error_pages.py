"""One branded page for refusals and errors: 403, 404 (also with DEBUG on, for a view's own 404),
500, in Chinese with the navigation, or English when chosen; a missing upload is a 404."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client, override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_an_unknown_address_gets_the_branded_404_with_navigation(client, bob):
    client.force_login(bob)
    response = client.get("/staff/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'data-testid="not-found"' in html and "页面不存在" in html
    assert "工作台" in html and "退出登录" in html  # the staff navigation is there


def test_a_missing_object_is_the_branded_404_even_with_debug_on(client, bob, settings):
    settings.DEBUG = True
    client.force_login(bob)
    response = client.get(reverse("cases:case_detail", args=[uuid.uuid4()]))
    assert response.status_code == 404
    html = response.content.decode()
    assert "没有找到该申请件" in html and "Traceback" not in html and "URLconf" not in html


def test_a_refusal_is_branded_and_says_why_in_a_sentence(client, erin):
    client.force_login(erin)
    response = client.get(reverse("cases:queue"))
    assert response.status_code == 403
    html = response.content.decode()
    assert 'data-testid="forbidden"' in html
    assert "您的岗位（部门审批员）不能查看申请件列表" in html
    assert "最少够用" in html and "返回工作台首页" in html


def test_refusals_are_english_when_english_was_chosen(client, erin):
    client.force_login(erin)
    client.cookies["django_language"] = "en"
    html = client.get(reverse("cases:queue")).content.decode()
    assert "Access denied" in html and "minimum necessary" in html


def test_citizen_pages_get_the_public_navigation(client):
    response = client.get("/track/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert 'data-testid="not-found"' in html and "退出登录" not in html


@override_settings(DEBUG=False)
def test_a_crash_is_the_branded_500_and_says_nothing_was_done(bob, monkeypatch):
    from ejia.accounts import views

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views, "home_summary", broken)
    client = Client(raise_request_exception=False)
    client.force_login(bob)
    response = client.get(reverse("accounts:home"))
    assert response.status_code == 500
    html = response.content.decode()
    assert 'data-testid="server-error"' in html and "没有完成" in html and "boom" not in html


def test_a_missing_upload_is_a_404_not_a_500(client, bob):
    from django.core.files.storage import default_storage

    from ejia.cases.services import case_submit
    from ejia.cases.tests.conftest import application
    from ejia.catalogue.seed import catalogue_seed

    catalogue_seed()
    case = case_submit(actor=bob, channel="window", idempotency_key="x", data=application())
    auth = case.authorisations.first()
    default_storage.delete(auth.image.name)
    client.force_login(bob)
    response = client.get(reverse("cases:authorisation_image", args=[case.public_id, auth.public_id]))
    assert response.status_code == 404 and 'data-testid="not-found"' in response.content.decode()
