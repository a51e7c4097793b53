"""Home-page work items and actions of the case system (registered in CasesConfig.ready)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ejia.accounts.models import Role
from ejia.accounts.policies import Capability, Reach, allows, reach
from ejia.accounts.work import Action, WorkItem


def case_work(user) -> list[WorkItem]:
    from ejia.cases.models import CaseStatus
    from ejia.cases.selectors import case_queue_count, outbox_for_user
    from ejia.cases.workflow.selectors import work_counts

    items: list[WorkItem] = []
    if allows(user, Capability.CASE_INTAKE):
        open_cases = case_queue_count(user=user, status=CaseStatus.SUBMITTED)
        items.append(WorkItem("cases", _("受理队列：已受理、尚未办结的申请件"), reverse("cases:queue"), open_cases))
    if allows(user, Capability.PROCEDURE_HANDLE):
        counts = work_counts(user=user)
        url = reverse("workflow:queue")
        items.append(WorkItem("mine", _("待我办理的救助事项"), url, counts["mine"]))
        items.append(WorkItem("due_soon", _("即将到期（2个工作日内）"), f"{url}?tab=due_soon", counts["due_soon"]))
        items.append(WorkItem("overdue", _("超期督办"), f"{url}?tab=overdue", counts["overdue"]))
    if allows(user, Capability.OUTBOX_READ):
        failed = outbox_for_user(user=user, show="failed").count()
        items.append(WorkItem("outbox_failed", _("发送失败的短信"), f"{reverse('cases:outbox')}?show=failed", failed))
    return items


def case_actions(user) -> list[Action]:
    """Start an application, and the list of those one started. A grid worker applies on a
    household's behalf (代办); who may list only their own files sees that list as theirs."""
    if not allows(user, Capability.CASE_INTAKE):
        return []
    proxy = user.has_role(Role.GRID_WORKER)
    found = [Action("intake", _("代办申请") if proxy else _("受理申请"), reverse("cases:intake_start"), primary=True)]
    if reach(user, Capability.CASE_LIST) == Reach.OWN:
        found.append(Action("my_cases", _("我代办的申请") if proxy else _("我受理的申请"), reverse("cases:queue")))
    return found
