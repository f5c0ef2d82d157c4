"""Ed25519 signing of records, and the keys it needs.

Keys travel as URL-safe base64 of their 32 raw bytes. The signature covers exactly the bytes of the
record value, so the worker accepts exactly what the SDK signed and nothing else.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ingest.errors import ConfigError, SignatureError


def b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ConfigError(f"{what}: not valid URL-safe base64") from None


def new_signing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_key_to_text(key: Ed25519PrivateKey) -> str:
    return b64encode(key.private_bytes_raw())


def public_key_to_text(key: Ed25519PublicKey) -> str:
    return b64encode(key.public_bytes_raw())


def load_private_key(value: str | bytes | Ed25519PrivateKey) -> Ed25519PrivateKey:
    """A signing key from its base64 text, its 32 raw bytes, or an existing key object."""
    if isinstance(value, Ed25519PrivateKey):
        return value
    raw = b64decode(value, "signing_key") if isinstance(value, str) else value
    if len(raw) != 32:
        raise ConfigError(f"signing_key: expected 32 raw bytes of an Ed25519 key, got {len(raw)}")
    return Ed25519PrivateKey.from_private_bytes(raw)


def load_public_key(value: str) -> Ed25519PublicKey:
    raw = b64decode(value, "public_key")
    if len(raw) != 32:
        raise ConfigError(f"public_key: expected 32 raw bytes of an Ed25519 key, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(key: Ed25519PrivateKey, payload: bytes) -> bytes:
    return key.sign(payload)


def verify(key: Ed25519PublicKey, signature: bytes | None, payload: bytes) -> None:
    """Raise SignatureError unless ``signature`` is the key's signature of ``payload``."""
    if not signature:
        raise SignatureError("record is not signed (no fv-sig header)")
    if len(signature) != 64:
        raise SignatureError(f"signature has {len(signature)} bytes; Ed25519 signatures have 64")
    try:
        key.verify(signature, payload)
    except InvalidSignature:
        raise SignatureError("signature does not verify against the provider's registered key") from None
