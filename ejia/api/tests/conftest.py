"""API test fixtures: registered clients and their tokens, built through the API's services."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from ejia.accounts.policies import ApiScope
from ejia.api import credentials
from ejia.api.auth import token_issue
from ejia.api.models import ApiClient
from ejia.api.services import client_create


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    credentials.forget()
    yield
    cache.clear()
    credentials.forget()


@pytest.fixture
def catalogue(org):
    """The seed catalogue: programmes, version 1 published, the 2023 standards."""
    from ejia.catalogue.seed import catalogue_seed
    from ejia.catalogue.selectors import engine_cache_clear

    engine_cache_clear()
    catalogue_seed()
    yield org
    engine_cache_clear()


@pytest.fixture
def app_client(org):
    """The citizens' app (catalogue and citizen scopes); returns the client."""
    client, _secret = client_create(
        actor=None,
        name="e家大救助手机App",
        kind=ApiClient.Kind.CITIZEN_APP,
        client_id="ejia-app",
        scopes=[ApiScope.CATALOGUE_READ, ApiScope.CITIZEN_APP],
    )
    return client


@pytest.fixture
def partner(org):
    """A partner registry allowed the catalogue only; returns (client, secret)."""
    return client_create(
        actor=None,
        name="省民政厅登记系统",
        kind=ApiClient.Kind.PARTNER,
        client_id="sd-registry",
        scopes=[ApiScope.CATALOGUE_READ],
    )


@pytest.fixture
def yb_system(org):
    """滨城区医保局's own system: routed requests and decisions; returns (client, secret)."""
    from conftest import _unit

    return client_create(
        actor=None,
        name="滨城区医保业务系统",
        kind=ApiClient.Kind.DEPARTMENT,
        client_id="bc-yb",
        scopes=[ApiScope.CATALOGUE_READ, ApiScope.DEPARTMENT_REQUESTS],
        unit=_unit("371602", "department", "yb"),
    )


def bearer(client: ApiClient, scopes: list[str] | None = None) -> dict[str, str]:
    token, _, _ = token_issue(client, scopes)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def procedures(org):
    """The catalogue, the procedures and the message templates (what a case needs to move)."""
    from ejia.cases.workflow.procedures import procedures_seed
    from ejia.catalogue.seed import catalogue_seed
    from ejia.catalogue.selectors import engine_cache_clear
    from ejia.core.outbox import templates_seed

    engine_cache_clear()
    catalogue_seed()
    procedures_seed()
    templates_seed()
    yield org
    engine_cache_clear()
