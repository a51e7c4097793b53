"""schemathesis over the whole API schema: generated requests (valid and not) for every
operation, answered without a 5xx and as the schema says (status, content type, body).

Bounded: a few examples per operation, no deadline, authenticated with one client that holds
every scope a department system may have (and a catalogue to read)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from ejia.accounts.policies import API_KIND_SCOPES
from ejia.api.api import api
from ejia.api.models import ApiClient
from ejia.api.services import client_create
from ejia.api.tests.conftest import bearer

schema = schemathesis.openapi.from_dict(api.get_openapi_schema())
schema.app = get_wsgi_application()
# Query parameters the schema does not name are ignored (as most APIs do, so that a client
# may send a newer optional parameter to an older server), not refused: do not generate them.
schema.config.generation.update(allow_extra_parameters=False)
# Every check but one: "schema-valid data is accepted" cannot hold where the business rules
# refuse what the schema allows (a self-check answer whose counts do not add up, a decision on
# a request already decided): those are 4xx in the error shape, which the other checks verify.
EXCLUDED = [positive_data_acceptance]


@pytest.fixture
def in_test_transaction():
    """The WSGI app closes the database connection after each request (Django's
    close_old_connections), which inside the test's transaction ends it on PostgreSQL; Django's
    own test client switches that off the same way."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_headers(catalogue, in_test_transaction):
    from conftest import _unit

    client, _ = client_create(
        actor=None,
        name="模糊测试",
        kind=ApiClient.Kind.DEPARTMENT,
        client_id="fuzz",
        scopes=sorted(API_KIND_SCOPES["department"]),
        unit=_unit("371602", "department", "yb"),
        rate_limit_per_minute=0,
    )
    return bearer(client)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    database=None,
)
def test_the_api_answers_every_generated_request_as_its_schema_says(case, fuzz_headers):
    headers = {} if case.path == "/api/v1/oauth2/client/token" else fuzz_headers
    case.call_and_validate(headers=headers, excluded_checks=EXCLUDED)
