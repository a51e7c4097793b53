"""运行状态: the system administrator's (and the auditor's) view of the background work that
would otherwise fail in silence (`ejia.core.health`). Counts, times and job names only."""

from __future__ import annotations

from django.shortcuts import render
from django.utils import timezone

from ejia.accounts.policies import Capability, allows, staff_view
from ejia.core.health import failing, operations, readiness


@staff_view(Capability.OPS_HEALTH_WATCH, cache=False)
def ops_health_view(request):
    checks = [*readiness(), *operations()]
    return render(
        request,
        "accounts/ops_health.html",
        {
            "checks": checks,
            "failing": failing(checks),
            "checked_at": timezone.now(),
            "can_watch_seal": allows(request.user, Capability.ACCESS_SEAL_WATCH),
        },
    )
