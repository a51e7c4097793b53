import datetime as dt

from ejia.cases.matching import draft_plan
from ejia.cases.tests.conftest import application, member
from ejia.catalogue.plan import Plan, PlanOutcome


def test_the_plan_keeps_each_criterion_with_its_result_and_explanation(catalogue):
    data = application(member("张大山", birth=dt.date(1950, 3, 1), income_month_fen=30000), township="371602105")
    data["household_facts"] = {"financial_assets_fen": 0, "vehicles": 0, "housing_units": 1, "has_business": False}
    plan = draft_plan(data, dt.date(2026, 11, 28))
    dibao = plan.get("dibao")
    assert dibao.outcome == PlanOutcome.LIKELY
    income = next(c for c in dibao.reasons if "收入" in c.label)
    assert income.result is True
    assert "¥300.00" in income.explanation and "¥789.00" in income.explanation
    assert Plan.from_json(plan.to_json()) == plan
