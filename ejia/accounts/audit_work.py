"""The auditor's and the system administrator's work items (registered in AccountsConfig.ready):
while the access log's seal job has stopped (API calls left unsealed are only as safe as the
table), and while a background check fails (the task worker, the nightly chain check, invariants
and purge: 运行状态). Neither may stay silent."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from ejia.accounts.policies import Capability, allows
from ejia.accounts.work import WorkItem


def seal_alert_work(user) -> list[WorkItem]:
    if not allows(user, Capability.ACCESS_SEAL_WATCH):
        return []
    from ejia.accounts.audit_selectors import seal_alert_minutes, stale_unsealed_count

    stale = stale_unsealed_count(user=user)
    if not stale:
        return []
    label = _("接口访问记录封存中断（超过 %(minutes)s 分钟未封存）") % {"minutes": seal_alert_minutes()}
    return [WorkItem("access_seal_stalled", label, reverse("accounts:access_seal"), stale)]


def ops_health_work(user) -> list[WorkItem]:
    """The background work's failing checks (运行状态), for whoever watches them. The seal job
    has its own item above, so it is not counted twice."""
    if not allows(user, Capability.OPS_HEALTH_WATCH):
        return []
    from ejia.core.health import failing, operations

    bad = [check for check in failing(operations()) if check.key != "access_seal"]
    if not bad:
        return []
    label = _("系统运行检查未通过：%(names)s") % {"names": "、".join(check.label for check in bad)}
    return [WorkItem("ops_health", label, reverse("accounts:ops_health"), len(bad))]
