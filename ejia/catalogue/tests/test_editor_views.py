"""Department editing: editors keep to their own department, rules are checked as typed,
publishing makes a new frozen version, and the history says who did what."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from ejia.accounts.models import Role
from ejia.catalogue.models import Programme, ProgrammeVersion

INCOME = 'income_per_capita_month_fen < standard("dibao")'


@pytest.fixture
def teacher_editor(org):
    """Catalogue editor of 教育局: may not touch 民政局's programmes."""
    from conftest import _unit, make_staff

    return make_staff("jun", _unit("371600", "department", "jy"), Role.CATALOGUE_EDITOR, display_name="李军")


@pytest.fixture
def director(org):
    from conftest import _unit, make_staff

    return make_staff("lan", _unit("371600", "centre"), Role.CENTRE_DIRECTOR, display_name="陈兰")


def edit_url(code: str) -> str:
    return reverse("catalogue:edit", args=[code])


def rules_post(criteria: list[tuple[str, str]], **extra) -> dict:
    data = {
        "form": "rules",
        "criteria-TOTAL_FORMS": str(len(criteria)),
        "criteria-INITIAL_FORMS": "0",
        "criteria-MIN_NUM_FORMS": "0",
        "criteria-MAX_NUM_FORMS": "30",
        "amount_expr": 'round_yuan(standard("dibao") * size - income_total_month_fen)',
        "effective_from": timezone.localdate().isoformat(),
        "change_note": "",
    }
    for i, (label, expr) in enumerate(criteria):
        data[f"criteria-{i}-label"] = label
        data[f"criteria-{i}-expr"] = expr
    data.update(extra)
    return data


def dibao_criteria(**replace: str) -> list[tuple[str, str]]:
    version = Programme.objects.get(code="dibao").versions.get(number=1)
    return [(c["label"], replace.get(c["label"], c["expr"])) for c in version.criteria]


def test_an_editor_sees_only_their_departments_programmes(client, catalogue, editor):
    client.force_login(editor)
    html = client.get(reverse("catalogue:list")).content.decode()
    assert "最低生活保障（低保）" in html
    assert "义务教育家庭经济困难学生生活补助" not in html


def test_an_editor_of_another_department_is_refused_in_chinese(client, catalogue, teacher_editor):
    client.force_login(teacher_editor)
    response = client.get(edit_url("dibao"))
    assert response.status_code == 403
    assert "由民政局维护，您只能维护本部门（教育局）的项目" in response.content.decode()
    response = client.post(reverse("catalogue:check", args=["dibao"]), rules_post(dibao_criteria()))
    assert response.status_code == 403
    response = client.post(edit_url("dibao"), rules_post(dibao_criteria(), action="publish", change_note="x"))
    assert response.status_code == 403
    assert ProgrammeVersion.objects.filter(programme__code="dibao").count() == 1


def test_staff_without_the_role_are_refused(client, catalogue, bob):
    client.force_login(bob)
    response = client.get(reverse("catalogue:list"))
    assert response.status_code == 403
    assert "部门项目维护员" in response.content.decode()


def test_a_centre_director_sees_every_department(client, catalogue, director):
    client.force_login(director)
    html = client.get(reverse("catalogue:list")).content.decode()
    assert "民政局" in html and "教育局" in html and "市红十字会" in html
    assert client.get(edit_url("dibao")).status_code == 200


def test_the_live_check_shows_the_engines_error_with_its_position(client, catalogue, editor):
    client.force_login(editor)
    criteria = dibao_criteria(**{"家庭人均月收入低于低保标准": "income_per_capita_month < standard(dibao)"})
    html = client.post(reverse("catalogue:check", args=["dibao"]), rules_post(criteria)).content.decode()
    assert "规则有错误" in html
    assert "第1条条件“家庭人均月收入低于低保标准”" in html
    assert "第1行第" in html


def test_the_live_check_counts_households_now_and_under_the_draft(client, catalogue, editor):
    client.force_login(editor)
    html = client.post(reverse("catalogue:check", args=["dibao"]), rules_post(dibao_criteria())).content.decode()
    assert "规则校验通过" in html
    assert "与现行版本符合的户数相同" in html
    assert "合成演示城市" in html
    looser = dibao_criteria(**{"家庭人均月收入低于低保标准": 'income_per_capita_month_fen < 2 * standard("dibao")'})
    html = client.post(reverse("catalogue:check", args=["dibao"]), rules_post(looser)).content.decode()
    assert "比现行版本多" in html


def test_publishing_makes_a_new_version_and_the_old_one_stays(client, catalogue, editor):
    client.force_login(editor)
    criteria = dibao_criteria(**{"家庭人均月收入低于低保标准": 'income_per_capita_month_fen <= standard("dibao")'})
    response = client.post(edit_url("dibao"), rules_post(criteria, action="save"))
    assert response.status_code == 302
    draft = ProgrammeVersion.objects.get(programme__code="dibao", number=2)
    assert draft.status == "draft"
    response = client.post(edit_url("dibao"), rules_post(criteria, action="publish", change_note="按2026年文件调整"))
    assert response["Location"] == reverse("catalogue:history", args=["dibao"])
    draft.refresh_from_db()
    assert draft.status == "published" and draft.published_by == editor
    first = ProgrammeVersion.objects.get(programme__code="dibao", number=1)
    assert first.criteria[0]["expr"] == INCOME
    html = client.get(reverse("catalogue:history", args=["dibao"])).content.decode()
    assert "发布人：孙梅" in html and "按2026年文件调整" in html
    assert "修改条件：家庭人均月收入低于低保标准" in html


def test_publishing_needs_a_change_note_and_valid_rules(client, catalogue, editor):
    client.force_login(editor)
    response = client.post(edit_url("dibao"), rules_post(dibao_criteria(), action="publish"))
    assert response.status_code == 200
    assert "发布前请写明修改说明" in response.content.decode()
    bad = dibao_criteria(**{"家庭人均月收入低于低保标准": "income_per_capita_month_fen <"})
    response = client.post(edit_url("dibao"), rules_post(bad, action="publish", change_note="x"))
    assert response.status_code == 200
    assert not ProgrammeVersion.objects.filter(programme__code="dibao", status="published", number__gt=1).exists()


def test_the_texts_change_in_place(client, catalogue, editor):
    client.force_login(editor)
    page = client.get(edit_url("dibao"))
    form = page.context["text_form"]
    data = {"form": "text"}
    for field in form:
        value = form.initial.get(field.name, "")
        data[field.html_name] = field.field.prepare_value(value) if hasattr(field.field, "prepare_value") else value
    data["text-summary"] = "收入低于低保标准的家庭，每月补差。"
    data["text-materials"] = "身份证\n户口簿"
    response = client.post(edit_url("dibao"), data)
    assert response.status_code == 302, response.content.decode()[-3000:]
    programme = Programme.objects.get(code="dibao")
    assert programme.summary == "收入低于低保标准的家庭，每月补差。"
    assert programme.materials == ["身份证", "户口簿"]
    html = client.get(reverse("catalogue:history", args=["dibao"])).content.decode()
    assert "项目说明修改记录" in html and "孙梅" in html and "一句话说明" in html
