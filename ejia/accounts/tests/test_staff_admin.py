"""The system administrator manages staff accounts and sees units of their area, nothing else;
nobody else manages accounts; a password someone else chose is changed at first login."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse

from conftest import TEST_PASSWORD, _unit, first_village, login_with_code, make_staff
from ejia.accounts import services
from ejia.accounts.models import OrgUnit, Role, User
from ejia.core.models import AuditEvent

NEW_PASSWORD = "Lantern-Orchard-52"


@pytest.fixture
def sam(org):
    """System administrator at the city's assistance centre (the whole city)."""
    return make_staff("sam", _unit("371600", "centre"), Role.SYSADMIN, display_name="马超")


@pytest.fixture
def hui(org):
    """System administrator at 惠民县's centre (that county only)."""
    return make_staff("hui", _unit("371621", "centre"), Role.SYSADMIN, display_name="惠管")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def create_data(**overrides) -> dict:
    data = {
        "username": "lin",
        "display_name": "林静",
        "phone": "13905431234",
        "unit": _unit("371602001", "window").pk,
        "roles": [Role.WINDOW_CLERK],
        "password": "Quiet-River-2026",
    }
    data.update(overrides)
    return data


def edit_data(user: User, **overrides) -> dict:
    data = {
        "display_name": user.display_name,
        "phone": user.phone,
        "unit": user.unit_id,
        "roles": sorted(user.role_codes),
        "is_active": "on" if user.is_active else "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v != ""}


def errors(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# ---------------------------------------------------------------- who may


OTHER_ROLES = {
    Role.VILLAGE_CLERK: ("station", None),
    Role.GRID_WORKER: ("station", None),
    Role.WINDOW_CLERK: ("window", None),
    Role.COUNTY_REVIEWER: ("centre", None),
    Role.CENTRE_DIRECTOR: ("centre", None),
    Role.DEPT_APPROVER: ("department", "yb"),
    Role.CATALOGUE_EDITOR: ("department", "mz"),
    Role.EXCHANGE_OPERATOR: ("centre", None),
    Role.AUDITOR: ("centre", None),
}


def person_with(role: str) -> User:
    kind, dept = OTHER_ROLES[role]
    code = {
        "station": first_village("371602001").code,
        "window": "371602001",
        "centre": "371600" if role in (Role.EXCHANGE_OPERATOR, Role.AUDITOR) else "371602",
        "department": "371600" if role == Role.CATALOGUE_EDITOR else "371602",
    }[kind]
    return make_staff(f"p_{role}", _unit(code, kind, dept), role)


def admin_urls(target: User) -> list[tuple[str, str]]:
    return [
        ("get", reverse("accounts:staff_list")),
        ("get", reverse("accounts:staff_create")),
        ("post", reverse("accounts:staff_create")),
        ("get", reverse("accounts:staff_edit", args=[target.pk])),
        ("post", reverse("accounts:staff_edit", args=[target.pk])),
        ("post", reverse("accounts:staff_password_reset", args=[target.pk])),
        ("get", reverse("accounts:unit_list")),
        ("get", reverse("accounts:unit_options") + "?unit_q=市中"),
    ]


@pytest.mark.parametrize("role", list(OTHER_ROLES))
def test_every_other_role_is_refused_on_every_account_page(role, bob):
    person = person_with(role)
    client = signed_in(person)
    assert 'data-testid="nav-staff"' not in client.get(reverse("accounts:home")).content.decode()
    for method, url in admin_urls(bob):
        response = getattr(client, method)(url, create_data() if method == "post" else None)
        html = response.content.decode()
        assert response.status_code == 403, (method, url)
        assert 'data-testid="forbidden"' in html and "管理工作人员账号、单位和角色" in html, (method, url)
    assert not User.objects.filter(username="lin").exists()
    bob.refresh_from_db()
    assert bob.is_active and not bob.must_change_password


def test_signed_out_visitors_are_sent_to_the_login_page(bob):
    for method, url in admin_urls(bob):
        response = getattr(Client(), method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/staff/login/"), url


def test_the_sysadmin_opens_every_account_page(sam, bob):
    client = signed_in(sam)
    home = client.get(reverse("accounts:home")).content.decode()
    assert 'data-testid="nav-staff"' in home
    for method, url in admin_urls(bob):
        if method == "get":
            assert client.get(url).status_code == 200, url


def test_the_sysadmin_opens_no_case_or_household_page(sam):
    client = signed_in(sam)
    for name in ("cases:queue", "registry:household_search", "workflow:queue"):
        assert client.get(reverse(name)).status_code == 403, name


# ---------------------------------------------------------------- the list


def test_the_list_shows_staff_of_the_area_with_unit_roles_state_and_last_login(sam, bob, carol, dave, erin, frank):
    User.objects.filter(pk=carol.pk).update(is_active=False)
    html = signed_in(sam).get(reverse("accounts:staff_list")).content.decode()
    for person in (sam, bob, carol, dave, erin, frank):
        assert f'data-testid="staff-{person.username}"' in html
    assert "王丽" in html and "市中街道社会救助工作平台" in html and "乡镇（街道）窗口受理员" in html
    assert "已停用" in html and "从未登录" in html


def test_the_list_filters_by_name_unit_kind_role_and_state(sam, bob, carol, dave, erin):
    client = signed_in(sam)
    User.objects.filter(pk=carol.pk).update(is_active=False)

    def shown(**params) -> set[str]:
        page = client.get(reverse("accounts:staff_list"), params).context["page"]
        return {u.username for u in page.object_list}

    assert shown(q="王丽") == {"bob"}
    assert shown(q="DAV") == {"dave"}
    assert shown(kind="window") == {"bob", "carol"}
    assert shown(role=Role.DEPT_APPROVER) == {"erin"}
    assert shown(active="0") == {"carol"}
    assert shown(active="1", kind="window") == {"bob"}
    assert shown(unit=str(bob.unit_id)) == {"bob"}
    assert shown(q="nobody-like-this") == set()


def test_the_filters_answer_htmx_with_the_rows_only(sam, bob):
    html = signed_in(sam).get(reverse("accounts:staff_list"), {"q": "bob"}, headers={"HX-Request": "true"})
    html = html.content.decode()
    assert 'data-testid="staff-bob"' in html and "<html" not in html and 'data-testid="staff-sam"' not in html


def test_a_county_administrator_sees_only_their_county(hui, bob, frank, sam):
    client = signed_in(hui)
    page = client.get(reverse("accounts:staff_list")).context["page"]
    assert {u.username for u in page.object_list} == {"hui", "frank"}
    assert client.get(reverse("accounts:staff_edit", args=[bob.pk])).status_code == 403
    assert client.get(reverse("accounts:staff_edit", args=[sam.pk])).status_code == 403
    assert client.get(reverse("accounts:staff_edit", args=[999999])).status_code == 404


def test_the_list_pages_through_many_accounts(sam):
    station = _unit(first_village("371602001").code, "station")
    for n in range(55):
        make_staff(f"grid{n:02d}", station, Role.GRID_WORKER)
    client = signed_in(sam)
    first = client.get(reverse("accounts:staff_list"), {"role": Role.GRID_WORKER})
    assert len(first.context["page"].object_list) == 50 and first.context["page"].paginator.count == 55
    second = client.get(reverse("accounts:staff_list"), {"role": Role.GRID_WORKER, "page": 2})
    assert len(second.context["page"].object_list) == 5
    assert "?role=grid_worker&page=2" in first.content.decode()


# ---------------------------------------------------------------- create


def test_the_sysadmin_creates_a_window_clerk_who_must_change_the_password(sam):
    response = signed_in(sam).post(reverse("accounts:staff_create"), create_data())
    lin = User.objects.get(username="lin")
    assert response.status_code == 302 and response["Location"] == reverse("accounts:staff_edit", args=[lin.pk])
    assert lin.unit == _unit("371602001", "window") and lin.role_codes == {Role.WINDOW_CLERK}
    assert lin.display_name == "林静" and lin.phone == "13905431234"
    assert lin.must_change_password and lin.check_password("Quiet-River-2026")
    event = AuditEvent.objects.get(action="staff.create", object_id=str(lin.pk))
    assert event.actor == sam
    assert event.data["roles"] == [Role.WINDOW_CLERK] and event.data["must_change_password"] is True
    assert "Quiet-River-2026" not in json.dumps(event.data, ensure_ascii=False)


def test_the_create_form_suggests_a_fresh_strong_password(sam):
    client = signed_in(sam)
    first = client.get(reverse("accounts:staff_create")).context["form"].initial["password"]
    second = client.get(reverse("accounts:staff_create")).context["form"].initial["password"]
    assert first != second and len(first) >= 12


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"roles": [Role.VILLAGE_CLERK]}, "“村（社区）工作站协理员”须在社会救助工作站任职"),
        ({"roles": [Role.DEPT_APPROVER]}, "“部门审批员”须在部门（单位）任职"),
        ({"roles": [Role.COUNTY_REVIEWER]}, "“县级审核员”须在县（区、市）级社会救助管理服务中心任职"),
        ({"roles": [Role.SYSADMIN, Role.CENTRE_DIRECTOR], "unit": ("centre", "371602")}, "系统管理员不能兼任其他角色"),
        ({"roles": [Role.AUDITOR, Role.COUNTY_REVIEWER], "unit": ("centre", "371602")}, "审计员不能兼任其他角色"),
        ({"roles": [Role.CATALOGUE_EDITOR], "unit": ("department", "371602", "mz")}, "须在市级部门（单位）任职"),
        (
            {"roles": [Role.WINDOW_CLERK], "unit": ("station",)},
            "“乡镇（街道）窗口受理员”须在社会救助工作平台（窗口）任职",
        ),
        ({"roles": [Role.GRID_WORKER], "unit": ("department", "371602", "yb")}, "“网格员”须在社会救助工作站任职"),
        ({"roles": []}, "请至少选择一个角色"),
        ({"password": "1234567890"}, "密码不能全是数字"),
        ({"password": "short-pw"}, "密码太短：至少需要10个字符"),
        ({"password": "qwertyuiop"}, "这个密码太常见"),
        ({"username": "quietriver", "password": "quietriver1"}, "密码与用户名太相近"),
        ({"username": "BOB"}, "该用户名已被使用"),
        ({"username": "王丽"}, "用户名为3至30位字母、数字"),
        ({"phone": "12345"}, "请填写11位手机号码"),
        ({"display_name": "  "}, "请填写姓名"),
        ({"unit": ""}, "请选择所属单位"),
    ],
)
def test_the_create_form_explains_what_is_wrong(sam, bob, overrides, message):
    if isinstance(overrides.get("unit"), tuple):
        kind, code, dept = (*overrides["unit"], None, None)[:3]
        overrides["unit"] = _unit(code or first_village("371602001").code, kind, dept).pk
    html = errors(signed_in(sam).post(reverse("accounts:staff_create"), create_data(**overrides)))
    assert message in html
    assert not User.objects.filter(username__in=["lin", "王丽", "quietriver"]).exists()
    assert User.objects.filter(username__iexact="bob").count() == 1


