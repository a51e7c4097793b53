"""The auditor's and the system administrator's work item while the access log's seal job has
stopped (registered in AccountsConfig.ready): API calls left unsealed are only as safe as the
table, so a stalled seal must not stay silent."""

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
