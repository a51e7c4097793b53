"""The self-check over the API answers as the portal does: same questions, same evaluation."""

from __future__ import annotations

import json

from ejia.api.tests.conftest import bearer
from ejia.portal.tests.test_selfcheck import POOR_FAMILY

URL = "/api/v1/catalogue/self-check"


def post(client, api_client, body):
    return client.post(URL, json.dumps(body), content_type="application/json", headers=bearer(api_client))


def test_a_poor_family_gets_dibao_with_the_amount_and_reasons(client, catalogue, partner):
    api_client, _ = partner
    answer = post(client, api_client, {"answers": POOR_FAMILY})
    assert answer.status_code == 200, answer.content
    found = {r["code"]: r for r in answer.json()["results"]}
    dibao = found["dibao"]
    assert dibao["outcome"] == "eligible" and dibao["amount_fen"] == 3 * 100100 - 90000
    assert "家庭人均月收入低于低保标准" in [r["label"] for r in dibao["reasons"]]


def test_unknown_savings_say_what_needs_checking(client, catalogue, partner):
    api_client, _ = partner
    answer = post(client, api_client, {"answers": {**POOR_FAMILY, "assets": {"unknown": True}}})
    dibao = next(r for r in answer.json()["results"] if r["code"] == "dibao")
    assert dibao["outcome"] == "possibly_eligible" and "家庭金融资产" in dibao["unknown"]


def test_a_missing_or_wrong_answer_names_the_field(client, catalogue, partner):
    api_client, _ = partner
    missing = {k: v for k, v in POOR_FAMILY.items() if k != "school"}
    answer = post(client, api_client, {"answers": missing})
    assert answer.status_code == 422 and answer.json()["field"] == "body.answers.school"
    wrong = post(client, api_client, {"answers": {**POOR_FAMILY, "situation": {"items": ["none", "on_dibao"]}}})
    assert wrong.status_code == 422 and wrong.json()["field"].startswith("body.answers.situation")
    assert wrong.json()["message"]
    unknown = post(client, api_client, {"answers": {**POOR_FAMILY, "pets": {}}})
    assert unknown.status_code == 422 and unknown.json()["field"] == "body.answers.pets"


def test_the_questions_list_every_step_with_its_choices(client, catalogue, partner):
    api_client, _ = partner
    found = client.get("/api/v1/catalogue/self-check/questions", headers=bearer(api_client)).json()
    by_slug = {q["slug"]: q for q in found}
    assert list(by_slug)[:3] == ["place", "size", "ages"]
    township = by_slug["place"]["fields"][0]
    assert township["type"] == "choice" and "371602001" in [c["value"] for c in township["choices"]]
