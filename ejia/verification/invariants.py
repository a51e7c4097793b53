"""Invariants of the department data exchange (see ejia/core/invariants.py)."""

from __future__ import annotations

from django.db.models import Count, F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from ejia.core.invariants import invariant
from ejia.verification.models import RejectedRow, SourceRecord, SourceSnapshot

FILES = (SourceSnapshot.Format.CSV, SourceSnapshot.Format.XLSX)


def _count(model) -> Coalesce:
    counted = model.objects.filter(snapshot=OuterRef("pk")).order_by().values("snapshot").annotate(n=Count("pk"))
    return Coalesce(Subquery(counted.values("n")), Value(0))


@invariant("import_rows_add_up", "每次导入：接收 + 拒收 = 文件数据行；入库记录数 = 接收行数；拒收明细数 = 拒收行数")
def import_rows_add_up(limit: int) -> list[str]:
    problems = []
    for snap in SourceSnapshot.objects.exclude(rows_total=F("rows_accepted") + F("rows_rejected")).select_related(
        "source"
    )[:limit]:
        problems.append(
            f"{snap.source.code} {snap.public_id}：接收 {snap.rows_accepted} + 拒收 {snap.rows_rejected} ≠ 数据行 {snap.rows_total}"
        )
    kept = SourceSnapshot.objects.filter(
        file_format__in=FILES,
        status__in=[SourceSnapshot.Status.PREVIEW, SourceSnapshot.Status.COMMITTED, SourceSnapshot.Status.SUPERSEDED],
    )
    records = (
        kept.filter(status=SourceSnapshot.Status.COMMITTED)
        .annotate(n=_count(SourceRecord))
        .exclude(n=F("rows_accepted"))
        .values_list("source__code", "public_id", "rows_accepted", "n")
    )
    for code, public_id, accepted, n in records[:limit]:
        problems.append(f"{code} {public_id}：已入库 {n} 条记录，应为接收行数 {accepted}")
    rejected = (
        kept.annotate(n=_count(RejectedRow))
        .exclude(n=F("rows_rejected"))
        .values_list("source__code", "public_id", "rows_rejected", "n")
    )
    for code, public_id, expected, n in rejected[:limit]:
        problems.append(f"{code} {public_id}：拒收明细 {n} 条，应为拒收行数 {expected}")
    return problems
