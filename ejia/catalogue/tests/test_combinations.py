"""Combination rules: the seed holds together, the checker refuses cycles and contradictions in
Chinese, and the owning department edits them in the editor with the same live check."""

from __future__ import annotations

import pytest
from django.urls import reverse

from ejia.catalogue.combinations import Combination, CombinationError, check_combinations
from ejia.catalogue.models import CombinationRule
from ejia.catalogue.seed import load_combinations, load_programmes
from ejia.core.models import AuditEvent

NAMES = {p["code"]: p["name"] for p in load_programmes()}


def test_the_seed_rules_hold_together_and_name_the_issues_cases():
    rules = load_combinations()
    check_combinations(rules, NAMES)
    kinds = {(r.programme, r.kind, r.other, r.scope) for r in rules}
    assert ("tekun", "precedes", "dibao", "person") in kinds
    assert ("dibao_edge", "excludes", "dibao", "household") in kinds
    assert ("orphan_allowance", "precedes", "tekun", "person") in kinds
    assert {r.other for r in rules if r.programme == "medical_aid" and r.kind == "requires"} == {
        "tekun",
        "dibao",
        "dibao_edge",
        "expense_hardship",
    }


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [Combination("tekun", "precedes", "dibao"), Combination("dibao", "precedes", "tekun")],
            "规则自相矛盾：“特困人员救助供养”优先于“最低生活保障（低保）”，“最低生活保障（低保）”又优先于“特困人员救助供养”。",
        ),
        (
            [
                Combination("tekun", "precedes", "dibao"),
                Combination("dibao", "precedes", "dibao_edge"),
                Combination("dibao_edge", "precedes", "tekun"),
            ],
            "优先顺序存在循环：",
        ),
        (
            [Combination("medical_aid", "requires", "dibao"), Combination("medical_aid", "excludes", "dibao")],
            "规则自相矛盾：“门诊和住院医疗救助”须同时符合“最低生活保障（低保）”，却又与它不可同时享受。",
        ),
        ([Combination("dibao", "excludes", "dibao")], "不能与自身组合"),
        ([Combination("dibao", "excludes", "dibau")], "未知的项目代码“dibau”"),
        (
            [Combination("linshi", "requires", "dibao"), Combination("dibao", "requires", "linshi")],
            "“须同时符合”存在循环：",
        ),
    ],
)
def test_the_checker_refuses_in_chinese(rules, message):
    with pytest.raises(CombinationError) as exc:
        check_combinations(rules, NAMES)
    assert message in exc.value.message


def _post(rows):
    data = {"form": "combinations", "combo-TOTAL_FORMS": str(len(rows)), "combo-INITIAL_FORMS": "0"}
    for i, (kind, other, scope) in enumerate(rows):
        data.update({f"combo-{i}-kind": kind, f"combo-{i}-other": other, f"combo-{i}-scope": scope})
    return data


@pytest.mark.django_db
def test_the_department_edits_its_rules_with_the_live_check(client, catalogue, editor):
    client.force_login(editor)
    # 民政 edits 低保: saying 低保 takes precedence over 特困 contradicts 特困's own rule.
    html = client.post(
        reverse("catalogue:combinations_check", args=["dibao"]), _post([("precedes", "tekun", "person")])
    ).content.decode()
    assert "规则自相矛盾" in html and "特困人员救助供养" in html
    response = client.post(reverse("catalogue:edit", args=["dibao"]), _post([("precedes", "tekun", "person")]))
    assert response.status_code == 200 and "规则自相矛盾" in response.content.decode()
    assert not CombinationRule.objects.filter(programme__code="dibao", kind="precedes").exists()

    ok = _post([("excludes", "expense_hardship", "household")])
    assert "没有循环或矛盾" in client.post(reverse("catalogue:combinations_check", args=["dibao"]), ok).content.decode()
    response = client.post(reverse("catalogue:edit", args=["dibao"]), ok)
    assert response.status_code == 302
    rule = CombinationRule.objects.get(programme__code="dibao")
    assert (rule.kind, rule.other.code, rule.scope) == ("excludes", "expense_hardship", "household")
    event = AuditEvent.objects.get(action="catalogue.combination_rules_set")
    assert event.data["rules"] == [["excludes", "expense_hardship", "household", ""]]
    page = client.get(reverse("catalogue:edit", args=["dibao"])).content.decode()
    assert "组合规则" in page and "其他项目对本项目的规则" in page