def test_a_county_administrator_cannot_post_staff_to_another_county(hui):
    other = _unit("371602001", "window")
    html = errors(signed_in(hui).post(reverse("accounts:staff_create"), create_data(unit=other.pk)))
    assert "所选单位不存在，或不在您的账号管理范围内" in html
    assert not User.objects.filter(username="lin").exists()
    # The service refuses too, whoever calls it.
    with pytest.raises(PermissionDenied):
        services.staff_create(
            actor=hui,
            username="lin",
            password="Quiet-River-2026",
            display_name="林静",
            unit=other,
            roles=["window_clerk"],
        )


def test_the_unit_picker_finds_units_of_the_area_by_name_or_code(sam, hui):
    client = signed_in(sam)
    html = client.get(reverse("accounts:unit_options"), {"unit_q": "三河湖"}).content.decode()
    assert "三河湖镇社会救助工作平台" in html and "市中街道社会救助工作平台" not in html
    html = client.get(reverse("accounts:unit_options"), {"unit_q": "371621", "unit_kind": "centre"}).content.decode()
    assert "惠民县社会救助管理服务中心" in html and "工作平台" not in html
    chosen = _unit("371602001", "window")
    html = client.get(reverse("accounts:unit_options"), {"unit_q": "三河湖", "unit": chosen.pk}).content.decode()
    assert f'value="{chosen.pk}" selected' in html
    # Outside the administrator's area nothing is offered, not even when asked by id.
    html = signed_in(hui).get(reverse("accounts:unit_options"), {"unit_q": "三河湖", "unit": chosen.pk})
    assert "三河湖" not in html.content.decode() and "市中街道" not in html.content.decode()


