"""回调投递失败: the system administrator sees the DCI callbacks partner registries did not take
after every attempt (partner, kind, transaction id, attempts, last error; never a record or an
ID number) and sends one again (重新投递)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from ejia.accounts.policies import Capability, staff_view
from ejia.api.dci.delivery import MAX_ATTEMPTS, DeliveryError, delivery_retry, delivery_transaction_id
from ejia.api.models import DciDelivery
from ejia.api.selectors import delivery_get_for_user, failed_deliveries_for_user

ops_page = staff_view(Capability.DCI_OPERATE, cache=False)

# What each callback tells the partner, by the action of our message.
KINDS = {
    "on-search": gettext_lazy("异步查询结果（on-search）"),
    "txn-on-status": gettext_lazy("事务状态（txn/on-status）"),
    "on-subscribe": gettext_lazy("订阅结果（on-subscribe）"),
    "on-unsubscribe": gettext_lazy("取消订阅结果（on-unsubscribe）"),
    "notify": gettext_lazy("登记变化通知（notify）"),
}


def kind_label(action: str) -> str:
    return str(KINDS.get(action, action))


@ops_page
def dci_failed_view(request):
    page = Paginator(failed_deliveries_for_user(user=request.user), 50).get_page(request.GET.get("page"))
    rows = [
        {"d": d, "kind": kind_label(d.action), "transaction_id": delivery_transaction_id(d)} for d in page.object_list
    ]
    return render(request, "api/dci_failed.html", {"page": page, "rows": rows, "max_attempts": MAX_ATTEMPTS})


@ops_page
@require_POST
def dci_retry_view(request, delivery_id: int):
    delivery = delivery_get_for_user(user=request.user, delivery_id=delivery_id)
    try:
        delivery_retry(actor=request.user, delivery_id=delivery.pk)
    except DeliveryError as exc:
        messages.error(request, exc.message)
        return redirect(reverse("dci:failed"))
    delivery.refresh_from_db(fields=["status", "last_error"])
    what = {"partner": delivery.client.name, "kind": kind_label(delivery.action)}
    if delivery.status == DciDelivery.Status.SENT:
        messages.success(request, _("已重新投递并送达：%(partner)s 的%(kind)s。") % what)
    elif delivery.status == DciDelivery.Status.FAILED:
        messages.error(request, _("重新投递仍未成功：%(partner)s 的%(kind)s，请核实对方系统后再试。") % what)
    else:
        messages.success(request, _("已放回投递队列，稍后自动发送：%(partner)s 的%(kind)s。") % what)
    return redirect(reverse("dci:failed"))
