"""Verification of incoming records and the dead-letter messages for what fails it. No Faust here."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ValidationError

from ingest.errors import SchemaError, SignatureError, UnknownProviderError
from ingest.events import Event
from ingest.records import PROVIDER_HEADER, RECORD_FORMAT, SIGNATURE_HEADER, DecodedRecord, decode_record
from ingest.registry import ProviderRegistry
from ingest.signing import verify


@dataclass
class Rejection:
    """One refused record or event, on its way to the dead-letter topic."""

    reason_code: str  # bad_signature | unknown_provider | schema | clock_skew
    reason: str
    provider: str | None = None
    event_id: str | None = None

    def to_dlq(self, value: bytes | None, topic: str, partition: int, offset: int) -> bytes:
        """The DLQ message: why, where from, and the original record value so it can be replayed."""
        return json.dumps({
            "reason_code": self.reason_code,
            "reason": self.reason,
            "provider": self.provider,
            "event_id": self.event_id,
            "source": {"topic": topic, "partition": partition, "offset": offset},
            "rejected_at": datetime.now(UTC).isoformat(),
            "record_value_b64": base64.b64encode(value or b"").decode("ascii"),
        }).encode()


@dataclass
class Verified:
    events: list[Event] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


class _BatchRecord(BaseModel):
    """A v1 batch record whose events all pass contract v1: the fast path of :func:`decode_fast`."""

    format: Literal[RECORD_FORMAT]  # type: ignore[valid-type]
    provider: str
    events: list[Event]


def decode_fast(value: bytes | None, headers: Sequence[tuple[str, bytes]] | None,
                registry: ProviderRegistry) -> DecodedRecord:
    """:func:`ingest.records.decode_record`, faster for the common all-valid record.

    The signature is checked exactly as there; the value is then parsed and validated against the
    same :class:`Event` model in one pass (pydantic-core from the JSON bytes, no intermediate dicts).
    Anything short of "every event valid and of the signed provider" is decoded again by
    ``decode_record`` itself, so rejections and their reasons are exactly the contract's.
    """
    provider = _signed_provider(headers, registry, value)
    if provider is not None:
        try:
            record = _BatchRecord.model_validate_json(value or b"")
        except ValidationError:
            pass
        else:
            if record.provider == provider and all(e.provider == provider for e in record.events):
                return DecodedRecord(provider, record.events)
    return decode_record(value, headers, registry)


def _signed_provider(headers: Sequence[tuple[str, bytes]] | None, registry: ProviderRegistry,
                     value: bytes | None) -> str | None:
    """The provider whose valid signature the record bears, or None (``decode_record`` says why)."""
    raw = sig = None
    for key, header in headers or ():
        if key == PROVIDER_HEADER:
            raw = header if raw is None else raw
        elif key == SIGNATURE_HEADER:
            sig = header if sig is None else sig
    if raw is None:
        return None
    provider = raw.decode("utf-8", errors="replace")
    try:
        verify(registry.key_for(provider), sig, value or b"")
    except (UnknownProviderError, SignatureError):
        return None
    return provider


def verify_record(value: bytes | None, headers: Sequence[tuple[str, bytes]] | None, registry: ProviderRegistry,
                  max_clock_skew: timedelta, now: datetime | None = None) -> Verified:
    """Signature, provider, schema and clock-skew checks of one record. Never raises for bad input."""
    try:
        decoded = decode_fast(value, headers, registry)
    except UnknownProviderError as exc:
        return Verified(rejections=[Rejection("unknown_provider", str(exc))])
    except SignatureError as exc:
        return Verified(rejections=[Rejection("bad_signature", str(exc))])
    except SchemaError as exc:
        return Verified(rejections=[Rejection("schema", str(exc))])
    result = Verified(rejections=[Rejection("schema", reason, decoded.provider, eid) for eid, reason in decoded.rejected])
    limit = (now or datetime.now(UTC)) + max_clock_skew
    for event in decoded.events:
        if event.occurred_at > limit:
            result.rejections.append(Rejection(
                "clock_skew", f"occurred_at {event.occurred_at.isoformat()} is more than "
                f"{max_clock_skew.total_seconds():.0f} s ahead of the worker's clock", event.provider, str(event.event_id)))
        else:
            result.events.append(event)
    return result
