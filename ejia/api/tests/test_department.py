"""A department's own system, simulated: it fetches the request routed to it, posts its
decision through the API, and the case's joint review (联合审核) sees the decision."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from ejia.api.tests.conftest import bearer
from ejia.cases.models import Channel
from ejia.cases.services import case_submit
from ejia.cases.tests.conftest import application, member
from ejia.cases.workflow import services as wf
from ejia.cases.workflow.models import ProcedureState, RequestProcedure, StepRecord
from ejia.cases.workflow.selectors import case_progress, joint_review_queue

pytestmark = pytest.mark.django_db


@pytest.fixture
def medical_case(procedures, bob):
    """A 滨城区 family applying for 医疗救助 only: routed to the 医保 office of 滨城区."""
    data = application(
        member("张大山", income_month_fen=30000, serious_illness=True),
        member("李小花", female=True, relation="10", income_month_fen=0),
        programmes=("medical_aid",),
        household_facts={
            "financial_assets_fen": 100000,
            "vehicles": 0,
            "housing_units": 1,
            "medical_oop_year_fen": 600000,
        },
    )
    return case_submit(actor=bob, channel=Channel.WINDOW, idempotency_key="api-dept-1", data=data)


def decide(client, api_client, request_id, body, key=""):
    headers = bearer(api_client)
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        f"/api/v1/department/requests/{request_id}/decision",
        json.dumps(body),
        content_type="application/json",
        headers=headers,
    )


def test_a_department_system_decides_and_the_joint_review_sees_it(client, medical_case, yb_system, dave):
    api_client, _ = yb_system
    routed = client.get("/api/v1/department/requests", headers=bearer(api_client))
    assert routed.status_code == 200
    (row,) = routed.json()
    assert row["programme_code"] == "medical_aid" and row["step_key"] == "dept_review"
    detail = client.get(f"/api/v1/department/requests/{row['id']}", headers=bearer(api_client)).json()
    assert detail["members"] and all("*" in m["name"] for m in detail["members"])  # minimum necessary
    proposed = detail["proposed_amount_fen"]

    body = {"decision": "approve", "version": row["version"], "reason": "符合医疗救助条件"}
    answer = decide(client, api_client, row["id"], body, key="yb-decision-1")
    assert answer.status_code == 201, answer.content
    assert answer.json()["decision"] == "approved" and answer.json()["amount_fen"] == proposed
    # A retry with the same key gets the same answer and moves nothing.
    again = decide(client, api_client, row["id"], body, key="yb-decision-1")
    assert again.status_code == 201 and again.json() == answer.json()
    assert decide(client, api_client, row["id"], {**body, "reason": "改了"}, key="yb-decision-1").status_code == 409
    # Without the key, a second decision is refused by the workflow itself.
    assert decide(client, api_client, row["id"], body).json()["code"] in ("stale", "workflow_refused")

    procedure = RequestProcedure.objects.get(public_id=row["id"])
    assert procedure.state == ProcedureState.APPROVED
    actors = set(StepRecord.objects.filter(procedure=procedure).values_list("actor__username", flat=True))
    assert "api:bc-yb" in actors
    assert joint_review_queue(user=dave).filter(pk=medical_case.pk).exists()
    (line,) = case_progress(medical_case)["rows"]
    assert line["state"] == ProcedureState.APPROVED and line["amount_fen"] == proposed
    notice = wf.joint_review_issue(actor=dave, case_id=medical_case.pk, opinion="医保部门已审批")
    assert notice.content[0]["outcome"] == "approved"


def test_a_refusal_needs_a_reason_and_records_it(client, medical_case, yb_system):
    api_client, _ = yb_system
    (row,) = client.get("/api/v1/department/requests", headers=bearer(api_client)).json()
    missing = decide(client, api_client, row["id"], {"decision": "refuse"})
    assert missing.status_code == 422 and "理由" in missing.json()["message"]
    answer = decide(client, api_client, row["id"], {"decision": "refuse", "reason": "年度自付费用未达起付线"})
    assert answer.status_code == 201 and answer.json()["decision"] == "refused"
    procedure = RequestProcedure.objects.get(public_id=row["id"])
    assert procedure.decision.reasons == "年度自付费用未达起付线"


def test_another_counties_system_sees_nothing_and_cannot_decide(client, medical_case, org):
    from conftest import _unit
    from ejia.accounts.policies import ApiScope
    from ejia.api.models import ApiClient
    from ejia.api.services import client_create

    other, _ = client_create(
        actor=None,
        name="惠民县医保业务系统",
        kind=ApiClient.Kind.DEPARTMENT,
        client_id="hm-yb",
        scopes=[ApiScope.DEPARTMENT_REQUESTS],
        unit=_unit("371621", "department", "yb"),
    )
    assert client.get("/api/v1/department/requests", headers=bearer(other)).json() == []
    procedure = RequestProcedure.objects.get(case=medical_case)
    answer = decide(client, other, procedure.public_id, {"decision": "refuse", "reason": "x"})
    assert answer.status_code == 403 and answer.json()["code"] == "forbidden"
    assert RequestProcedure.objects.get(pk=procedure.pk).state != ProcedureState.REFUSED


def test_a_stale_version_is_409(client, medical_case, yb_system):
    api_client, _ = yb_system
    (row,) = client.get("/api/v1/department/requests", headers=bearer(api_client)).json()
    answer = decide(client, api_client, row["id"], {"decision": "approve", "version": row["version"] + 5})
    assert answer.status_code == 409 and answer.json()["code"] == "stale"
    assert dt.date.fromisoformat(row["step_due"])


def test_a_control_character_in_a_filter_is_a_422_not_a_500(client, yb_system):
    """PostgreSQL cannot hold NUL: the filter is refused by its pattern, in Chinese, on both databases."""
    system, _ = yb_system
    answer = client.get("/api/v1/department/requests?programme=a%00b&tab=overdue", headers=bearer(system))
    assert answer.status_code == 422
    assert answer.json()["field"].endswith("programme")
