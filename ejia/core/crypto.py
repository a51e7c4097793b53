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
