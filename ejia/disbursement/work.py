"""What 一卡发放 adds to other apps' pages: the household's payments panel on the 360° page and
the county centre's home-page work items (money that is held or waits for someone)."""

from __future__ import annotations

from django.template.loader import render_to_string


def household_payments_panel(user, household) -> str:
    """The entitlements and what the bank actually paid, on the registry's household page."""
    from ejia.disbursement.selectors import household_entitlements_panel

    panel = household_entitlements_panel(user=user, household=household)
    if not panel.entitlements and not panel.payments:
        return ""
    return render_to_string("disbursement/_household_entitlements.html", {"panel": panel})
