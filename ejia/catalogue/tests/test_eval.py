"""`ejia_eval` on the boundary households of issue 3 (files under docs/examples/)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

EXAMPLES = Path(settings.BASE_DIR) / "docs" / "examples"


def run_eval(capsys, path: Path | str, date: str = "2024-03-01") -> dict:
    call_command("ejia_eval", str(path), "--date", date)
    output = json.loads(capsys.readouterr().out)
    return {p["code"]: p for p in output["programmes"]}


def run_eval_data(capsys, tmp_path, data, date: str = "2024-03-01") -> dict:
    path = tmp_path / "household.json"
    path.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return run_eval(capsys, path, date)


def criterion(result: dict, label_start: str) -> dict:
    return next(c for c in result["criteria"] if c["label"].startswith(label_start))


def test_income_exactly_equal_to_the_standard_is_not_below_it(catalogue, capsys):
    results = run_eval(capsys, EXAMPLES / "dibao-income-equal-to-standard.json")
    dibao = results["dibao"]
    assert dibao["result"] == "not_eligible"
    assert dibao["amount_fen"] is None
    income = criterion(dibao, "家庭人均月收入低于低保标准")
    assert income["result"] == "fail"
    assert income["values"]["income_per_capita_month_fen"] == 100100
    assert income["values"]["standard:dibao"] == 100100
    # The same household is inside the 1.5× edge.
    assert results["dibao_edge"]["result"] == "eligible"


def test_a_household_one_yuan_below_the_standard_gets_the_gap(catalogue, capsys, tmp_path):
    data = json.loads((EXAMPLES / "dibao-income-equal-to-standard.json").read_text("utf-8"))
    data["members"][0]["income_month_fen"] -= 200
    dibao = run_eval_data(capsys, tmp_path, data)["dibao"]
    assert dibao["result"] == "eligible"
    assert dibao["amount_fen"] == 200


def test_a_60th_birthday_on_the_evaluation_day_counts(catalogue, capsys):
    tekun = run_eval(capsys, EXAMPLES / "tekun-60th-birthday.json", "2024-03-01")["tekun"]
    assert tekun["result"] == "eligible"
    member = tekun["members"][0]
    assert member["result"] == "eligible"
    assert criterion(member, "无劳动能力")["result"] == "pass"
    # rural basic ¥1,035 + partial self-care ¥313
    assert tekun["amount_fen"] == 103500 + 31300


def test_the_day_before_the_60th_birthday_is_still_59(catalogue, capsys):
    tekun = run_eval(capsys, EXAMPLES / "tekun-60th-birthday.json", "2024-02-29")["tekun"]
    assert tekun["result"] == "not_eligible"
    assert criterion(tekun["members"][0], "无劳动能力")["result"] == "fail"


def test_unknown_income_gives_possibly_eligible_naming_the_missing_fact(catalogue, capsys):
    dibao = run_eval(capsys, EXAMPLES / "dibao-income-unknown.json")["dibao"]
    assert dibao["result"] == "possibly_eligible"
    assert "income_month_fen" in dibao["unknown_facts"]
    assert criterion(dibao, "家庭人均月收入低于低保标准")["result"] == "unknown"


def test_a_single_elderly_person_with_a_capable_child_is_not_tekun(catalogue, capsys):
    results = run_eval(capsys, EXAMPLES / "elderly-with-capable-child.json")
    tekun = results["tekun"]
    assert tekun["result"] == "not_eligible"
    member = tekun["members"][0]
    assert criterion(member, "无劳动能力")["result"] == "pass"
    assert criterion(member, "没有具备履行能力")["result"] == "fail"
    # Living alone on ¥150 a month she is still eligible for dibao (rural standard ¥789).
    assert results["dibao"]["result"] == "eligible"
    assert results["dibao"]["amount_fen"] == 78900 - 15000


def test_a_dibao_household_with_a_disabled_mother_and_a_pupil(catalogue, capsys):
    results = run_eval(capsys, EXAMPLES / "disabled-student-dibao-household.json")
    assert results["dibao"]["result"] == "eligible"
    assert results["dibao"]["amount_fen"] == 2 * 100100 - 90000
    living = results["disability_living_subsidy"]
    assert living["result"] == "eligible"
    assert [m["result"] for m in living["members"]] == ["eligible", "not_eligible"]
    assert results["severe_disability_care_subsidy"]["result"] == "eligible"
    assert results["edu_senior"]["result"] == "eligible"
    assert results["tekun"]["result"] == "not_eligible"
    # dibao tier: 70% of ¥18,000 out of pocket
    assert results["medical_aid"]["result"] == "eligible"
    assert results["medical_aid"]["amount_fen"] == 1260000
    assert results["medical_premium_subsidy"]["amount_fen"] == 2 * 26600
    assert results["expense_hardship"]["result"] == "not_eligible"


def test_severe_disability_care_has_no_income_test(catalogue, capsys, tmp_path):
    data = {
        "division": "371602001001",
        "household": {},
        "members": [{"birth_date": "1990-01-01", "disability_grade": 1, "income_month_fen": 900000}],
    }
    results = run_eval_data(capsys, tmp_path, data)
    assert results["severe_disability_care_subsidy"]["result"] == "eligible"
    assert results["severe_disability_care_subsidy"]["amount_fen"] == 15000


def test_an_old_person_is_not_offered_school_aid_for_want_of_a_school_stage(catalogue, capsys):
    results = run_eval(capsys, EXAMPLES / "elderly-with-capable-child.json")
    for code in ("edu_preschool", "edu_compulsory", "edu_senior", "edu_college_entrant", "hope_project"):
        assert results[code]["result"] == "not_eligible", code


def test_the_output_names_every_programme_and_its_result(catalogue, capsys):
    results = run_eval(capsys, EXAMPLES / "dibao-income-unknown.json")
    assert len(results) == 69
    assert results["dibao"]["name"] == "最低生活保障（低保）"
    assert {r["result"] for r in results.values()} <= {"eligible", "possibly_eligible", "not_eligible"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "JSON 格式错误"),
        ('{"division": "999999", "members": [{}]}', "未找到行政区划代码“999999”"),
        ('{"division": "371600", "members": [{}]}', "市级区划代码"),
        ('{"division": "371602", "household": {"incom": 1}, "members": [{}]}', "未知的事实“incom”"),
        ('{"division": "371602", "members": [{"age": 70}]}', "由系统根据其他事实计算"),
        ('{"division": "371602", "members": [{"vehicles": 1}]}', "请写在 household 里"),
        ('{"division": "371602", "members": [{"disability_grade": "二级"}]}', "取值“二级”无效"),
        ('{"division": "371602", "members": []}', "members 不能为空"),
    ],
)
def test_bad_input_is_told_in_chinese_with_exit_code_2(catalogue, capsys, tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content, "utf-8")
    with pytest.raises(SystemExit) as exit_info:
        call_command("ejia_eval", str(path), "--date", "2024-03-01")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_an_urban_elder_with_1100_a_month_is_not_tekun_in_binchengqu(catalogue, capsys, tmp_path):
    # 特困人员认定办法: no source of living = income below the local 低保 standard (¥1,001 in
    # 滨城区's towns), not below the 特困 basic-living standard (¥1,320).
    tekun = run_eval(capsys, EXAMPLES / "tekun-urban-income-above-dibao.json", "2024-03-01")["tekun"]
    assert tekun["result"] == "not_eligible"
    income = criterion(tekun["members"][0], "无生活来源")
    assert income["result"] == "fail"
    data = json.loads((EXAMPLES / "tekun-urban-income-above-dibao.json").read_text("utf-8"))
    data["members"][0]["income_month_fen"] = 100000
    tekun = run_eval_data(capsys, tmp_path, data, "2024-03-01")["tekun"]
    assert tekun["result"] == "eligible" and tekun["amount_fen"] == 132000 + 18900


def test_a_catalogue_seeded_before_the_correction_gets_a_corrected_tekun_version(catalogue):
    import importlib

    from django.apps import apps

    from ejia.catalogue.models import Programme, ProgrammeVersion
    from ejia.catalogue.selectors import programme_current_version

    migration = importlib.import_module("ejia.catalogue.migrations.0007_tekun_income_below_dibao")
    tekun = Programme.objects.get(code="tekun")
    v1 = ProgrammeVersion.objects.get(programme=tekun, number=1)
    # The rules as the first seed wrote them (published versions are immutable: a later one).
    old = [
        {"label": "本人月收入低于特困人员基本生活标准", "expr": migration.OLD}
        if c["expr"] == migration.NEW["expr"]
        else c
        for c in v1.criteria
    ]
    ProgrammeVersion.objects.create(
        programme=tekun,
        number=2,
        status="published",
        criteria=old,
        amount_expr=v1.amount_expr,
        effective_from=v1.effective_from,
        published_at=v1.published_at,
    )
    migration.forwards(apps, None)
    current = programme_current_version(tekun, on=dt.date(2024, 3, 1))
    assert current.number == 3 and current.effective_from == v1.effective_from
    assert migration.NEW in current.criteria and migration.OLD not in str(current.criteria)
    migration.forwards(apps, None)  # running again changes nothing
    assert ProgrammeVersion.objects.filter(programme=tekun).count() == 3
