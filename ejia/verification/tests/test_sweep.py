"""Staged department files (plaintext ID numbers) do not wait forever."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path

from django.core.management import call_command
from django.utils import timezone

from ejia.core.models import AuditEvent
from ejia.verification.models import DataSource, RejectedRow, SourceSnapshot
from ejia.verification.services import snapshot_preview, staging_dir, staging_sweep, upload_stage

from .conftest import write_csv
from .test_views import HEADER, ROWS


def _preview(olga, tmp_path, name="cl.csv"):
    data = write_csv(tmp_path / name, HEADER, ROWS).read_bytes()
    path = upload_stage(chunks=[data])
    return snapshot_preview(actor=olga, source=DataSource.objects.get(code="cl_disability"), path=path, file_name=name)


def test_an_unconfirmed_preview_is_discarded_after_a_week_and_a_recent_one_is_kept(
    sources, olga, tmp_path, django_capture_on_commit_callbacks
):
    old = _preview(olga, tmp_path, "old.csv")
    recent = _preview(olga, tmp_path, "recent.csv")
    SourceSnapshot.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=8))
    assert RejectedRow.objects.filter(snapshot=old).exists()
    with django_capture_on_commit_callbacks(execute=True):  # the file goes once the discard commits
        counts = staging_sweep(preview_days=7)
    assert counts["previews"] == 1
    assert not SourceSnapshot.objects.filter(pk=old.pk).exists() and not Path(old.staged_path).exists()
    assert not RejectedRow.objects.filter(snapshot_id=old.pk).exists()
    assert Path(recent.staged_path).exists() and SourceSnapshot.objects.filter(pk=recent.pk).exists()
    event = AuditEvent.objects.get(action="exchange.preview_discarded")
    assert event.data["file_name"] == "old.csv"


def test_orphaned_uploads_are_deleted_and_the_command_reports(sources, olga, tmp_path, capsys):
    kept = _preview(olga, tmp_path)
    orphan = staging_dir() / "cut-off.upload"
    orphan.write_bytes(b"\xe5\xa7\x93\xe5\x90\x8d")
    past = time.time() - 2 * 86400
    os.utime(orphan, (past, past))
    os.utime(kept.staged_path, (past, past))  # old, but its preview is recent: kept
    fresh = staging_dir() / "still-uploading.upload"
    fresh.write_bytes(b"x")
    call_command("ejia_exchange_sweep")
    assert "1 orphaned uploads deleted" in capsys.readouterr().out
    assert not orphan.exists() and fresh.exists() and Path(kept.staged_path).exists()
