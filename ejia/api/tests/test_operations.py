"""Every API operation declares a scope (or is one of the few public ones), and the schema is
served, with a local docs page under the site's Content-Security-Policy."""

from __future__ import annotations

from ejia.accounts.policies import API_SCOPES
from ejia.api.api import api
from ejia.api.auth import ClientAuth

# Open to anyone: the token endpoint (it checks the client's credentials itself).
PUBLIC_OPERATIONS = {"/oauth2/client/token"}


def operations():
    """(path, operation) as mounted: the routers bound to the API, with their inherited auth."""
    for bound in api._get_bound_routers():
        for path, path_view in bound.path_operations.items():
            for operation in path_view.operations:
                yield ("/" + bound.mount.prefix.strip("/") + "/" + path.lstrip("/")).replace("//", "/"), operation


def test_every_operation_declares_a_known_scope_or_is_public():
    undeclared = []
    for path, operation in operations():
        auths = [a for a in operation.auth_callbacks if isinstance(a, ClientAuth)]
        if path in PUBLIC_OPERATIONS:
            assert not operation.auth_callbacks, path
        elif not auths or any(a.scope not in API_SCOPES for a in auths):
            undeclared.append(f"{operation.methods} {path}")
    assert undeclared == []
    assert {path for path, _ in operations()} >= PUBLIC_OPERATIONS


def test_the_schema_and_the_docs_page_are_served_locally(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["openapi"].startswith("3.") and "/api/v1/catalogue/programmes" in schema["paths"]
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html and "cdn" not in html.lower()
    assert "script-src 'self'" in docs["Content-Security-Policy"]
