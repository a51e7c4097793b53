"""Invariants of the recipient registry (see ejia/core/invariants.py)."""

from __future__ import annotations

from django.db.models import Count

from ejia.core.invariants import invariant
from ejia.registry.models import Membership


@invariant("one_open_membership", "每人至多属于一个家庭（至多一条未迁出的成员关系）")
def one_open_membership(limit: int) -> list[str]:
    doubled = (
        Membership.objects.filter(date_out__isnull=True)
        .order_by()
        .values("person_id")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .values_list("person_id", "n")
    )
    return [f"人员 #{person_id}：同时有 {n} 条未迁出的成员关系" for person_id, n in doubled[:limit]]
