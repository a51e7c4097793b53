import datetime as dt

from ejia.cases.matching import plan_evaluate


def test_the_plan_keeps_each_criterion_with_its_result_and_explanation(catalogue):
    plan = plan_evaluate(
        division_code="371602105",
        household={"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False},
        members=[{"birth_date": "1950-03-01", "income_month_fen": 30000, "relation": "02"}],
        on=dt.date(2026, 11, 28),
    )
    dibao = next(entry for entry in plan if entry["code"] == "dibao")
    income = next(c for c in dibao["criteria"] if "收入" in c["label"])
    assert income["result"] is True
    assert "¥300.00" in income["explanation"] and "¥789.00" in income["explanation"]
    assert "CriterionResult(" not in str(dibao["criteria"])
