"""What 一卡发放 adds to other apps' pages: the household's payments panel on the 360° page and
the county centre's home-page work items (money that is held or waits for someone)."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from ejia.accounts.work import WorkItem


def household_payments_panel(user, household) -> str:
    """The entitlements and what the bank actually paid, on the registry's household page."""
    from ejia.accounts.policies import Capability, allows
    from ejia.disbursement.selectors import household_entitlements_panel

    panel = household_entitlements_panel(user=user, household=household)
    if not panel.entitlements and not panel.payments:
        return ""
    # The entitlement's own page (suspend, end, change) is for 动态管理; others read the panel.
    can_manage = allows(user, Capability.ENTITLEMENT_MANAGE)
    return render_to_string("disbursement/_household_entitlements.html", {"panel": panel, "can_manage": can_manage})


def payment_work(user) -> list[WorkItem]:
    """The county centre's money that waits for someone (暂缓和待处理), scoped to its area."""
    from ejia.accounts.policies import Capability, allows
    from ejia.disbursement.holds import held_decisions_for_user, held_lines_for_user, open_answers_for_user

    if not allows(user, Capability.PAYMENT_MANAGE):
        return []
    url = reverse("disbursement:held")
    return [
        WorkItem(
            "held_decisions",
            _("暂缓发放：已批准但未能生成待遇"),
            f"{url}#decisions",
            len(held_decisions_for_user(user=user)),
        ),
        WorkItem("held_lines", _("暂缓发放：缺少账户或户名"), f"{url}#lines", held_lines_for_user(user=user).count()),
        WorkItem(
            "open_answers",
            _("对账待处理：金额不符待确认、失败待重新发放"),
            f"{url}#answers",
            open_answers_for_user(user=user).count(),
        ),
    ]
