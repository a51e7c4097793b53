"""File storage that keeps uploads sealed at rest.

Uploaded files here are personal data of the most sensitive kind: signed authorisations,
photos of paper forms and ID cards, home-visit photos of people's homes. The default storage
writes each file sealed (`ejia.core.crypto.SealedWriter`, AES-GCM under the field keys, bound
to the file's storage name so that one file cannot be passed off as another) and decrypts it
when it is opened; on disk, and in any backup of the media directory, there is only ciphertext.
Files are served only through views that check the user's scope, never by URL.

A file written before sealing was switched on is read as it is (`crypto.is_sealed` tells);
`media_seal` (command `ejia_media_seal`) seals such files in place.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage

from ejia.core import crypto

PURPOSE_PREFIX = "media:"


def _purpose(name: str) -> str:
    return PURPOSE_PREFIX + name.replace("\\", "/")


def _seal(plain: bytes, name: str) -> bytes:
    out = io.BytesIO()
    writer = crypto.SealedWriter(out, purpose=_purpose(name))
    writer.write(plain)
    writer.close()
    return out.getvalue()


class SealedFileSystemStorage(FileSystemStorage):
    def _save(self, name, content):
        if hasattr(content, "seek"):
            content.seek(0)
        plain = b"".join(content.chunks())  # uploads are images of at most 5 MB
        saved = super()._save(name, ContentFile(_seal(plain, name)))
        if saved != name:
            # The name was taken between get_available_name() and the write, and the parent
            # class picked another one: bind the ciphertext to the name it was stored under.
            with open(self.path(saved), "wb") as fh:
                fh.write(_seal(plain, saved))
        return saved

    def _open(self, name, mode="rb"):
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("sealed files are written through save(), not opened for writing")
        with super()._open(name, "rb") as raw:
            head = raw.read(len(crypto.SEALED_MAGIC))
            raw.seek(0)
            if head != crypto.SEALED_MAGIC:
                return File(io.BytesIO(raw.read()), name=name)  # written before sealing
            plain = b"".join(crypto.sealed_chunks(raw, purpose=_purpose(name)))
        return File(io.BytesIO(plain), name=name)

    def url(self, name):
        raise ValueError("uploaded files are served only through views that check the user's scope")


def media_seal(storage: SealedFileSystemStorage, *, dry_run: bool = False) -> tuple[int, int]:
    """Seal, in place, every file under the storage's root that is still plaintext. Each file is
    written sealed to a private temporary file beside it and renamed over it, so a crash leaves
    either the old or the new file, never half of one. Returns (sealed now, already sealed)."""
    root = Path(storage.location)
    sealed = already = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".seal-")):
        if crypto.is_sealed(path):
            already += 1
            continue
        sealed += 1
        if dry_run:
            continue
        name = path.relative_to(root).as_posix()
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".seal-")
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                writer = crypto.SealedWriter(out, purpose=_purpose(name))
                while chunk := src.read(1024 * 1024):
                    writer.write(chunk)
                writer.close()
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return sealed, already
