"""The commit guard: a file with no accepted row never replaces a source's data, and a file far
smaller than the current snapshot replaces it only with the operator's written reason."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from ejia.core.models import AuditEvent
from ejia.verification.models import DataSource, SourceRecord, SourceSnapshot
from ejia.verification.services import CommitRefused, snapshot_commit, snapshot_commit_request, snapshot_import

from .conftest import VALID_IDS, write_csv

HEADER = ["证件号码", "姓名", "事件类型", "事件日期", "登记机关"]


def rows(n: int, *, start: int = 0) -> list[list[str]]:
    return [[VALID_IDS[start + i], "张三", "死亡", "2025-01-01", "滨城区"] for i in range(n)]


def bad_rows(n: int) -> list[list[str]]:
    wrong = [v[:-1] + ("0" if v[-1] != "0" else "1") for v in VALID_IDS]  # a wrong check character
    return [[wrong[i], "张三", "死亡", "2025-01-01", "滨城区"] for i in range(n)]


@pytest.fixture
def civil(sources):
    return DataSource.objects.get(code="mz_civil")


@pytest.fixture
def current(civil, tmp_path):
    """The source's good data: 20 rows committed."""
    return snapshot_import(actor=None, source=civil, path=write_csv(tmp_path / "good.csv", HEADER, rows(20)))


def upload_preview(client, tmp_path, data_rows, name="new.csv") -> SourceSnapshot:
    data = write_csv(tmp_path / name, HEADER, data_rows).read_bytes()
    response = client.post(
        reverse("verification:upload", args=["mz_civil"]), {"file": SimpleUploadedFile(name, data, "text/csv")}
    )
    assert response.status_code == 302, response.content.decode()[:500]
    snapshot = SourceSnapshot.objects.get(file_name=name)
    assert snapshot.status == SourceSnapshot.Status.PREVIEW
    return snapshot


def test_an_all_rejected_file_is_refused_at_commit_and_the_data_is_kept(client, civil, current, olga, tmp_path):
    client.force_login(olga)
    snapshot = upload_preview(client, tmp_path, bad_rows(20))
    page = client.get(reverse("verification:snapshot", args=[snapshot.public_id])).content.decode()
    assert "没有一行通过校验" in page

    client.post(reverse("verification:commit", args=[snapshot.public_id]))
    client.post(reverse("verification:commit", args=[snapshot.public_id]))  # a second click changes nothing

    snapshot.refresh_from_db()
    current.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.PREVIEW
    assert "拒绝入库" in snapshot.error and "20 行" in snapshot.error
    assert current.status == SourceSnapshot.Status.COMMITTED
    assert SourceRecord.objects.filter(snapshot=current).count() == 20
    refused = AuditEvent.objects.filter(action="exchange.commit_refused")
    assert refused.count() == 2 and refused.first().actor == olga
    page = client.get(reverse("verification:snapshot", args=[snapshot.public_id])).content.decode()
    assert "入库未完成" in page and "拒绝入库" in page


def test_an_all_rejected_file_is_refused_even_for_an_empty_source(civil, tmp_path):
    with pytest.raises(CommitRefused, match="没有一行通过校验"):
        snapshot_import(actor=None, source=civil, path=write_csv(tmp_path / "bad.csv", HEADER, bad_rows(3)))
    assert not SourceSnapshot.objects.exists()
    assert AuditEvent.objects.filter(action="exchange.commit_refused").exists()


def test_a_file_with_only_a_header_is_refused_too(civil, current, tmp_path):
    with pytest.raises(CommitRefused):
        snapshot_import(actor=None, source=civil, path=write_csv(tmp_path / "empty.csv", HEADER, []))
    current.refresh_from_db()
    assert current.status == SourceSnapshot.Status.COMMITTED


