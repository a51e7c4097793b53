"""The auditor reads every API call on the 接口访问记录 page: which system, which account, which
path, the citizen's phone masked; whether the row is sealed into the chain yet; and only the
calls of clients in the auditor's area."""

from __future__ import annotations

from conftest import _unit, make_staff
from ejia.accounts.models import Role
from ejia.api.tests.conftest import bearer
from ejia.core.audit import access_seal

URL = "/staff/audit/access/"


def _call(client, api_client) -> None:
    answer = client.get("/api/v1/catalogue/programmes", headers=bearer(api_client))
    assert answer.status_code == 200, answer.content


def test_the_city_auditor_sees_each_call_and_when_it_is_sealed(client, catalogue, yb_system, partner):
    _call(client, yb_system[0])
    _call(client, partner[0])
    auditor = make_staff("ivy", _unit("371600", "centre"), Role.AUDITOR)
    client.force_login(auditor)
    page = client.get(URL)
    assert page.status_code == 200
    rows = page.context["page"].object_list
    assert [r.data["client_id"] for r in rows] == ["sd-registry", "bc-yb"]
    text = page.content.decode()
    assert "GET /api/v1/catalogue/programmes" in text and text.count('data-testid="unsealed"') == 2
    access_seal()
    sealed = client.get(URL).content.decode()
    assert 'data-testid="unsealed"' not in sealed and sealed.count('data-testid="sealed"') == 2
    # The filter by system narrows the list.
    yb = next(r for r in rows if r.data["client_id"] == "bc-yb")
    only = client.get(URL, {"object": yb.object_id}).context["page"].object_list
    assert [r.data["client_id"] for r in only] == ["bc-yb"]


def test_a_county_auditor_sees_only_its_countys_systems(client, catalogue, yb_system, partner):
    _call(client, yb_system[0])
    _call(client, partner[0])
    other = make_staff("zhao", _unit("371621", "centre"), Role.AUDITOR)
    client.force_login(other)
    assert list(client.get(URL).context["page"].object_list) == []
    own = make_staff("qian", _unit("371602", "centre"), Role.AUDITOR)
    client.force_login(own)
    assert [r.data["client_id"] for r in client.get(URL).context["page"].object_list] == ["bc-yb"]


def test_other_staff_are_refused(client, bob):
    client.force_login(bob)
    assert client.get(URL).status_code == 403
