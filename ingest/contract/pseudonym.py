"""Pseudonyms: actor = HMAC-SHA256(provider secret, raw user id), computed inside the provider's process.

The secret never leaves the provider, so Flockview cannot reverse or link pseudonyms, and two
providers' actors are unlinkable by construction. A provider that wants pseudonyms to change over
time derives a per-period key from its master secret with :func:`period_key`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

from ingest.errors import ConfigError

MIN_SECRET_BYTES = 32


def check_secret(secret: bytes) -> bytes:
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"pseudonym key is {len(secret)} bytes; at least {MIN_SECRET_BYTES} random bytes are required"
        )
    return secret


def pseudonymise(secret: bytes, user_id: str) -> str:
    """The actor pseudonym of a raw user id: 64 hex characters."""
    if not user_id:
        raise ValueError("user_id: must be a non-empty string")
    return hmac.new(secret, user_id.encode("utf-8"), hashlib.sha256).hexdigest()


def period_key(master_secret: bytes, when: datetime) -> bytes:
    """A pseudonym key for the ISO week of ``when``, derived from a master secret.

    Using it makes an actor's pseudonym change every week: privacy improves, and cross-week
    escalation patterns for the same actor become invisible to Flockview (by design).
    """
    year, week, _ = when.isocalendar()
    return hmac.new(master_secret, f"flockview-pseudonym-{year}-W{week:02d}".encode(), hashlib.sha256).digest()
