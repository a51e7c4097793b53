"""The key that signs API access tokens, and its public half published as a JWKS.

`EJIA_API_SIGNING_KEY` holds an Ed25519 private key in PEM (production requires it). In
development and tests it is generated once into `EJIA_API_SIGNING_KEY_FILE` (the var dir).
The key id (`kid`) is the RFC 7638 thumbprint of the public key, so it changes with the key.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    public: Ed25519PublicKey
    kid: str
    jwk: dict


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def new_pem() -> bytes:
    """A fresh Ed25519 private key in PEM (`python -m ejia.api.keys` prints one)."""
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _generated_pem() -> bytes:
    """The development key file, created on first use (atomically: parallel test workers)."""
    path = settings.EJIA_API_SIGNING_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        pem = new_pem()
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(pem)
        os.chmod(tmp, 0o600)
        try:
            os.link(tmp, path)  # fails if another process made it first: theirs wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes()


@functools.cache
def _load(pem: bytes) -> SigningKey:
    try:
        private = serialization.load_pem_private_key(pem, password=None)
    except ValueError as exc:
        raise ImproperlyConfigured("EJIA_API_SIGNING_KEY is not a PEM private key.") from exc
    if not isinstance(private, Ed25519PrivateKey):
        raise ImproperlyConfigured("EJIA_API_SIGNING_KEY must be an Ed25519 private key.")
    public = private.public_key()
    x = _b64url(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    thumb = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": x}, separators=(",", ":"), sort_keys=True)
    kid = _b64url(hashlib.sha256(thumb.encode("ascii")).digest())
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": ALGORITHM}
    return SigningKey(private=private, public=public, kid=kid, jwk=jwk)


def signing_key() -> SigningKey:
    configured = settings.EJIA_API_SIGNING_KEY
    pem = configured.encode("ascii") if configured else _generated_pem()
    return _load(pem)


def jwks() -> dict:
    """The public keys a client (or a partner registry) verifies our tokens and signatures with."""
    return {"keys": [signing_key().jwk]}


if __name__ == "__main__":
    print(new_pem().decode("ascii"), end="")
