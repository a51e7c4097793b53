"""The load balancer's probes, open to everyone and saying nothing about anyone: `/healthz`
(the process answers; touches nothing) and `/readyz` (the database answers and is fully
migrated; 503 otherwise). The background work's checks are on the staff page 运行状态 and
`manage.py ejia_health`, not here: a probe decides about traffic only."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ejia.accounts.policies import public_view
from ejia.core.health import readiness


@public_view
@never_cache
@require_GET
def healthz(request):
    return HttpResponse("ok", content_type="text/plain; charset=utf-8")


@public_view
@never_cache
@require_GET
def readyz(request):
    checks = readiness()
    ok = all(check.ok for check in checks)
    body = {"status": "ok" if ok else "fail", "checks": {check.key: "ok" if check.ok else "fail" for check in checks}}
    return JsonResponse(body, status=200 if ok else 503)
