"""Encryption of sensitive fields and blind indexes for exact lookup.

Ciphertext format (text): "<key id>:<base64(nonce ‖ AES-256-GCM ciphertext+tag)>". The key id
lets keys rotate: new values use settings.EJIA_FIELD_KEY_ID, old values name their key.
The associated data binds a ciphertext to its purpose (e.g. "person.id_number") so that a
value cannot be moved into another column and decrypt there.

Blind index: HMAC-SHA256 of the normalised value under a separate key, hex; exact lookups
and unique constraints use it, and it reveals nothing without the key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class DecryptionError(Exception):
    pass


@functools.cache
def _keys(spec: str) -> dict[str, bytes]:
    keys: dict[str, bytes] = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        key_id, _, b64 = item.partition(":")
        raw = base64.b64decode(b64)
        if len(raw) != 32:
            raise ImproperlyConfigured(f"Field key {key_id!r} must be 32 bytes (base64).")
        keys[key_id] = raw
    if not keys:
        raise ImproperlyConfigured("EJIA_FIELD_KEYS is empty.")
    return keys


def encrypt(plaintext: str, *, purpose: str) -> str:
    key_id = settings.EJIA_FIELD_KEY_ID
    key = _keys(settings.EJIA_FIELD_KEYS)[key_id]
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), purpose.encode("utf-8"))
    return f"{key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def decrypt(token: str, *, purpose: str) -> str:
    key_id, _, b64 = (token or "").partition(":")
    key = _keys(settings.EJIA_FIELD_KEYS).get(key_id)
    if key is None:
        raise DecryptionError(f"unknown key id {key_id!r}")
    try:
        raw = base64.b64decode(b64)
        return AESGCM(key).decrypt(raw[:12], raw[12:], purpose.encode("utf-8")).decode("utf-8")
    except Exception as exc:  # InvalidTag, binascii.Error
        raise DecryptionError("ciphertext does not decrypt") from exc


def key_id_of(token: str) -> str:
    return (token or "").partition(":")[0]


def blind_index(value: str, *, purpose: str = "id_number") -> str:
    key = settings.EJIA_BLIND_INDEX_KEY.encode("utf-8")
    msg = f"{purpose}\x00{value}".encode()
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


def seal_many(values: Sequence[str], *, purpose: str, index_purpose: str = "id_number") -> tuple[list[str], list[str]]:
    """Blind indexes and ciphertexts of many values at once (bulk imports).

    The output is exactly what blind_index() and encrypt() give per value; the keys are set
    up once and the HMAC state is copied rather than re-keyed for each value."""
    keyed = hmac.new(settings.EJIA_BLIND_INDEX_KEY.encode("utf-8"), digestmod=hashlib.sha256)
    key_id = settings.EJIA_FIELD_KEY_ID
    aes = AESGCM(_keys(settings.EJIA_FIELD_KEYS)[key_id])
    aad = purpose.encode("utf-8")
    prefix = f"{index_purpose}\x00".encode()
    nonces = os.urandom(12 * len(values))
    indexes: list[str] = []
    ciphertexts: list[str] = []
    for k, value in enumerate(values):
        raw = value.encode("utf-8")
        mac = keyed.copy()
        mac.update(prefix + raw)
        indexes.append(mac.hexdigest())
        nonce = nonces[12 * k : 12 * k + 12]
        ciphertexts.append(f"{key_id}:{base64.b64encode(nonce + aes.encrypt(nonce, raw, aad)).decode('ascii')}")
    return indexes, ciphertexts


# ---------------------------------------------------------------- sealed files
#
# A file encrypted at rest, written and read as a stream: MAGIC, the key id (1 length byte +
# ASCII), a random 16-byte file id, then frames of (4-byte big-endian length, 1 byte: last frame
# or not, 12-byte nonce, AES-256-GCM ciphertext + tag) holding at most FRAME plaintext bytes each. Each frame's
# associated data binds it to its purpose, its file, its position and whether it is the last
# one, so frames cannot be reordered, moved between files, dropped or cut off unnoticed.

SEALED_MAGIC = b"EJIASEAL1\n"
SEALED_FRAME = 1024 * 1024
_FRAME_LEN = 4


def is_sealed(path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(SEALED_MAGIC)) == SEALED_MAGIC


def _frame_aad(purpose: str, file_id: bytes, index: int, final: bool) -> bytes:
    return purpose.encode("utf-8") + b"\x00" + file_id + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")


class SealedWriter:
    """Write plaintext chunks to `fh` sealed; `close()` writes the final frame. The plaintext's
    size and SHA-256 are counted on the way (`size`, `sha256`)."""

    def __init__(self, fh, *, purpose: str) -> None:
        self._fh = fh
        self._purpose = purpose
        key_id = settings.EJIA_FIELD_KEY_ID
        self._aes = AESGCM(_keys(settings.EJIA_FIELD_KEYS)[key_id])
        self._file_id = os.urandom(16)
        self._index = 0
        self._buffer = bytearray()
        self._digest = hashlib.sha256()
        self.size = 0
        raw_id = key_id.encode("ascii")
        fh.write(SEALED_MAGIC + len(raw_id).to_bytes(1, "big") + raw_id + self._file_id)

    def write(self, data: bytes) -> None:
        self._digest.update(data)
        self.size += len(data)
        self._buffer += data
        while len(self._buffer) > SEALED_FRAME:
            self._frame(bytes(self._buffer[:SEALED_FRAME]), final=False)
            del self._buffer[:SEALED_FRAME]

    def close(self) -> None:
        self._frame(bytes(self._buffer), final=True)
        self._buffer.clear()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def _frame(self, plain: bytes, *, final: bool) -> None:
        nonce = os.urandom(12)
        sealed = self._aes.encrypt(nonce, plain, _frame_aad(self._purpose, self._file_id, self._index, final))
        flag = b"\x01" if final else b"\x00"
        self._fh.write(len(sealed).to_bytes(_FRAME_LEN, "big") + flag + nonce + sealed)
        self._index += 1


def sealed_chunks(fh, *, purpose: str):
    """Yield the plaintext of a sealed file frame by frame. Raises DecryptionError on anything
    that is not exactly what SealedWriter wrote with a key we hold."""
    if fh.read(len(SEALED_MAGIC)) != SEALED_MAGIC:
        raise DecryptionError("not a sealed file")
    id_len = fh.read(1)
    key_id = fh.read(id_len[0]).decode("ascii", "replace") if id_len else ""
    key = _keys(settings.EJIA_FIELD_KEYS).get(key_id)
    if key is None:
        raise DecryptionError(f"unknown key id {key_id!r}")
    aes = AESGCM(key)
    file_id = fh.read(16)
    if len(file_id) != 16:
        raise DecryptionError("sealed file cut off")
    index = 0
    while True:
        head = fh.read(_FRAME_LEN + 13)
        if len(head) != _FRAME_LEN + 13:
            raise DecryptionError("sealed file cut off")
        length = int.from_bytes(head[:_FRAME_LEN], "big")
        final = head[_FRAME_LEN] == 1
        if length > SEALED_FRAME + 16:
            raise DecryptionError("sealed frame too long")
        sealed = fh.read(length)
        if len(sealed) != length:
            raise DecryptionError("sealed file cut off")
        try:
            plain = aes.decrypt(head[_FRAME_LEN + 1 :], sealed, _frame_aad(purpose, file_id, index, final))
        except Exception as exc:  # InvalidTag
            raise DecryptionError("sealed frame does not decrypt") from exc
        yield plain
        index += 1
        if final:
            if fh.read(1):
                raise DecryptionError("data after the last sealed frame")
            return
