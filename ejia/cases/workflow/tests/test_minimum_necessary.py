"""A department approver sees what the programme's rule needs, and nothing else of the case."""

import datetime as dt

import pytest
from django.test import Client

from conftest import TEST_PASSWORD
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member
from ejia.cases.workflow.models import RequestProcedure
from ejia.cases.workflow.review import rule_fact_names
from ejia.catalogue.models import Programme

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=TEST_PASSWORD)
    return client


def page_of(user, case, code) -> str:
    p = RequestProcedure.objects.get(case=case, request__programme__code=code)
    response = client_for(user).get(f"/staff/work/r/{p.public_id}/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_rule_names_the_facts(procedures):
    on = dt.date.today()
    assert rule_fact_names(Programme.objects.get(code="medical_aid"), on=on) == ["medical_oop_year_fen"]
    edu = rule_fact_names(Programme.objects.get(code="edu_compulsory"), on=on)
    assert {"age", "school_stage", "boarding"} <= set(edu) and "medical_oop_year_fen" not in edu
    dibao = rule_fact_names(Programme.objects.get(code="dibao"), on=on)
    assert {"income_month_fen", "financial_assets_fen"} <= set(dibao)


def test_the_medical_approver_sees_the_medical_facts_only(procedures, finished_check, bob, erin, jy):
    """低保 + medical aid + the compulsory-education allowance; the father is seriously ill,
    the son boards at primary school, the household's bank account is on file."""
    data = application(
        member("张大山", income_month_fen=30000, serious_illness=True),
        member("李小花", female=True, relation="10", income_month_fen=0),
        member("张小明", birth=dt.date(2015, 5, 1), relation="20", school_stage="primary", boarding=True),
        programmes=("dibao", "medical_aid", "edu_compulsory"),
        account_number="6222020200112233445",
        bank_name="中国农业银行",
        household_facts={
            "financial_assets_fen": 100000,
            "vehicles": 0,
            "housing_units": 1,
            "medical_oop_year_fen": 600000,
        },
    )
    case = case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="minimum-1", data=data)
    check = finished_check(case)
    medical = page_of(erin, case, "medical_aid")
    # What the rule names, declared and verified, with the engine's explanation.
    assert "年度医疗自付费用" in medical and "¥6,000.00" in medical and "¥8,000.00" in medical
    assert "有医保报销后的医疗自付费用" in medical
    # Nothing else: no deposits, no account, no illness, no incomes, no names, no phone.
    for unrelated in ("家庭金融资产", "6222020200112233445", "患重特大疾病", "个人月收入", "在读学段"):
        assert unrelated not in medical, unrelated
    for personal in ("张大山", "张小明", "13812345678", "幸福路8号"):
        assert personal not in medical, personal
    assert case.applicant.masked_id in medical and "查看核对报告" not in medical
    # Only the differences that concern the programme are listed for the department.
    assert len(check.differences) > 1
    assert 'data-testid="check-differences">1<' in medical

    education = page_of(jy, case, "edu_compulsory")
    assert "在读学段" in education and "寄宿生" in education and "年龄" in education
    for unrelated in ("年度医疗自付费用", "家庭金融资产", "患重特大疾病", "个人月收入", "6222020200112233445"):
        assert unrelated not in education, unrelated

    # The township clerk handling 低保 sees the 低保 rule's facts (deposits, incomes).
    dibao = page_of(bob, case, "dibao")
    assert "家庭金融资产" in dibao and "个人月收入" in dibao


def test_a_department_approver_of_another_county_is_refused(submit_case, erin, frank, carol):
    case = submit_case(programmes=("dibao", "medical_aid"))
    medical = RequestProcedure.objects.get(case=case, request__programme__code="medical_aid")
    assert client_for(frank).get(f"/staff/work/r/{medical.public_id}/").status_code == 403
    assert client_for(frank).get(f"/staff/work/r/{medical.public_id}/do/approve/").status_code == 405
    refused = client_for(frank).post(f"/staff/work/r/{medical.public_id}/do/complete/", {"version": medical.version})
    assert refused.status_code == 403
    medical.refresh_from_db()
    assert medical.step.key == "dept_review"
