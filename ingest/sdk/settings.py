"""The SDK's settings: constructor arguments, ``FLOCKVIEW_SDK_*`` variables, or ``[sdk]`` in ``flockview.toml``.

Every field of :class:`SDKSettings` can be given to :class:`ingest.Client` as a keyword argument;
what is not given comes from the environment (``FLOCKVIEW_SDK_BOOTSTRAP_SERVERS``,
``FLOCKVIEW_SDK_SPOOL_DIR``, …), then the ``[sdk]`` table of ``flockview.toml``, then the defaults
below, which suit a laptop (precedence and file discovery: :mod:`ingest.config`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from ingest.config import FlockviewSettings, table_config
from ingest.contract.topics import DEFAULT_PARTITIONS, EVENTS_TOPIC

Compression = Literal["gzip", "none", "lz4", "zstd", "snappy"]


class SDKSettings(FlockviewSettings):
    """How a :class:`ingest.Client` batches, sends, retries and spools."""

    model_config = table_config("sdk")

    provider: str | None = Field(default=None, description="Registered provider id.")
    pseudonym_key: SecretStr | None = Field(default=None, description="Pseudonym secret, URL-safe base64 (≥ 32 bytes).")
    signing_key: SecretStr | None = Field(default=None, description="Ed25519 private key, URL-safe base64 of 32 bytes.")
    credentials: Path | None = Field(
        default=None, description="A file from `flockview keys new-provider`, instead of the provider and keys."
    )
    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    topic: str = Field(default=EVENTS_TOPIC, description="The events topic.")
    pseudonym_rotation: Literal["none", "weekly"] = Field(
        default="none", description="'weekly' derives each ISO week's pseudonym key from the secret."
    )
    send: bool = Field(
        default=True, description="False: keep records in memory (Client.sink) instead of sending them; for tests."
    )

    queue_size: int = Field(
        default=200_000, ge=1, description="Events the in-memory queue holds before the policy applies."
    )
    on_full: Literal["block", "drop"] = Field(
        default="drop", description="When the queue is full: block or drop (counted)."
    )
    block_timeout_s: float = Field(
        default=0.5, ge=0, description="With on_full='block', how long emit() waits, then drops."
    )

    batch_events: int = Field(default=1000, ge=1, description="Most events per record.")
    batch_bytes: int = Field(default=512 * 1024, ge=1024, le=900 * 1024, description="Most bytes of events per record.")
    linger_ms: float = Field(default=50.0, ge=0, description="Longest an event waits for its batch to fill.")
    compression: Compression = Field(
        default="lz4", description="Kafka compression codec: lz4, gzip, zstd, snappy or none."
    )
    partitions: int = Field(
        default=DEFAULT_PARTITIONS,
        ge=1,
        description="Partition count assumed while the broker has never been reachable.",
    )

    delivery_timeout_s: float = Field(
        default=30.0, gt=0, description="How long the producer retries a record before spooling it."
    )
    max_block_s: float = Field(
        default=1.0, gt=0, description="Longest the background sender waits on producer metadata."
    )
    retry_backoff_s: float = Field(default=0.5, gt=0, description="First wait before retrying an unreachable broker.")
    retry_backoff_max_s: float = Field(
        default=30.0, gt=0, description="Cap of the exponential backoff (with full jitter)."
    )
    max_in_flight_records: int = Field(
        default=128,
        ge=1,
        description="Records handed to the producer and not yet acknowledged (each at most batch_bytes).",
    )

    spool_dir: Path | None = Field(
        default=None,
        description="Disk spool folder; unset: one per provider and key in $XDG_STATE_HOME/flockview/spool.",
    )
    spool_max_bytes: int = Field(
        default=1 << 30, ge=0, description="Most bytes the disk spool holds; 0 disables spooling."
    )

    api_version: str | None = Field(
        default=None, description="Kafka API version, e.g. '3.9'; probed from the broker when unset."
    )
    atexit_flush_s: float = Field(
        default=5.0, ge=0, description="How long the atexit hook flushes before spooling the rest."
    )


def default_spool_dir(provider: str, public_key: bytes) -> Path:
    """``$XDG_STATE_HOME/flockview/spool/PROVIDER-FINGERPRINT`` (``~/.local/state`` by default).

    The fingerprint of the signing key keeps two keys (for example a rotated one) apart.
    """
    state = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return state / "flockview" / "spool" / f"{provider}-{hashlib.sha256(public_key).hexdigest()[:16]}"
