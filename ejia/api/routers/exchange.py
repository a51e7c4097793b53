"""POST /api/v1/exchange/{source}/records: a department's system pushes its records for a
source — the online half of data exchange.

A push is one complete snapshot of the source, exactly like a file: the records become a CSV
with the source's own columns and go through the file import's `snapshot_import` (the same
row validation, the same commit guard, the same snapshot tables, the same audit). Every
record is either accepted or rejected with its reasons (accepted + rejected = records).
"""

import csv
import tempfile
from typing import Any

from django.conf import settings
from django.http import Http404
from ninja import Field, Router, Schema, Status

from ejia.accounts.policies import ApiScope, api_source_allowed
from ejia.api.auth import client_auth
from ejia.api.errors import ApiError, Error
from ejia.api.idempotency import IDEMPOTENCY_DOC, idempotent
from ejia.verification.files import FileRefused
from ejia.verification.models import DataSource
from ejia.verification.services import CommitRefused, ExchangeError, snapshot_import

router = Router(tags=["部门数据交换"], auth=client_auth(ApiScope.EXCHANGE_PUSH))

MAX_RECORDS = 20_000


class RecordsIn(Schema):
    records: list[dict[str, Any]] = Field(
        ...,
        min_length=1,
        max_length=MAX_RECORDS,
        description="该数据源的全部记录（一份完整快照）；键为数据源的列名（与交换文件表头相同）或字段名，值为文本或数字",
    )
    override_reason: str = Field("", max_length=300, description="记录数明显少于上一份快照时，说明原因方可入库")


class RejectedOut(Schema):
    index: int = Field(..., description="records 中的序号（从 0 起）")
    reasons: list[str]


class PushOut(Schema):
    snapshot_id: str
    source: str
    status: str
    rows: int
    accepted: int
    rejected: int
    rejected_rows: list[RejectedOut]


def _cell(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, dict, list)):
        raise ApiError(422, "invalid_request", "记录的值应为文本或数字。", field=where)
    return str(value)


def _write_csv(handle, source: DataSource, records: list[dict[str, Any]]) -> None:
    """The records as the department's export file would be: a header of column names."""
    by_field = {c["field"]: c["header"] for c in source.columns}
    known = {c["header"] for c in source.columns} | {a for c in source.columns for a in c.get("aliases", [])}
    header: list[str] = []
    rows = []
    for i, record in enumerate(records):
        row = {}
        for key, value in record.items():
            name = by_field.get(key, key)
            if name not in known:
                raise ApiError(
                    422, "invalid_request", f"数据源“{source.name}”没有“{key}”这一列。", field=f"body.records.{i}.{key}"
                )
            if name not in row and name not in header:
                header.append(name)
            row[name] = _cell(value, f"body.records.{i}.{key}")
        if not any(cell.strip() for cell in row.values()):
            raise ApiError(422, "invalid_request", f"第 {i + 1} 条记录是空的。", field=f"body.records.{i}")
        rows.append(row)
    writer = csv.writer(handle)
    writer.writerow(header)
    for row in rows:
        writer.writerow([row.get(name, "") for name in header])
    handle.flush()


@router.post(
    "/{source}/records",
    response={201: PushOut, 400: Error, 401: Error, 403: Error, 404: Error, 409: Error, 422: Error, 429: Error},
    openapi_extra=IDEMPOTENCY_DOC,
    summary="推送某数据源的全部记录（一份快照）",
)
@idempotent
def records_push(request, source: str, payload: RecordsIn):
    principal = request.auth
    found = DataSource.objects.filter(code=source[:40]).first()
    if found is None:
        raise Http404(f"没有数据源“{source[:40]}”。")
    if not api_source_allowed(principal, found.code):
        raise ApiError(403, "forbidden", f"接入系统“{principal.client_name}”未获授权推送“{found.name}”的数据。")
    if not found.offline_enabled:
        raise ApiError(409, "source_closed", f"数据源“{found.name}”当前不接收批量数据。")
    spool = settings.VAR_DIR / "exchange-api"
    spool.mkdir(parents=True, exist_ok=True)
    # A private file (0600) removed as soon as the import has read it.
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", newline="", suffix=".csv", dir=spool) as handle:
        _write_csv(handle, found, payload.records)
        try:
            snapshot = snapshot_import(
                actor=principal.user,
                source=found,
                path=handle.name,
                file_name=f"api:{principal.client.client_id}",
                override_reason=payload.override_reason,
            )
        except FileRefused as exc:
            raise ApiError(422, "records_refused", exc.message, field="body.records") from None
        except CommitRefused as exc:
            raise ApiError(409, "commit_refused", exc.message, field="body.override_reason") from None
        except ExchangeError as exc:
            raise ApiError(409, "exchange_refused", str(exc)) from None
    rejected = [
        {"index": row.row_number - 2, "reasons": [str(r) for r in row.reasons]}
        for row in snapshot.rejected_rows.order_by("row_number")
    ]
    return Status(
        201,
        {
            "snapshot_id": str(snapshot.public_id),
            "source": found.code,
            "status": snapshot.status,
            "rows": snapshot.rows_total,
            "accepted": snapshot.rows_accepted,
            "rejected": snapshot.rows_rejected,
            "rejected_rows": rejected,
        },
    )
