"""Offline exchange: stage a department file, preview it, commit it as the source's snapshot.

- `upload_stage` streams an upload to the staging area, size-capped and sealed (encrypted at
  rest: a department file is full of plaintext ID numbers); `staged_plaintext` opens it for
  reading as a file without a name, which disappears when it is closed or the process dies;
- `snapshot_preview` parses the whole file, keeps every refused row with its reasons and the
  counts, and stores nothing else: the operator sees exactly what a commit would do;
- `snapshot_commit` re-reads the staged file (its hash must not have changed), bulk-inserts the
  accepted rows, supersedes the previous snapshot, all in one transaction; a second click on
  the same preview finds it committed and does nothing;
- `snapshot_import` does both in one pass for the CLI and benchmarks.
Refused files (FileRefused) are audited and leave nothing behind.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from ejia.core import crypto
from ejia.core.audit import audit_record
from ejia.dashboards.tasks import enqueue_current_after_commit
from ejia.verification import fastpath
from ejia.verification.files import FileRefused, check_size, open_table, scratch_file, staging_dir, write_all
from ejia.verification.guard import CommitVerdict, Verdict, commit_verdict
from ejia.verification.models import DataSource, RejectedRow, SourceRecord, SourceSnapshot
from ejia.verification.validation import RowValidator

BATCH = 5000
PREVIEW_ERRORS = 200


class ExchangeError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CommitRefused(ExchangeError):
    """The commit guard refused the file (see guard.py); nothing was written."""

    def __init__(self, verdict: CommitVerdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def _commit_refused(*, actor, snapshot: SourceSnapshot, verdict: CommitVerdict) -> None:
    audit_record(
        actor=actor,
        action="exchange.commit_refused",
        obj=snapshot.source,
        reason=verdict.message,
        data={"file_name": snapshot.file_name, "sha256": snapshot.sha256, **verdict.audit_data()},
    )


def _commit_override(*, actor, snapshot: SourceSnapshot, verdict: CommitVerdict) -> None:
    if verdict.code == Verdict.OVERRIDE:
        audit_record(
            actor=actor,
            action="exchange.commit_override",
            obj=snapshot,
            reason=snapshot.override_reason,
            data={"source": snapshot.source.code, **verdict.audit_data()},
        )


@dataclass
class IngestResult:
    file_format: str = ""
    encoding: str = ""
    total: int = 0
    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


STAGED_PURPOSE = "exchange.staged_file"
STAGED_GONE = "待校验的文件已不存在或已被改动，请重新上传。"


def upload_stage(*, chunks: Iterable[bytes], max_bytes: int | None = None) -> Path:
    """Write an upload to a private staging file, sealed (AES-GCM, the field keys), refusing it
    as soon as it passes the cap. Nothing of the plaintext is written to disk."""
    from ejia.verification.files import limit

    cap = max_bytes or limit("MAX_FILE_BYTES")
    path = staging_dir() / f"{uuid.uuid4().hex}.upload"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            sealed = crypto.SealedWriter(out, purpose=STAGED_PURPOSE)
            for chunk in chunks:
                if sealed.size + len(chunk) > cap:
                    raise FileRefused(
                        f"文件过大，超过上限 {cap / 1048576:.0f} MB。请拆分后分批导入。", code="too_large"
                    )
                sealed.write(chunk)
            sealed.close()
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


@contextmanager
def staged_plaintext(path: Path) -> Iterator[tuple[Path, str]]:
    """Open a sealed staged file for reading: yields (a path to read the plaintext from, the
    plaintext's SHA-256). A missing, cut off or altered file is refused with STAGED_GONE."""
    fd, name, named = scratch_file(staging_dir())
    try:
        digest = hashlib.sha256()
        try:
            with open(path, "rb") as src:
                for plain in crypto.sealed_chunks(src, purpose=STAGED_PURPOSE):
                    digest.update(plain)
                    write_all(fd, plain)
        except (FileNotFoundError, crypto.DecryptionError):
            raise FileRefused(STAGED_GONE, code="staged_missing") from None
        yield Path(name), digest.hexdigest()
    finally:
        os.close(fd)
        if named:
            Path(name).unlink(missing_ok=True)


def _file_chunks(path: Path, size: int = 1024 * 1024) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while chunk := fh.read(size):
            yield chunk


class RecordWriter:
    """Set-based insert of (snapshot_id, row_number, person_index, id_ciphertext, data_json):
    COPY on PostgreSQL, executemany on SQLite — the ORM's per-object cost is the bottleneck at
    a million rows. Batches are written by one helper thread on the request's own connection
    (so inside its transaction) while the next batch is validated: the database driver
    releases the GIL while it works. At most one batch is in flight."""

    def __init__(self) -> None:
        connection.ensure_connection()
        self._raw = connection.connection
        self._vendor = connection.vendor
        qn = connection.ops.quote_name
        table = qn(SourceRecord._meta.db_table)
        cols = ", ".join(qn(c) for c in ("snapshot_id", "row_number", "person_index", "id_ciphertext", "data"))
        if self._vendor == "postgresql":
            self._sql = f"COPY {table} ({cols}) FROM STDIN"
        else:
            self._sql = f"INSERT INTO {table} ({cols}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="record-writer")
        self._pending: Future | None = None

    def _write(self, rows: list[tuple]) -> None:
        if self._vendor == "postgresql":
            with self._raw.cursor() as cursor, cursor.copy(self._sql) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            # Inserting in index order keeps the person_index B-tree writes local.
            rows.sort(key=lambda r: r[2])
            self._raw.executemany(self._sql, rows)

    def write(self, rows: list[tuple]) -> None:
        if not rows:
            return
        self.wait()
        self._pending = self._pool.submit(self._write, rows)

    def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


def _ingest(
    *,
    source: DataSource,
    path: Path,
    snapshot: SourceSnapshot | None,
    keep_records: bool,
    keep_rejected: bool,
    max_bytes: int | None = None,
) -> IngestResult:
    table = open_table(path, max_bytes=max_bytes)
    validator = RowValidator.for_header(source.columns, table.header)
    result = IngestResult(
        file_format=table.file_format,
        encoding=table.encoding,
        ignored_columns=validator.ignored,
        header=table.header,
        notes=list(table.notes),
    )
    snapshot_id = snapshot.pk if snapshot else None
    rejected: list[RejectedRow] = []

    writer = RecordWriter() if keep_records else None

    def keep_records_batch(rows: list[tuple]) -> None:
        if writer:
            writer.write([(snapshot_id, *row) for row in rows])

    def keep_rejected_row(number: int, cells: list[str], reasons: list[str]) -> None:
        if keep_rejected:
            rejected.append(
                RejectedRow(
                    snapshot_id=snapshot_id, row_number=number, cells=validator.masked_cells(cells), reasons=reasons
                )
            )
            if len(rejected) >= 1000:
                flush_rejected()

    def flush_rejected() -> None:
        if writer:
            writer.wait()  # the connection is the writer's until its batch is done
        if rejected:
            RejectedRow.objects.bulk_create(rejected)
            rejected.clear()

    try:
        return _ingest_rows(
            source=source,
            path=path,
            table=table,
            validator=validator,
            result=result,
            snapshot_id=snapshot_id,
            keep_records=keep_records,
            keep_records_batch=keep_records_batch,
            keep_rejected_row=keep_rejected_row,
            flush_rejected=flush_rejected,
            writer=writer,
            max_bytes=max_bytes,
        )
    finally:
        if writer:
            writer.close()


def _ingest_rows(
    *,
    source,
    path,
    table,
    validator,
    result,
    snapshot_id,
    keep_records,
    keep_records_batch,
    keep_rejected_row,
    flush_rejected,
    writer,
    max_bytes,
) -> IngestResult:
    if table.file_format == "csv":
        table.rows.close()
        if keep_records and connection.vendor == "sqlite":
            # A page cache large enough for the person_index B-tree keeps a million-row load
            # from spilling pages to the WAL over and over (per connection; reset below).
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA cache_size = -131072")
        try:
            result.accepted, result.rejected, result.blank = fastpath.ingest_csv(
                path=path,
                encoding=table.encoding,
                validator=validator,
                on_records=keep_records_batch,
                on_rejected=keep_rejected_row,
            )
        except fastpath.Unsupported:
            flush_rejected()  # then discarded with everything else written so far
            if snapshot_id:
                SourceRecord.objects.filter(snapshot_id=snapshot_id).delete()
                RejectedRow.objects.filter(snapshot_id=snapshot_id).delete()
            result.accepted = result.rejected = result.blank = 0
            table = open_table(path, max_bytes=max_bytes)
        else:
            result.total = result.accepted + result.rejected
            flush_rejected()
            return result
        finally:
            if writer:
                writer.wait()
            if keep_records and connection.vendor == "sqlite":
                with connection.cursor() as cursor:
                    cursor.execute("PRAGMA cache_size = -2000")
    records: list[tuple] = []
    for number, cells in table.rows:
        if not any(c.strip() for c in cells):
            result.blank += 1
            continue
        row, reasons = validator.validate(cells)
        if row is not None:
            result.accepted += 1
            records.append((number, *row))
            if len(records) >= BATCH:
                keep_records_batch(records)
                records.clear()
        else:
            result.rejected += 1
            keep_rejected_row(number, cells, reasons)
    keep_records_batch(records)
    flush_rejected()
    result.total = result.accepted + result.rejected
    return result


def _refused(*, actor, source: DataSource, file_name: str, exc: FileRefused) -> None:
    audit_record(
        actor=actor,
        action="exchange.file_refused",
        obj=source,
        reason=exc.message,
        data={"file_name": file_name, "code": exc.code},
    )


def _apply_counts(snapshot: SourceSnapshot, result: IngestResult) -> None:
    snapshot.file_format = result.file_format
    snapshot.encoding = result.encoding
    snapshot.rows_total = result.total
    snapshot.rows_accepted = result.accepted
    snapshot.rows_rejected = result.rejected
    snapshot.rows_blank = result.blank
    snapshot.ignored_columns = result.ignored_columns
    snapshot.file_header = result.header


def snapshot_stage(*, actor, source: DataSource, path: Path, file_name: str) -> SourceSnapshot:
    """Record an uploaded file (sealed by `upload_stage`) for analysis after the cheap checks:
    size, format, the hostile structures of XLSX, encoding, headers. A file refused here leaves
    nothing behind (only the audit event); the row-by-row analysis is `snapshot_analyse`, run in
    the background."""
    path = Path(path)
    try:
        with staged_plaintext(path) as (plain, digest):
            size = check_size(plain)
            table = open_table(plain)
            try:
                RowValidator.for_header(source.columns, table.header)
            finally:
                close = getattr(table.rows, "close", None)
                if close:
                    close()
    except FileRefused as exc:
        _refused(actor=actor, source=source, file_name=file_name, exc=exc)
        path.unlink(missing_ok=True)
        raise
    with transaction.atomic():
        snapshot = SourceSnapshot.objects.create(
            source=source,
            created_by=actor,
            status=SourceSnapshot.Status.ANALYSING,
            file_name=file_name[:200],
            file_format=table.file_format,
            encoding=table.encoding,
            file_size=size,
            sha256=digest,
            staged_path=str(path),
        )
        audit_record(
            actor=actor,
            action="exchange.upload",
            obj=snapshot,
            data={"source": source.code, "file_name": file_name, "sha256": digest, "size": size},
        )
    return snapshot


def snapshot_analyse(*, snapshot_id: int) -> SourceSnapshot:
    """Parse a staged file and record the preview (counts + refused rows); a file refused on the
    way (a huge row, a broken sheet) is marked refused with the reason, and nothing of it is kept.
    Running it twice does nothing the second time."""
    snapshot = SourceSnapshot.objects.select_related("source", "created_by").get(pk=snapshot_id)
    if snapshot.status != SourceSnapshot.Status.ANALYSING:
        return snapshot
    path = Path(snapshot.staged_path)
    try:
        with transaction.atomic():
            snapshot = SourceSnapshot.objects.select_for_update().select_related("source").get(pk=snapshot_id)
            if snapshot.status != SourceSnapshot.Status.ANALYSING:
                return snapshot
            with staged_plaintext(path) as (plain, digest):
                if digest != snapshot.sha256:
                    raise FileRefused(STAGED_GONE, code="staged_missing")
                result = _ingest(
                    source=snapshot.source, path=plain, snapshot=snapshot, keep_records=False, keep_rejected=True
                )
            _apply_counts(snapshot, result)
            snapshot.status = SourceSnapshot.Status.PREVIEW
            snapshot.save()
            audit_record(
                actor=snapshot.created_by,
                action="exchange.preview",
                obj=snapshot,
                data={
                    "source": snapshot.source.code,
                    "file_name": snapshot.file_name,
                    "sha256": snapshot.sha256,
                    "rows_total": result.total,
                    "rows_accepted": result.accepted,
                    "rows_rejected": result.rejected,
                },
            )
    except FileRefused as exc:
        with transaction.atomic():
            SourceSnapshot.objects.filter(pk=snapshot_id).update(
                status=SourceSnapshot.Status.REFUSED, error=exc.message[:300], staged_path="", updated_at=timezone.now()
            )
            _refused(actor=snapshot.created_by, source=snapshot.source, file_name=snapshot.file_name, exc=exc)
            _announce_refusal()
        path.unlink(missing_ok=True)
    snapshot.refresh_from_db()
    return snapshot


def snapshot_preview(*, actor, source: DataSource, path: Path, file_name: str) -> SourceSnapshot:
    """Stage and analyse in one go (CLI, tests). Raises FileRefused, leaving nothing behind.
    A file that is not staged yet is sealed into the staging area first; it is left alone."""
    path = Path(path)
    if not crypto.is_sealed(path):
        path = upload_stage(chunks=_file_chunks(path))
    snapshot = snapshot_stage(actor=actor, source=source, path=path, file_name=file_name)
    snapshot = snapshot_analyse(snapshot_id=snapshot.pk)
    if snapshot.status == SourceSnapshot.Status.REFUSED:
        message = snapshot.error
        snapshot.delete()
        raise FileRefused(message, code="refused")
    return snapshot


def snapshot_commit_request(*, actor, snapshot_id: int, override_reason: str = "") -> SourceSnapshot:
    """The operator confirms a preview: mark it as being committed and queue the commit. A second
    click finds it already committing (or committed) and queues nothing. A file the commit guard
    refuses (no accepted row; too few without a reason) stays a preview with the reason shown."""
    override_reason = (override_reason or "").strip()[:300]
    with transaction.atomic():
        snapshot = SourceSnapshot.objects.select_for_update().select_related("source").get(pk=snapshot_id)
        if snapshot.status != SourceSnapshot.Status.PREVIEW:
            return snapshot
        verdict = commit_verdict(
            source=snapshot.source,
            rows_accepted=snapshot.rows_accepted,
            rows_total=snapshot.rows_total,
            override_reason=override_reason,
        )
        if not verdict.allowed:
            snapshot.error = verdict.message[:300]
            snapshot.save(update_fields=["error", "updated_at"])
            _commit_refused(actor=actor, snapshot=snapshot, verdict=verdict)
            return snapshot
        snapshot.status = SourceSnapshot.Status.COMMITTING
        snapshot.committed_by = actor
        snapshot.error = ""
        snapshot.override_reason = override_reason if verdict.needs_reason else ""
        snapshot.save(update_fields=["status", "committed_by", "error", "override_reason", "updated_at"])
        audit_record(
            actor=actor,
            action="exchange.commit_request",
            obj=snapshot,
            data={"source": snapshot.source.code, "rows_accepted": snapshot.rows_accepted},
        )
    from ejia.verification.tasks import commit_snapshot

    commit_snapshot.enqueue(snapshot.pk)
    return snapshot


def snapshot_commit_failed(*, snapshot_id: int, message: str) -> None:
    """A queued commit could not be done: back to preview with the reason, nothing written."""
    with transaction.atomic():
        SourceSnapshot.objects.filter(pk=snapshot_id, status=SourceSnapshot.Status.COMMITTING).update(
            status=SourceSnapshot.Status.PREVIEW, error=message[:300], updated_at=timezone.now()
        )


def _supersede_and_commit(*, actor, snapshot: SourceSnapshot) -> None:
    SourceSnapshot.objects.filter(source_id=snapshot.source_id, status=SourceSnapshot.Status.COMMITTED).exclude(
        pk=snapshot.pk
    ).update(status=SourceSnapshot.Status.SUPERSEDED, updated_at=timezone.now())
    snapshot.status = SourceSnapshot.Status.COMMITTED
    snapshot.committed_by = actor
    snapshot.committed_at = timezone.now()


def snapshot_commit(*, actor, snapshot_id: int) -> SourceSnapshot:
    """Commit a previewed file. Idempotent: committing an already committed preview is a no-op."""
    with transaction.atomic():
        snapshot = SourceSnapshot.objects.select_for_update().select_related("source").get(pk=snapshot_id)
        if snapshot.status not in (SourceSnapshot.Status.PREVIEW, SourceSnapshot.Status.COMMITTING):
            return snapshot
        source = DataSource.objects.select_for_update().get(pk=snapshot.source_id)
        # Again under the source's lock: another file may have been committed since the click.
        verdict = commit_verdict(
            source=source,
            rows_accepted=snapshot.rows_accepted,
            rows_total=snapshot.rows_total,
            override_reason=snapshot.override_reason,
            excluding=snapshot.pk,
        )
        if not verdict.allowed:
            snapshot.status = SourceSnapshot.Status.PREVIEW
            snapshot.error = verdict.message[:300]
            snapshot.save(update_fields=["status", "error", "updated_at"])
            _commit_refused(actor=actor, snapshot=snapshot, verdict=verdict)
            return snapshot
        path = Path(snapshot.staged_path)
        try:
            with staged_plaintext(path) as (plain, digest):
                if digest != snapshot.sha256:
                    raise FileRefused(STAGED_GONE, code="staged_missing")
                result = _ingest(source=source, path=plain, snapshot=snapshot, keep_records=True, keep_rejected=False)
        except FileRefused as exc:
            if exc.code == "staged_missing":
                raise ExchangeError("待入库的文件已不存在或已被改动，请重新上传。") from None
            raise
        if (result.accepted, result.rejected) != (snapshot.rows_accepted, snapshot.rows_rejected):
            raise ExchangeError("入库时的校验结果与预览不一致（数据源格式可能已变更），请重新上传。")
        _supersede_and_commit(actor=actor, snapshot=snapshot)
        snapshot.staged_path = ""
        snapshot.error = ""
        snapshot.save(update_fields=["status", "committed_by", "committed_at", "staged_path", "error", "updated_at"])
        audit_record(
            actor=actor,
            action="exchange.commit",
            obj=snapshot,
            data={
                "source": source.code,
                "rows_accepted": snapshot.rows_accepted,
                "rows_rejected": snapshot.rows_rejected,
            },
        )
        _commit_override(actor=actor, snapshot=snapshot, verdict=verdict)
        transaction.on_commit(lambda: path.unlink(missing_ok=True))
        _announce_commit(snapshot.pk)
    return snapshot


def _announce_commit(snapshot_id: int) -> None:
    from ejia.verification.signals import snapshot_committed

    transaction.on_commit(lambda: snapshot_committed.send_robust(sender=SourceSnapshot, snapshot_id=snapshot_id))
    enqueue_current_after_commit(trigger="import_commit", parts=["data"])


def _announce_refusal() -> None:
    enqueue_current_after_commit(trigger="import_refused", parts=["data"])


def snapshot_import(
    *,
    actor,
    source: DataSource,
    path: Path,
    file_name: str = "",
    max_bytes: int | None = None,
    override_reason: str = "",
) -> SourceSnapshot:
    """Validate and commit a file in one pass (CLI, automation, benchmarks). Raises FileRefused,
    or CommitRefused when the commit guard refuses it (nothing kept, the current snapshot stays)."""
    path = Path(path)
    file_name = file_name or path.name
    override_reason = (override_reason or "").strip()[:300]
    try:
        size = check_size(path, max_bytes=max_bytes)
        digest = file_sha256(path)
        with transaction.atomic():
            DataSource.objects.select_for_update().get(pk=source.pk)
            snapshot = SourceSnapshot.objects.create(
                source=source,
                created_by=actor,
                file_name=file_name[:200],
                file_format="csv",
                file_size=size,
                sha256=digest,
            )
            result = _ingest(
                source=source, path=path, snapshot=snapshot, keep_records=True, keep_rejected=True, max_bytes=max_bytes
            )
            _apply_counts(snapshot, result)
            verdict = commit_verdict(
                source=source,
                rows_accepted=result.accepted,
                rows_total=result.total,
                override_reason=override_reason,
                excluding=snapshot.pk,
            )
            if not verdict.allowed:
                raise CommitRefused(verdict)
            snapshot.override_reason = override_reason if verdict.needs_reason else ""
            _supersede_and_commit(actor=actor, snapshot=snapshot)
            snapshot.save()
            _announce_commit(snapshot.pk)
            audit_record(
                actor=actor,
                action="exchange.import",
                obj=snapshot,
                data={
                    "source": source.code,
                    "file_name": file_name,
                    "sha256": digest,
                    "rows_accepted": result.accepted,
                    "rows_rejected": result.rejected,
                },
            )
            _commit_override(actor=actor, snapshot=snapshot, verdict=verdict)
    except FileRefused as exc:
        _refused(actor=actor, source=source, file_name=file_name, exc=exc)
        raise
    except CommitRefused as exc:
        with transaction.atomic():
            audit_record(
                actor=actor,
                action="exchange.commit_refused",
                obj=source,
                reason=exc.message,
                data={"file_name": file_name, "sha256": digest, **exc.verdict.audit_data()},
            )
        raise
    return snapshot


def data_summary(snapshot: SourceSnapshot) -> dict:
    """Counts for the snapshot page, without touching the records' contents."""
    return {
        "rows_total": snapshot.rows_total,
        "rows_accepted": snapshot.rows_accepted,
        "rows_rejected": snapshot.rows_rejected,
        "rows_blank": snapshot.rows_blank,
    }


def records_for(*, source: DataSource, person_index: str) -> list[dict]:
    """Typed records of one person in the source's committed snapshot (for the simulator and checks)."""
    rows = SourceRecord.objects.filter(
        snapshot__source=source, snapshot__status=SourceSnapshot.Status.COMMITTED, person_index=person_index
    ).values_list("data", "snapshot__committed_at")
    return [{"data": data if isinstance(data, dict) else json.loads(data), "as_of": at} for data, at in rows]


def staging_sweep(*, actor=None, preview_days: int = 7, orphan_hours: int = 24) -> dict[str, int]:
    """Department files hold plaintext ID numbers while they wait in the staging area, so they
    must not wait forever: previews nobody confirmed within `preview_days` are discarded (file,
    refused rows and the preview itself; the audit trail keeps that they existed), and staged
    files no snapshot refers to (an upload cut off mid-way) are deleted after `orphan_hours`."""
    now = timezone.now()
    counts = {"previews": 0, "orphans": 0}
    stale = SourceSnapshot.objects.filter(
        status=SourceSnapshot.Status.PREVIEW, created_at__lt=now - dt.timedelta(days=preview_days)
    )
    for snapshot_id in list(stale.values_list("pk", flat=True)):
        with transaction.atomic():
            snapshot = (
                SourceSnapshot.objects.select_for_update()
                .select_related("source")
                .filter(pk=snapshot_id, status=SourceSnapshot.Status.PREVIEW)
                .first()
            )
            if snapshot is None:
                continue  # confirmed meanwhile
            path = Path(snapshot.staged_path) if snapshot.staged_path else None
            audit_record(
                actor=actor,
                action="exchange.preview_discarded",
                obj=snapshot.source,
                reason=f"预览超过 {preview_days} 天未确认入库，自动清除",
                data={"file_name": snapshot.file_name, "sha256": snapshot.sha256, "created": str(snapshot.created_at)},
            )
            RejectedRow.objects.filter(snapshot=snapshot).delete()
            snapshot.delete()
            if path is not None:
                transaction.on_commit(lambda p=path: p.unlink(missing_ok=True))
            counts["previews"] += 1
    referenced = set(SourceSnapshot.objects.exclude(staged_path="").values_list("staged_path", flat=True))
    cutoff = (now - dt.timedelta(hours=orphan_hours)).timestamp()
    # *.plain: scratch plaintext of a reader that died, where the filesystem has no O_TMPFILE.
    for path in [*staging_dir().glob("*.upload"), *staging_dir().glob("*.plain")]:
        if str(path) not in referenced and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            counts["orphans"] += 1
    return counts
