"""When the access log's seal job stops, nobody is left unaware: API calls still unsealed
EJIA_ACCESS_SEAL_ALERT_MINUTES after they were made are a home-page work item for the auditor and
the system administrator of their area, and the 封存状态 page says what is wrong."""

from __future__ import annotations

import contextlib
import datetime as dt
from unittest import mock

import pytest
from django.utils import timezone

from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.api.tests.conftest import bearer
from ejia.core.audit import access_purge, access_seal

URL = "/staff/audit/access/seal/"


@contextlib.contextmanager
def at(when: dt.datetime):
    with mock.patch.object(timezone, "now", return_value=when):
        yield


def _call(client, api_client, when: dt.datetime | None = None) -> None:
    with at(when) if when else contextlib.nullcontext():
        answer = client.get("/api/v1/catalogue/programmes", headers=bearer(api_client))
    assert answer.status_code == 200, answer.content


def _alert(client, user) -> int | None:
    client.force_login(user)
    items = {item.key: item for item in client.get("/staff/").context["work_items"]}
    item = items.get("access_seal_stalled")
    if item is None:
        return None
    assert item.url == URL and "封存中断" in item.label and "10 分钟" in item.label
    return item.count


@pytest.fixture
def watchers(org):
    return {
        "city_auditor": make_staff("ivy", _unit("371600", "centre"), Role.AUDITOR),
        "county_auditor": make_staff("qian", _unit("371602", "centre"), Role.AUDITOR),
        "other_auditor": make_staff("zhao", _unit("371621", "centre"), Role.AUDITOR),
        "city_admin": make_staff("ma", _unit("371600", "centre"), Role.SYSADMIN),
        "county_admin": make_staff("sun", _unit("371602", "centre"), Role.SYSADMIN),
    }


def test_a_stalled_seal_is_a_work_item_of_the_auditors_and_admins_of_the_area(
    client, catalogue, yb_system, partner, watchers, bob
):
    eleven_ago = timezone.now() - dt.timedelta(minutes=11)
    _call(client, yb_system[0], eleven_ago)  # 滨城区's department system
    _call(client, partner[0], eleven_ago)  # a partner registry: no unit, city level only
    _call(client, yb_system[0])  # just now: the seal job may not have run yet
    expected = {"city_auditor": 2, "county_auditor": 1, "other_auditor": None, "city_admin": 2, "county_admin": 1}
    assert {name: _alert(client, user) for name, user in watchers.items()} == expected
    assert _alert(client, bob) is None  # a window clerk watches no seal
    access_seal()
    assert {name: _alert(client, user) for name, user in watchers.items()} == dict.fromkeys(watchers)


def test_the_threshold_is_a_setting(client, catalogue, yb_system, watchers, settings):
    _call(client, yb_system[0], timezone.now() - dt.timedelta(minutes=11))
    settings.EJIA_ACCESS_SEAL_ALERT_MINUTES = 20
    assert _alert(client, watchers["city_admin"]) is None
    settings.EJIA_ACCESS_SEAL_ALERT_MINUTES = 5
    client.force_login(watchers["city_admin"])
    item = next(i for i in client.get("/staff/").context["work_items"] if i.key == "access_seal_stalled")
    assert item.count == 1 and "5 分钟" in item.label


def test_the_seal_status_page_says_what_is_wrong_and_when_it_is_right_again(
    client, catalogue, yb_system, watchers, settings
):
    _call(client, yb_system[0], timezone.now() - dt.timedelta(minutes=30))
    client.force_login(watchers["county_admin"])
    page = client.get(URL)
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="seal-stalled"' in text and "有 1 条接口访问记录超过 10 分钟仍未封存" in text
    assert "ejia_audit_seal" in text and "尚未封存过" in text
    assert 'data-testid="tab-access-log"' not in text  # the administrator reads no call
    assert page.context["status"].unsealed == 1 and page.context["status"].stale == 1
    # Another county's administrator sees its own area: nothing stalled there.
    other = make_staff("wu", _unit("371621", "centre"), Role.SYSADMIN)
    client.force_login(other)
    assert 'data-testid="seal-ok"' in client.get(URL).content.decode()
    access_seal()
    client.force_login(watchers["county_auditor"])
    page = client.get(URL)
    text, seal = page.content.decode(), page.context["status"].last_seal
    assert 'data-testid="seal-ok"' in text and f"（审计链第 {seal.seq} 条，1 条记录）" in text
    assert 'data-testid="tab-access-log"' in text and "尚未清理过" in text
    # A purge shows as the latest clean-up.
    access_purge(now=timezone.now() + dt.timedelta(days=200))
    assert "删除 1 条过期记录" in client.get(URL).content.decode()


def test_other_staff_are_refused(client, bob):
    client.force_login(bob)
    assert client.get(URL).status_code == 403


def test_the_seal_status_page_and_the_work_item_in_english(client, catalogue, yb_system, watchers):
    from ejia.core.tests.test_english_staff_pages import assert_english, in_english

    _call(client, yb_system[0], timezone.now() - dt.timedelta(minutes=30))
    english = in_english(watchers["city_admin"])
    words = assert_english(english, URL, expect="Sealing has stopped: 1 API access records")
    assert ("h1", "API access log: seal status") in words
    home = english.get("/staff/").content.decode()
    assert "API access log sealing has stopped (calls unsealed for over 10 minutes)" in home
    assert "Access log seal" in home  # the administrator's menu
    access_seal()
    auditor = in_english(watchers["city_auditor"])
    assert_english(auditor, URL, expect="Sealing is running")
