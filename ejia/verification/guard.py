"""The commit guard: a department file must not silently wipe out the department's good data.

A file whose every row was refused (a changed export layout, a wrong file) would, once
committed, replace the source's current snapshot with nothing: one-click checks would then find
no vehicles, no property, no pension for anybody. So:

- a file with zero accepted rows is never committed (the current snapshot stays);
- a file with fewer accepted rows than `EJIA_EXCHANGE_MIN_SHARE_PERCENT` (50) per cent of the
  current snapshot's is committed only with the operator's written reason, which is kept on the
  snapshot and in the audit log (`exchange.commit_override`).

The verdict is computed when the operator confirms (to answer at once) and again by the worker
under the source's row lock (the current snapshot may have changed in between), and by
`snapshot_import` for the CLI (`ejia_import --reason`).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from ejia.verification.models import DataSource, SourceSnapshot

MIN_REASON_CHARS = 4


class Verdict:
    OK = "ok"
    ZERO = "zero"
    SHARE = "share"
    OVERRIDE = "override"


@dataclass(frozen=True)
class CommitVerdict:
    code: str
    message: str  # Chinese, for the operator ("" when plainly allowed)
    rows_accepted: int
    previous_rows: int  # accepted rows of the current committed snapshot (0 if none)
    share_percent: int  # the configured minimum

    @property
    def allowed(self) -> bool:
        return self.code in (Verdict.OK, Verdict.OVERRIDE)

    @property
    def needs_reason(self) -> bool:
        return self.code in (Verdict.SHARE, Verdict.OVERRIDE)

    @property
    def actual_percent(self) -> float:
        return 100 * self.rows_accepted / self.previous_rows if self.previous_rows else 100.0

    def audit_data(self) -> dict:
        return {
            "code": self.code,
            "rows_accepted": self.rows_accepted,
            "previous_rows": self.previous_rows,
            "min_share_percent": self.share_percent,
        }


def min_share_percent() -> int:
    return int(getattr(settings, "EJIA_EXCHANGE_MIN_SHARE_PERCENT", 50))


def current_rows(*, source: DataSource, excluding: int | None = None) -> int:
    committed = SourceSnapshot.objects.filter(source=source, status=SourceSnapshot.Status.COMMITTED)
    if excluding:
        committed = committed.exclude(pk=excluding)
    return committed.values_list("rows_accepted", flat=True).first() or 0


def commit_verdict(
    *, source: DataSource, rows_accepted: int, rows_total: int, override_reason: str = "", excluding: int | None = None
) -> CommitVerdict:
    previous = current_rows(source=source, excluding=excluding)
    share = min_share_percent()
    if rows_accepted == 0:
        kept = f"“{source.name}”的当前批次（{previous} 行）保持不变" if previous else "未写入任何数据"
        return CommitVerdict(
            Verdict.ZERO,
            f"拒绝入库：本文件没有一行通过校验（{rows_total} 行全部拒收），入库会清空该数据源的数据。"
            f"{kept}。请核对文件格式后重新导出上传。",
            rows_accepted,
            previous,
            share,
        )
    if previous and rows_accepted * 100 < previous * share:
        percent = 100 * rows_accepted / previous
        if len((override_reason or "").strip()) >= MIN_REASON_CHARS:
            return CommitVerdict(
                Verdict.OVERRIDE,
                f"本文件可接收 {rows_accepted} 行，仅为当前批次 {previous} 行的 {percent:.1f}%，"
                f"按操作员填写的原因入库。",
                rows_accepted,
                previous,
                share,
            )
        return CommitVerdict(
            Verdict.SHARE,
            f"本文件可接收 {rows_accepted} 行，仅为当前批次 {previous} 行的 {percent:.1f}%（低于 {share}%），"
            f"入库会替换掉大部分现有数据。如确需入库，请填写原因（至少 {MIN_REASON_CHARS} 个字）后再确认。",
            rows_accepted,
            previous,
            share,
        )
    return CommitVerdict(Verdict.OK, "", rows_accepted, previous, share)
