"""DCI sync search: signed envelopes in, spec-valid on-search envelopes out."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import json
from pathlib import Path

import jsonschema_rs
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from ejia.api.dci import envelope as env
from ejia.api.dci import signing
from ejia.api.dci.query import CriteriaError, parse_criteria
from ejia.api.dci.records import Agreement
from ejia.api.dci.search import Partner, receiver_id, sync_search
from ejia.core import idnumber
from ejia.registry.models import Relation
from ejia.registry.services import household_create, membership_add, person_ensure
from ejia.registry.tests.factories import new_id, village

pytestmark = pytest.mark.django_db

SPEC = Path(__file__).resolve().parents[4] / "docs" / "standards" / "dci" / "social_api_v1.0.0.yaml"
PARTNER_KEY = Ed25519PrivateKey.generate()
OTHER_KEY = Ed25519PrivateKey.generate()
FULL = Agreement.of({"place", "group_size", "member_list", "group_head_info", "name", "sex", "birth_date", "relation"})


# Two $refs of the published spec point into the /registry/search path, where the message is a
# plain $ref to SearchRequest (no oneOf): resolve them to the same schema under components.
_DANGLING = "#/paths/~1registry~1search/post/requestBody/content/application~1json/schema/properties/message/oneOf/0/"


@functools.cache
def _spec() -> dict:
    text = SPEC.read_text(encoding="utf-8").replace(_DANGLING, "#/components/schemas/SearchRequest/")
    return yaml.safe_load(text)


def spec_validator(pointer: str):
    """A validator for one schema of the spec, its $refs resolved inside the spec document."""
    document = copy.deepcopy(_spec())
    document["$ref"] = pointer
    return jsonschema_rs.Draft202012Validator(document)


SYNC_RESPONSE = "#/paths/~1registry~1sync~1search/post/responses/default/content/application~1json/schema"
SYNC_REQUEST = "#/paths/~1registry~1sync~1search/post/requestBody/content/application~1json/schema"
ACK = "#/components/responses/Response/content/application~1json/schema"


def jwks(key=PARTNER_KEY, kid="k1") -> dict:
    jwk = json.loads(OKPAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": "EdDSA"}]}


def partner(agreement=FULL, division="371602") -> Partner:
    return Partner(sender_id="spmis-shandong", jwks=jwks(), agreement=agreement, division_code=division)


def envelope(*criteria, key=PARTNER_KEY, kid="k1", total=None) -> dict:
    header = {
        "version": "1.0.0",
        "message_id": "m-1",
        "message_ts": "2026-12-04T10:00:00+08:00",
        "action": "search",
        "sender_id": "spmis-shandong",
        "receiver_id": receiver_id(),
        "total_count": len(criteria) if total is None else total,
        "is_msg_encrypted": False,
    }
    message = {
        "transaction_id": "t-1",
        "search_request": [
            {"reference_id": f"r-{i}", "timestamp": "2026-12-04T10:00:00+08:00", "search_criteria": c}
            for i, c in enumerate(criteria)
        ],
    }
    return {"signature": signing.sign(header, message, private_key=key, kid=kid), "header": header, "message": message}


def by_id(number: str, entity: str = "Group") -> dict:
    return {"query_type": "idtype-value", "response_entity": entity, "query": {"type": "NationalID", "value": number}}


def by_area(code: str, page_size: int = 10, **extra) -> dict:
    query = {"expression": {"collection": "Group", "query": {"$and": [{"division_code": {"$eq": code}}]}}}
    return {
        "query_type": "expression",
        "query": {"type": "ns:ejia:QueryType:NoSql", "value": query},
        "pagination": {"page_size": page_size, **extra},
    }


@pytest.fixture
def family(bob):
    household = household_create(actor=bob, division=village("371602001"), address="幸福路1号", hukou_number="H001")
    head_id, child_id = new_id(), new_id(dt.date(2012, 3, 4), female=True)
    head = person_ensure(actor=bob, id_number=head_id, name="李建国")
    child = person_ensure(actor=bob, id_number=child_id, name="李小花")
    membership_add(actor=bob, household=household, person=head, relation=Relation.HEAD)
    membership_add(actor=bob, household=household, person=child, relation="20")
    return household, head_id, child_id


def test_sync_search_by_national_id_returns_a_spec_valid_group_with_masked_ids(family):
    household, head_id, child_id = family
    body = envelope(by_id(head_id))
    spec_validator(SYNC_REQUEST).validate(body)
    status, response = sync_search(body, partner())
    assert status == 200, response
    spec_validator(SYNC_RESPONSE).validate(response)
    answer = response["message"]["search_response"][0]
    assert answer["status"] == "succ" and answer["pagination"]["total_count"] == 1
    group = answer["data"]["reg_records"][0]
    assert group["group_identifier"][0]["identifier_value"] == str(household.public_id)
    assert group["group_size"] == 2 and group["place"]["address"] == "幸福路1号"
    numbers = [m["member_identifier"][0]["identifier_value"] for m in group["member_list"]]
    assert numbers == [idnumber.mask(head_id), idnumber.mask(child_id)]
    assert head_id not in json.dumps(response, ensure_ascii=False)
    assert group["group_head_info"]["demographic_info"]["name"]["given_name"] == "李建国"


def test_the_agreement_decides_fields_and_whether_ids_are_shown_in_full(family):
    _, head_id, _ = family
    narrow = Agreement.of(set(), mask_ids=True)
    _, response = sync_search(envelope(by_id(head_id)), partner(narrow))
    group = response["message"]["search_response"][0]["data"]["reg_records"][0]
    assert set(group) == {"@type", "@id", "group_identifier", "group_type"}
    full_ids = Agreement.of({"name"}, mask_ids=False)
    _, response = sync_search(envelope(by_id(head_id, "Member")), partner(full_ids))
    member = response["message"]["search_response"][0]["data"]["reg_records"][0]
    assert member["member_identifier"][0]["identifier_value"] == head_id
    assert set(member["demographic_info"]) == {"@type", "name"}


def test_expression_search_pages_with_a_cursor_inside_the_partners_area(bob, family):
    for i in range(3):
        household_create(actor=bob, division=village("371602001"), address=f"和平路{i}号")
    household_create(actor=bob, division=village("371602105"), address="别处")
    _, first = sync_search(envelope(by_area("371602001", page_size=2)), partner())
    spec_validator(SYNC_RESPONSE).validate(first)
    page = first["message"]["search_response"][0]
    assert page["pagination"]["total_count"] == 4 and len(page["data"]["reg_records"]) == 2
    cursor = page["pagination"]["next_cursor"]
    _, second = sync_search(envelope(by_area("371602001", page_size=2, cursor=cursor)), partner())
    rest = second["message"]["search_response"][0]
    seen = {r["@id"] for r in page["data"]["reg_records"]} | {r["@id"] for r in rest["data"]["reg_records"]}
    assert len(seen) == 4 and "next_cursor" in rest["pagination"]
    # A partner of another county sees nothing of this one.
    _, outside = sync_search(envelope(by_area("371602001")), partner(division="371621"))
    assert outside["message"]["search_response"][0]["pagination"]["total_count"] == 0
    # Two townships at once: each one's subtree, nothing else.
    both = {
        "expression": {
            "collection": "Group",
            "query": {"$and": [{"division_code": {"$in": ["371602001", "371602105"]}}]},
        }
    }
    query = {"query_type": "expression", "query": {"type": "ns:ejia:QueryType:NoSql", "value": both}}
    _, answer = sync_search(envelope(query), partner())
    assert answer["message"]["search_response"][0]["pagination"]["total_count"] == 5


def test_predicate_search_combines_conditions(family):
    household, head_id, _ = family
    criteria = {
        "query_type": "predicate",
        "query": [
            {
                "seq_num": 1,
                "expression1": {"attribute_name": "hukou_number", "operator": "eq", "attribute_value": "H001"},
                "condition": "and",
                "expression2": {"attribute_name": "national_id", "operator": "in", "attribute_value": [head_id]},
            }
        ],
    }
    _, response = sync_search(envelope(criteria), partner())
    records = response["message"]["search_response"][0]["data"]["reg_records"]
    assert [r["@id"] for r in records] == [f"urn:ejia:group:{household.public_id}"]


@pytest.mark.parametrize(
    ("criteria", "code"),
    [
        ({"query_type": "sql", "query": "select 1"}, env.RJCT_CRITERIA),
        ({"query_type": "idtype-value", "query": {"type": "NationalID", "value": "123"}}, env.RJCT_CRITERIA),
        ({**by_area("371602"), "pagination": {"page_size": 5000}}, env.RJCT_PAGINATION),
        (
            {
                "query_type": "predicate",
                "query": [{"expression1": {"attribute_name": "birth_date", "operator": "lt", "attribute_value": "x"}}],
            },
            env.RJCT_CRITERIA,
        ),
    ],
)
def test_bad_criteria_are_rejected_per_request_with_the_spec_reason_code(org, criteria, code):
    _, response = sync_search(envelope(criteria), partner())
    spec_validator(SYNC_RESPONSE).validate(response)
    answer = response["message"]["search_response"][0]
    assert answer["status"] == "rjct" and answer["status_reason_code"] == code
    assert answer["status_reason_message"]
    with pytest.raises(CriteriaError):
        parse_criteria(criteria)


def test_bad_signature_missing_signature_and_wrong_sender_are_refused_with_err(family):
    _, head_id, _ = family
    tampered = envelope(by_id(head_id))
    tampered["message"]["search_request"][0]["search_criteria"]["query"]["value"] = new_id()
    cases = [
        (tampered, env.ERR_SIGNATURE_INVALID),
        (envelope(by_id(head_id), key=OTHER_KEY), env.ERR_SIGNATURE_INVALID),
        (envelope(by_id(head_id), kid="unknown"), env.ERR_SIGNATURE_INVALID),
        ({**envelope(by_id(head_id)), "signature": None}, env.ERR_SIGNATURE_MISSING),
        ({"header": {"action": "search"}}, env.ERR_REQUEST_BAD),
    ]
    wrong_sender = envelope(by_id(head_id))
    wrong_sender["header"]["sender_id"] = "someone.else"
    cases.append((wrong_sender, env.ERR_SENDER_ID))
    for body, code in cases:
        status, response = sync_search(body, partner())
        spec_validator(ACK).validate(response)
        assert status in (400, 401, 403)
        assert response["message"]["ack_status"] == "ERR"
        assert response["message"]["error"]["code"] == code, body


def test_header_total_count_must_match_the_batch(family):
    _, head_id, _ = family
    _, response = sync_search(envelope(by_id(head_id), total=3), partner())
    spec_validator(SYNC_RESPONSE).validate(response)
    assert response["message"]["search_response"] == []
    assert response["header"]["status"] == "rjct"
    assert response["header"]["status_reason_code"] == env.RJCT_TOTAL_COUNT_INVALID


def test_canonical_form_ignores_key_order_and_whitespace():
    assert signing.canonical({"b": 1, "a": "中"}, {}) == signing.canonical({"a": "中", "b": 1}, {})
    assert signing.canonical({"a": 1}, {}) == b'{"header":{"a":1},"message":{}}'


def _registered_partner(scopes, **agreement):
    from ejia.api.models import ApiClient
    from ejia.api.services import client_create, client_set_jwks

    client, _ = client_create(
        actor=None,
        name="省社会救助登记系统",
        kind=ApiClient.Kind.PARTNER,
        client_id="spmis-shandong",
        scopes=scopes,
        **agreement,
    )
    return client_set_jwks(actor=None, client_id=client.client_id, jwks=jwks())


def _post(client, api_client, body):
    from ejia.api.auth import token_issue

    token, _, _ = token_issue(api_client)
    return client.post(
        "/api/v1/dci/registry/sync/search",
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


def test_http_sync_search_answers_a_signed_envelope_verifiable_with_our_jwks(client, family):
    from ejia.accounts.policies import ApiScope

    _, head_id, _ = family
    partner_client = _registered_partner([ApiScope.DCI_SEARCH], agreement_fields=["name", "member_list"])
    response = _post(client, partner_client, envelope(by_id(head_id)))
    assert response.status_code == 200, response.content
    body = response.json()
    spec_validator(SYNC_RESPONSE).validate(body)
    ours = client.get("/.well-known/jwks.json").json()
    assert signing.verify(body["signature"], body["header"], body["message"], jwks=ours)
    group = body["message"]["search_response"][0]["data"]["reg_records"][0]
    assert set(group) == {"@type", "@id", "group_identifier", "group_type", "member_list"}
    assert group["member_list"][0]["member_identifier"][0]["identifier_value"] == idnumber.mask(head_id)
    broken = _post(client, partner_client, {**envelope(by_id(head_id)), "signature": "x..y"})
    assert broken.status_code == 401 and broken.json()["message"]["error"]["code"] == env.ERR_SIGNATURE_INVALID


def test_http_sync_search_needs_the_dci_scope(client, family):
    from ejia.accounts.policies import ApiScope

    _, head_id, _ = family
    catalogue_only = _registered_partner([ApiScope.CATALOGUE_READ])
    assert _post(client, catalogue_only, envelope(by_id(head_id))).status_code == 403
