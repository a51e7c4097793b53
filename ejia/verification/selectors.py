"""Reads for the exchange pages. Department data is city-wide: the exchange operator role is
the scope (checked by the views through `require_operator`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Prefetch
from django.http import Http404

from ejia.accounts.models import Role
from ejia.accounts.scope import require_role
from ejia.verification.models import DataSource, RejectedRow, SourceSnapshot


def require_operator(user) -> None:
    require_role(user, Role.EXCHANGE_OPERATOR)


@dataclass
class SourceRow:
    source: DataSource
    committed: SourceSnapshot | None
    pending: SourceSnapshot | None


def sources_overview(*, user) -> list[SourceRow]:
    require_operator(user)
    committed = SourceSnapshot.objects.filter(status=SourceSnapshot.Status.COMMITTED)
    sources = DataSource.objects.prefetch_related(Prefetch("snapshots", queryset=committed, to_attr="current"))
    previews = {}
    for snap in SourceSnapshot.objects.filter(status=SourceSnapshot.Status.PREVIEW).order_by("created_at"):
        previews[snap.source_id] = snap
    return [SourceRow(s, (s.current or [None])[0], previews.get(s.pk)) for s in sources]


def source_get_for_user(*, user, code: str) -> DataSource:
    require_operator(user)
    source = DataSource.objects.filter(code=code).first()
    if source is None:
        raise Http404("没有这个数据源。")
    return source


def snapshot_get_for_user(*, user, public_id) -> SourceSnapshot:
    require_operator(user)
    snapshot = (
        SourceSnapshot.objects.select_related("source", "created_by", "committed_by")
        .filter(public_id=public_id)
        .first()
    )
    if snapshot is None:
        raise Http404("没有这个数据批次。")
    return snapshot


def rejected_rows_page(*, snapshot: SourceSnapshot, limit: int = 200) -> list[RejectedRow]:
    return list(RejectedRow.objects.filter(snapshot=snapshot).order_by("row_number")[:limit])


def snapshot_history(*, source: DataSource, limit: int = 10) -> list[SourceSnapshot]:
    return list(source.snapshots.select_related("created_by").order_by("-created_at")[:limit])