# ---------------------------------------------------------------- edit


def test_the_sysadmin_changes_name_unit_and_roles_and_the_audit_lists_the_changes(sam, bob):
    other_window = _unit("371602105", "window")
    response = signed_in(sam).post(
        reverse("accounts:staff_edit", args=[bob.pk]),
        edit_data(bob, display_name="王丽华", phone="0543-3161234", unit=other_window.pk),
    )
    assert response.status_code == 302
    bob.refresh_from_db()
    assert (bob.display_name, bob.phone, bob.unit) == ("王丽华", "0543-3161234", other_window)
    event = AuditEvent.objects.get(action="staff.update", object_id=str(bob.pk))
    assert event.actor == sam
    assert event.data["changed"]["display_name"] == {"from": "王丽", "to": "王丽华"}
    assert event.data["changed"]["unit"] == {"from": "市中街道社会救助工作平台", "to": "三河湖镇社会救助工作平台"}
    assert event.data["changed"]["phone"] == "changed" and "0543" not in json.dumps(event.data)


def test_roles_added_and_removed_are_listed(sam, dave):
    signed_in(sam).post(reverse("accounts:staff_edit", args=[dave.pk]), edit_data(dave, roles=[Role.CENTRE_DIRECTOR]))
    dave = User.objects.get(pk=dave.pk)
    assert dave.role_codes == {Role.CENTRE_DIRECTOR}
    event = AuditEvent.objects.get(action="staff.update", object_id=str(dave.pk))
    assert event.data["roles_added"] == [Role.CENTRE_DIRECTOR]
    assert event.data["roles_removed"] == [Role.COUNTY_REVIEWER]
    assert event.data["changed"] == {}


