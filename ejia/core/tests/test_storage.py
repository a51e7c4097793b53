"""Uploads are sealed at rest: the media directory holds ciphertext bound to each file's name."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from ejia.core import crypto
from ejia.core.storage import SealedFileSystemStorage


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 10, 10)).save(out, "PNG")
    return out.getvalue()


def test_the_default_storage_seals_and_opens(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    assert isinstance(default_storage, SealedFileSystemStorage)
    raw = _png()
    name = default_storage.save("authorisations/t.png", ContentFile(raw))
    on_disk = (tmp_path / name).read_bytes()
    assert on_disk.startswith(crypto.SEALED_MAGIC) and b"PNG" not in on_disk and b"IHDR" not in on_disk
    with default_storage.open(name, "rb") as fh:
        assert fh.read() == raw
    with pytest.raises(ValueError):
        default_storage.url(name)  # never served by URL
    with pytest.raises(ValueError):
        default_storage.open(name, "wb")


def test_a_sealed_file_copied_under_another_name_does_not_open(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    storage = SealedFileSystemStorage(location=tmp_path)
    name = storage.save("home_visits/a.png", ContentFile(_png()))
    (tmp_path / "home_visits" / "b.png").write_bytes((tmp_path / name).read_bytes())
    with pytest.raises(crypto.DecryptionError):
        storage.open("home_visits/b.png")


def test_a_file_written_before_sealing_is_still_read(tmp_path):
    storage = SealedFileSystemStorage(location=tmp_path)
    (tmp_path / "old.png").write_bytes(_png())
    with storage.open("old.png") as fh:
        assert fh.read() == _png()


def test_the_command_seals_old_plaintext_files_in_place_once(settings, tmp_path, capsys):
    from django.core.management import call_command

    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "consents").mkdir()
    (tmp_path / "consents" / "old.png").write_bytes(_png())
    default_storage.save("home_visits/new.png", ContentFile(_png()))
    call_command("ejia_media_seal", "--dry-run")
    assert "would seal 1 files; 1 already sealed" in capsys.readouterr().out
    assert not crypto.is_sealed(tmp_path / "consents" / "old.png")
    call_command("ejia_media_seal")
    assert "sealed 1 files; 1 already sealed" in capsys.readouterr().out
    assert crypto.is_sealed(tmp_path / "consents" / "old.png")
    with default_storage.open("consents/old.png") as fh:
        assert fh.read() == _png()
    call_command("ejia_media_seal")
    assert "sealed 0 files; 2 already sealed" in capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["new.png", "old.png"]


def test_a_name_taken_at_the_last_moment_is_sealed_under_the_name_it_got(tmp_path, monkeypatch):
    storage = SealedFileSystemStorage(location=tmp_path)
    (tmp_path / "a.png").write_bytes(b"another process's file")
    real = storage.get_available_name
    answers = []

    def racy(name, max_length=None):
        # The first answer is stale: a.png appeared between the check and the write.
        answers.append(name)
        return name if len(answers) == 1 else real(name, max_length=max_length)

    monkeypatch.setattr(storage, "get_available_name", racy)
    name = storage.save("a.png", ContentFile(_png()))
    assert name != "a.png" and len(answers) == 2
    with storage.open(name) as fh:
        assert fh.read() == _png()
    assert (tmp_path / "a.png").read_bytes() == b"another process's file"
