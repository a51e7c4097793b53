"""Large department files are analysed and committed by the task worker, not in the web
request: the page says what is happening and refreshes itself; a second click queues nothing;
a refusal found deep in the file, or a commit that cannot be done, is shown with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from ejia.verification.models import RejectedRow, SourceRecord, SourceSnapshot
from ejia.verification.services import snapshot_analyse, snapshot_commit_request, staging_dir
from ejia.verification.tasks import analyse_snapshot, commit_snapshot

from .test_views import ROWS, upload


@pytest.fixture
def queued(settings):
    """Tasks are queued, not run: the test plays the worker."""
    from django_tasks import task_backends

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    backend = task_backends["default"]
    backend.clear()
    return backend


def _run(backend, task) -> None:
    for result in list(backend.results):
        if result.task.name == task.name:
            task.call(*result.args, **result.kwargs)
    backend.clear()


def test_upload_is_analysed_in_the_background_and_committed_once(
    client, sources, olga, tmp_path, queued, django_capture_on_commit_callbacks
):
    client.force_login(olga)
    response = upload(client, tmp_path)
    snapshot = SourceSnapshot.objects.get()
    assert snapshot.status == SourceSnapshot.Status.ANALYSING
    # While it waits, the file is sealed on disk: no ID number, no name in plaintext.
    staged = Path(snapshot.staged_path).read_bytes()
    assert ROWS[0][1].encode() not in staged and "张三".encode() not in staged
    assert ROWS[0][1].encode("gbk") not in staged
    page = client.get(response["Location"]).content.decode()
    assert "正在逐行校验文件" in page and 'hx-trigger="every 2s"' in page
    assert [r.task.name for r in queued.results] == [analyse_snapshot.name]

    _run(queued, analyse_snapshot)
    snapshot.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.PREVIEW
    assert (snapshot.rows_accepted, snapshot.rows_rejected) == (1, 1)
    page = client.get(response["Location"]).content.decode()
    assert "确认入库" in page and 'hx-trigger="every 2s"' not in page

    commit = reverse("verification:commit", args=[snapshot.public_id])
    client.post(commit)
    client.post(commit)  # a double click queues nothing more
    assert [r.task.name for r in queued.results] == [commit_snapshot.name]
    snapshot.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.COMMITTING
    assert "正在写入数据" in client.get(response["Location"]).content.decode()
    assert not SourceRecord.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        _run(queued, commit_snapshot)
    snapshot.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.COMMITTED and snapshot.committed_by == olga
    # Reading it left no plaintext copy behind, and the sealed file went with the commit.
    assert list(staging_dir().iterdir()) == []
    assert SourceRecord.objects.filter(snapshot=snapshot).count() == 1
    page = client.get(response["Location"]).content.decode()
    assert "已入库：本文件是" in page and "正在写入数据" not in page and 'hx-trigger="every 2s"' not in page


def test_a_refusal_found_while_reading_the_rows_is_shown_and_nothing_is_kept(client, sources, olga, tmp_path, queued):
    # UTF-8 for the first megabytes (what the upload checks sample), then a GBK row deep down.
    from django.core.files.uploadedfile import SimpleUploadedFile

    from .test_views import HEADER, ROWS

    good = ",".join(ROWS[0]) + "\n"
    body = (",".join(HEADER) + "\n" + good * 20_000).encode("utf-8") + ",".join(ROWS[0]).encode("gbk") + b"\n"
    client.force_login(olga)
    response = client.post(
        reverse("verification:upload", args=["cl_disability"]),
        {"file": SimpleUploadedFile("残联.csv", body, content_type="text/csv")},
    )
    assert response.status_code == 302, response.content.decode()[:500]
    snapshot = SourceSnapshot.objects.get()
    staged = Path(snapshot.staged_path)
    _run(queued, analyse_snapshot)
    snapshot.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.REFUSED and "无法按 UTF-8 解码" in snapshot.error
    assert not RejectedRow.objects.exists() and snapshot.staged_path == "" and not staged.exists()
    page = client.get(response["Location"]).content.decode()
    assert "文件被拒绝" in page and snapshot.error in page and "确认入库" not in page
    assert snapshot_analyse(snapshot_id=snapshot.pk).status == SourceSnapshot.Status.REFUSED  # a rerun: no-op


def test_a_commit_that_cannot_be_done_goes_back_to_preview_with_the_reason(client, sources, olga, tmp_path, queued):
    client.force_login(olga)
    response = upload(client, tmp_path)
    _run(queued, analyse_snapshot)
    snapshot = SourceSnapshot.objects.get()
    with open(snapshot.staged_path, "ab") as fh:
        fh.write(b"tampered\n")
    snapshot_commit_request(actor=olga, snapshot_id=snapshot.pk)
    _run(queued, commit_snapshot)
    snapshot.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.PREVIEW
    assert "已被改动" in snapshot.error
    assert "入库未完成" in client.get(response["Location"]).content.decode()
    assert not SourceRecord.objects.exists()
