"""The dashboards on the home page: a button for those who come only to read them (a leader's
home has nothing else), and a work item when the summaries failed to refresh, for the centres that steer by them."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext as _

from ejia.accounts.policies import Capability, Reach, allows, reach
from ejia.accounts.work import Action, WorkItem


def dashboard_actions(user) -> list[Action]:
    """The big button is for those who come to read (a leader, a catalogue editor); those who
    handle cases reach the dashboards from the navigation and keep their work buttons first."""
    if not allows(user, Capability.DASHBOARD_READ):
        return []
    if allows(user, Capability.CASE_LIST) or allows(user, Capability.PROCEDURE_HANDLE):
        return []
    return [Action(key="dashboards", label=_("统计看板"), url=reverse("dashboards:overview"))]


def dashboard_work(user) -> list[WorkItem]:
    if reach(user, Capability.DASHBOARD_READ) != Reach.AREA or user.unit.division.level not in ("city", "county"):
        return []
    from ejia.dashboards.selectors import failed_refreshes

    failed = failed_refreshes().order_by().values("month").distinct().count()
    if not failed:
        return []
    return [
        WorkItem(
            key="dashboards-refresh-failed",
            label=_("统计刷新失败的月份（看板数字可能不是最新的）"),
            url=reverse("dashboards:overview"),
            count=failed,
        )
    ]
