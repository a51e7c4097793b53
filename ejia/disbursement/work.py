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


def dynamic_panel(user, household) -> str:
    """动态管理 on the household page: 报告变化, and the household's open alerts, change reports
    and recoveries — for the roles that handle the household."""
    from ejia.accounts.policies import Capability, allows
    from ejia.disbursement.change_facts import CHANGE_KINDS
    from ejia.disbursement.selectors import alerts_for_user, change_reports_for_household, recoveries_for_user

    if not allows(user, Capability.ENTITLEMENT_MANAGE):
        return ""
    return render_to_string(
        "disbursement/_household_dynamic.html",
        {
            "household": household,
            "kinds": CHANGE_KINDS.values(),
            "alerts": alerts_for_user(user=user, household=household),
            "reports": change_reports_for_household(user=user, household=household),
            "recoveries": recoveries_for_user(user=user, household=household),
        },
    )


def dynamic_work(user) -> list[WorkItem]:
    """The township's 动态管理 work on the home page: alerts, open reports, recoveries, failed scans."""
    from ejia.accounts.policies import Capability, allows
    from ejia.disbursement.selectors import (
        alerts_for_user,
        change_reports_for_user,
        failed_scans_for_user,
        recoveries_for_user,
    )

    if not allows(user, Capability.ENTITLEMENT_MANAGE):
        return []
    url = reverse("disbursement:reviews_due")
    return [
        WorkItem("dynamic_alerts", _("动态监测预警待核实"), f"{url}#alerts", len(alerts_for_user(user=user))),
        WorkItem(
            "change_reports", _("变更报告待评估或决定"), f"{url}#reports", len(change_reports_for_user(user=user))
        ),
        WorkItem("recoveries", _("死亡后已发放待追回"), f"{url}#recoveries", len(recoveries_for_user(user=user))),
        WorkItem("failed_scans", _("部门数据比对失败"), f"{url}#scans", len(failed_scans_for_user(user=user))),
    ]
