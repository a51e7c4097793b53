"""Home-page work and actions of proactive discovery (registered in DiscoveryConfig.ready)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ejia.accounts.policies import Capability, allows
from ejia.accounts.work import Action, WorkItem


def discovery_actions(user) -> list[Action]:
    """A grid worker who meets a family in hardship on the round reports it from the phone."""
    if not allows(user, Capability.LEAD_REPORT):
        return []
    return [Action("report", _("上报困难"), reverse("discovery:report"))]


def discovery_work(user) -> list[WorkItem]:
    """The leads waiting for this user: visits handed to them (village clerk, grid worker) and,
    for whoever hands leads out (the township window), the open leads nobody has taken yet."""
    from ejia.discovery.selectors import cards, leads_for_user, visits_for_user

    items: list[WorkItem] = []
    if allows(user, Capability.LEAD_VISIT):
        items.append(
            WorkItem(
                "lead_visits",
                _("我的走访：分派给我的主动发现线索（户）"),
                reverse("discovery:visits"),
                cards(visits_for_user(user)).count(),
            )
        )
    if allows(user, Capability.LEAD_ASSIGN):
        unassigned = cards(leads_for_user(user).filter(assigned_to=None)).count()
        items.append(
            WorkItem("leads_unassigned", _("待分派的主动发现线索（户）"), reverse("discovery:leads"), unassigned)
        )
    return items
