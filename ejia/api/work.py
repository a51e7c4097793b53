"""The system administrator's work item while a DCI callback has failed for good (registered
in ApiConfig.ready): nothing the partners did not receive stays silent."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from ejia.accounts.policies import Capability, allows
from ejia.accounts.work import WorkItem


def dci_work(user) -> list[WorkItem]:
    if not allows(user, Capability.DCI_OPERATE):
        return []
    from ejia.api.selectors import failed_deliveries_for_user

    failed = failed_deliveries_for_user(user=user).count()
    if not failed:
        return []
    return [WorkItem("dci_failed", _("投递失败的DCI回调（合作登记系统未收到）"), reverse("dci:failed"), failed)]