def test_saving_without_a_change_writes_no_event(sam, bob):
    response = signed_in(sam).post(reverse("accounts:staff_edit", args=[bob.pk]), edit_data(bob), follow=True)
    assert "没有需要保存的修改" in response.content.decode()
    assert not AuditEvent.objects.filter(action="staff.update").exists()


def test_the_edit_form_checks_roles_against_the_unit(sam, bob):
    html = errors(
        signed_in(sam).post(reverse("accounts:staff_edit", args=[bob.pk]), edit_data(bob, roles=[Role.DEPT_APPROVER]))
    )
    assert "“部门审批员”须在部门（单位）任职" in html
    assert User.objects.get(pk=bob.pk).role_codes == {Role.WINDOW_CLERK}


def test_a_deactivated_person_cannot_log_in_and_their_session_ends(sam, bob):
    bobs = Client()
    assert bobs.login(username="bob", password=TEST_PASSWORD)
    assert bobs.get(reverse("accounts:home")).status_code == 200
    signed_in(sam).post(reverse("accounts:staff_edit", args=[bob.pk]), edit_data(bob, is_active=""))
    bob.refresh_from_db()
    assert not bob.is_active
    assert AuditEvent.objects.get(action="staff.update").data["changed"]["is_active"] == {"from": True, "to": False}
    assert bobs.get(reverse("accounts:home")).status_code == 302
    response = Client().post(reverse("accounts:login"), {"username": "bob", "password": TEST_PASSWORD})
    assert "用户名或密码不正确" in response.content.decode()


