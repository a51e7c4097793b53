"""The open API (docs/api.md): one NinjaAPI mounted at /api/v1/.

Each area is a router module in ejia/api/routers/; adding an area is one line in ROUTERS.
"""

from __future__ import annotations

from ninja import NinjaAPI

from ejia.api import errors
from ejia.api.routers import app, catalogue, dci, department, exchange, oauth

api = NinjaAPI(
    title="e家大救助 开放接口",
    version="1.0.0",
    description="滨州市社会救助平台开放接口：部门业务系统、群众手机App与其他登记系统接入。说明见 docs/api.md。",
    urls_namespace="api",
    docs_url="/docs",
)
errors.install(api)

# (prefix, router): one line per area.
ROUTERS = [
    ("/oauth2/", oauth.router),
    ("/catalogue/", catalogue.router),
    ("/exchange/", exchange.router),
    ("/department/", department.router),
    ("/app/", app.router),
    ("/dci/", dci.router),
]
for prefix, router in ROUTERS:
    api.add_router(prefix, router)