def test_a_much_smaller_file_needs_a_reason_which_is_audited(client, civil, current, olga, tmp_path):
    client.force_login(olga)
    snapshot = upload_preview(client, tmp_path, rows(5))
    page = client.get(reverse("verification:snapshot", args=[snapshot.public_id])).content.decode()
    assert "25.0%" in page and "override_reason" in page

    client.post(reverse("verification:commit", args=[snapshot.public_id]), {"override_reason": " "})
    snapshot.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.PREVIEW and "低于 50%" in snapshot.error
    assert SourceRecord.objects.filter(snapshot=current).count() == 20

    reason = "民政局本月只移交了滨城区的登记"
    client.post(reverse("verification:commit", args=[snapshot.public_id]), {"override_reason": reason})
    snapshot.refresh_from_db()
    current.refresh_from_db()
    assert snapshot.status == SourceSnapshot.Status.COMMITTED and snapshot.override_reason == reason
    assert current.status == SourceSnapshot.Status.SUPERSEDED
    override = AuditEvent.objects.get(action="exchange.commit_override")
    assert override.reason == reason and override.actor == olga
    assert override.data["previous_rows"] == 20 and override.data["rows_accepted"] == 5
    page = client.get(reverse("verification:snapshot", args=[snapshot.public_id])).content.decode()
    assert reason in page


def test_a_file_at_or_above_the_share_needs_no_reason(civil, current, tmp_path, settings):
    snapshot = snapshot_import(actor=None, source=civil, path=write_csv(tmp_path / "half.csv", HEADER, rows(10)))
    assert snapshot.status == SourceSnapshot.Status.COMMITTED and snapshot.override_reason == ""
    settings.EJIA_EXCHANGE_MIN_SHARE_PERCENT = 80
    with pytest.raises(CommitRefused, match="低于 80%"):
        snapshot_import(actor=None, source=civil, path=write_csv(tmp_path / "seven.csv", HEADER, rows(7)))
    assert not AuditEvent.objects.filter(action="exchange.commit_override").exists()


def test_the_worker_checks_again_under_the_lock(civil, olga, tmp_path, settings):
    """Confirmed while the source was empty; a big file committed meanwhile; the worker refuses."""
    from ejia.verification.services import snapshot_preview

    small = snapshot_preview(
        actor=olga, source=civil, path=write_csv(tmp_path / "s.csv", HEADER, rows(2)), file_name="s.csv"
    )
    # The worker is late: the confirmed commit waits in the queue.
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []}}
    snapshot_commit_request(actor=olga, snapshot_id=small.pk)
    small.refresh_from_db()
    assert small.status == SourceSnapshot.Status.COMMITTING
    big = snapshot_import(actor=None, source=civil, path=write_csv(tmp_path / "big.csv", HEADER, rows(30)))

    snapshot_commit(actor=olga, snapshot_id=small.pk)
    small.refresh_from_db()
    big.refresh_from_db()
    assert small.status == SourceSnapshot.Status.PREVIEW and "低于 50%" in small.error
    assert big.status == SourceSnapshot.Status.COMMITTED
    assert AuditEvent.objects.filter(action="exchange.commit_refused", actor=olga).exists()


def test_the_cli_refuses_with_the_reason_and_takes_one_with_reason(civil, current, tmp_path, capsys):
    small = write_csv(tmp_path / "small.csv", HEADER, rows(3))
    with pytest.raises(CommandError, match="--reason"):
        call_command("ejia_import", "mz_civil", str(small))
    with pytest.raises(CommandError, match="没有一行通过校验"):
        call_command("ejia_import", "mz_civil", str(write_csv(tmp_path / "bad.csv", HEADER, bad_rows(4))))
    call_command("ejia_import", "mz_civil", str(small), "--reason", "试点区县单独交换")
    assert "accepted 3" in capsys.readouterr().out
    committed = SourceSnapshot.objects.get(source=civil, status=SourceSnapshot.Status.COMMITTED)
    assert committed.override_reason == "试点区县单独交换"
    assert AuditEvent.objects.filter(action="exchange.commit_override").count() == 1
