"""Home-page actions of proactive discovery (registered in DiscoveryConfig.ready)."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ejia.accounts.policies import Capability, allows
from ejia.accounts.work import Action


def discovery_actions(user) -> list[Action]:
    """A grid worker who meets a family in hardship on the round reports it from the phone."""
    if not allows(user, Capability.LEAD_REPORT):
        return []
    return [Action("report", _("上报困难"), reverse("discovery:report"))]