def test_an_administrator_cannot_lock_themselves_out(sam):
    client = signed_in(sam)
    html = errors(client.post(reverse("accounts:staff_edit", args=[sam.pk]), edit_data(sam, is_active="")))
    assert "不能停用自己的账号" in html
    another_centre = _unit("371600", "centre")
    html = errors(
        client.post(
            reverse("accounts:staff_edit", args=[sam.pk]),
            edit_data(sam, roles=[Role.CENTRE_DIRECTOR], unit=another_centre.pk),
        )
    )
    assert "不能取消自己的系统管理员角色" in html
    sam = User.objects.get(pk=sam.pk)
    assert sam.is_active and sam.role_codes == {Role.SYSADMIN}
    assert not AuditEvent.objects.filter(action="staff.update").exists()
    # The service refuses as well, whoever calls it.
    with pytest.raises(ValidationError, match="不能停用自己的账号"):
        services.staff_update(
            actor=sam,
            user_id=sam.pk,
            display_name=sam.display_name,
            phone="",
            unit=sam.unit,
            roles=[Role.SYSADMIN],
            is_active=False,
        )


def test_another_administrator_may_deactivate_an_administrator(sam, org):
    second = make_staff("sam2", _unit("371600", "centre"), Role.SYSADMIN)
    signed_in(sam).post(reverse("accounts:staff_edit", args=[second.pk]), edit_data(second, is_active=""))
    assert not User.objects.get(pk=second.pk).is_active


# ---------------------------------------------------------------- passwords


