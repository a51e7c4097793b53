"""Reads of the open API's operations for staff pages, scoped by the access policy."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from ejia.accounts.models import Division
from ejia.accounts.policies import Capability, allows, require, scope_q
from ejia.accounts.scope import scope_for
from ejia.api.dci.transactions import CITY_CODE
from ejia.api.models import DciDelivery


def _partners_q(user) -> Q:
    """The partners an administrator handles: those whose unit lies in the administrator's area,
    and the city-wide ones (no unit) when that area holds the city."""
    found = scope_q(user, Capability.DCI_OPERATE, division="client__unit__division")
    area = scope_for(user).division_path
    city = Division.objects.filter(code=CITY_CODE).values_list("path", flat=True).first()
    if area is not None and city is not None and city.startswith(area) and allows(user, Capability.DCI_OPERATE):
        found |= Q(client__unit__isnull=True)
    return found


def failed_deliveries_for_user(*, user) -> QuerySet[DciDelivery]:
    """Callbacks that gave up after their last attempt, newest first, for the user's partners."""
    return (
        DciDelivery.objects.filter(_partners_q(user), status=DciDelivery.Status.FAILED)
        .select_related("client")
        .order_by("-pk")
    )


def delivery_get_for_user(*, user, delivery_id: int) -> DciDelivery:
    """404 if there is no such callback, 403 if its partner lies outside the user's area."""
    require(user, Capability.DCI_OPERATE)
    delivery = DciDelivery.objects.filter(_partners_q(user), pk=delivery_id).first()
    if delivery is not None:
        return delivery
    if DciDelivery.objects.filter(pk=delivery_id).exists():
        raise PermissionDenied("该回调的合作登记系统不在您的管理范围内。")
    raise Http404("没有找到该回调。")