def test_a_reset_makes_the_person_change_the_password_at_login(sam, bob):
    earlier = Client()
    assert earlier.login(username="bob", password=TEST_PASSWORD)
    response = signed_in(sam).post(reverse("accounts:staff_password_reset", args=[bob.pk]), {"password": NEW_PASSWORD})
    assert response.status_code == 302
    # A session opened with the old password ends.
    assert earlier.get(reverse("accounts:home")).status_code == 302
    bob.refresh_from_db()
    assert bob.must_change_password and bob.check_password(NEW_PASSWORD)
    event = AuditEvent.objects.get(action="staff.password_reset")
    assert event.actor == sam and event.object_id == str(bob.pk)
    assert NEW_PASSWORD not in json.dumps(event.data) and TEST_PASSWORD not in json.dumps(event.data)

    client = Client()
    response = login_with_code(client, bob, password=NEW_PASSWORD)
    assert response["Location"] == reverse("accounts:password_change")
    # Every other staff page sends the person back to change the password first.
    response = client.get(reverse("cases:queue"))
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:password_change") + "?next=%2Fstaff%2Fcases%2F"
    response = client.get(reverse("cases:queue"), headers={"HX-Request": "true"})
    assert response["HX-Redirect"].startswith(reverse("accounts:password_change"))
    page = client.get(reverse("accounts:password_change")).content.decode()
    assert 'data-testid="must-change"' in page

    same = {"old_password": NEW_PASSWORD, "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
    assert "新密码不能与当前密码相同" in errors(client.post(reverse("accounts:password_change"), same))
    mismatch = {"old_password": NEW_PASSWORD, "new_password1": "Amber-Meadow-88", "new_password2": "Amber-Meadow-89"}
    assert "两次输入的新密码不一致" in errors(client.post(reverse("accounts:password_change"), mismatch))
    wrong = {"old_password": "nope", "new_password1": "Amber-Meadow-88", "new_password2": "Amber-Meadow-88"}
    assert "当前密码不正确" in errors(client.post(reverse("accounts:password_change"), wrong))
    weak = {"old_password": NEW_PASSWORD, "new_password1": "12345678901", "new_password2": "12345678901"}
    assert "密码不能全是数字" in errors(client.post(reverse("accounts:password_change"), weak))
    assert User.objects.get(pk=bob.pk).must_change_password

    good = {"old_password": NEW_PASSWORD, "new_password1": "Amber-Meadow-88", "new_password2": "Amber-Meadow-88"}
    response = client.post(reverse("accounts:password_change"), good)
    assert response.status_code == 302 and response["Location"] == reverse("accounts:home")
    bob.refresh_from_db()
    assert not bob.must_change_password and bob.check_password("Amber-Meadow-88")
    assert client.get(reverse("cases:queue")).status_code == 200  # still signed in
    event = AuditEvent.objects.get(action="staff.password_change")
    assert event.actor == bob and event.data == {"required": True}


def test_the_login_keeps_the_page_asked_for_through_the_password_change(sam, bob):
    services.staff_password_reset(actor=sam, user_id=bob.pk, password=NEW_PASSWORD)
    client = Client()
    response = login_with_code(client, bob, password=NEW_PASSWORD, next_url="/staff/cases/")
    assert response["Location"] == reverse("accounts:password_change") + "?next=%2Fstaff%2Fcases%2F"
    good = {"old_password": NEW_PASSWORD, "new_password1": "Amber-Meadow-88", "new_password2": "Amber-Meadow-88"}
    response = client.post(reverse("accounts:password_change") + "?next=/staff/cases/", good)
    assert response["Location"] == "/staff/cases/"


def test_a_reset_password_must_pass_the_validators_and_is_not_for_oneself(sam, bob):
    client = signed_in(sam)
    html = errors(client.post(reverse("accounts:staff_password_reset", args=[bob.pk]), {"password": "1234567890"}))
    assert "密码不能全是数字" in html
    bob.refresh_from_db()
    assert not bob.must_change_password and bob.check_password(TEST_PASSWORD)
    html = errors(client.post(reverse("accounts:staff_password_reset", args=[sam.pk]), {"password": NEW_PASSWORD}))
    assert "不能重置自己的密码" in html
    assert not AuditEvent.objects.filter(action="staff.password_reset").exists()


def test_every_staff_member_may_change_their_own_password(alice, erin):
    for person in (alice, erin):
        client = signed_in(person)
        assert client.get(reverse("accounts:password_change")).status_code == 200
        good = {"old_password": TEST_PASSWORD, "new_password1": "Amber-Meadow-88", "new_password2": "Amber-Meadow-88"}
        assert client.post(reverse("accounts:password_change"), good).status_code == 302
        assert User.objects.get(pk=person.pk).check_password("Amber-Meadow-88")


# ---------------------------------------------------------------- units


def test_the_units_list_shows_kind_division_department_and_staff_count(sam, bob, carol, erin):
    User.objects.filter(pk=carol.pk).update(is_active=False)
    client = signed_in(sam)
    page = client.get(reverse("accounts:unit_list"), {"staffed": "1"}).context["page"]
    counts = {u.name: (u.active_staff, u.inactive_staff) for u in page.object_list}
    assert counts == {sam.unit.name: (1, 0), bob.unit.name: (1, 0), carol.unit.name: (0, 1), erin.unit.name: (1, 0)}
    html = client.get(reverse("accounts:unit_list"), {"q": "滨城区", "kind": "department"}).content.decode()
    assert erin.unit.name in html and erin.unit.department.name in html and "371602" in html
    assert bob.unit.name not in html


def test_a_county_administrator_lists_only_their_county_units(hui):
    page = signed_in(hui).get(reverse("accounts:unit_list")).context["page"]
    assert page.paginator.count == OrgUnit.objects.filter(division__path__startswith="371600/371621/").count()
    assert all(u.division.code.startswith("371621") for u in page.object_list)


# ---------------------------------------------------------------- the rules


def test_the_demo_staff_fit_the_role_rules(org):
    from ejia.accounts.role_rules import role_problems
    from ejia.demo.staff import demo_staff_specs

    for spec in demo_staff_specs():
        assert role_problems(unit=spec["unit"], roles=spec["roles"]) == [], spec["username"]


def test_the_demo_accounts_need_no_password_change(org):
    from ejia.demo.staff import demo_staff_ensure

    assert not any(user.must_change_password for user in demo_staff_ensure(password=TEST_PASSWORD))
