"""Verification of incoming records by the contract's own decoder, and the dead-letter messages for what fails it.

The worker tries :class:`analytics.worker.decode.FastDecoder` first; every record it does not take
(anything invalid, unusual or unsigned) comes here, so rejections and their reasons are exactly
the contract's. No Faust here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ingest.contract.events import Event
from ingest.contract.records import decode_record
from ingest.contract.registry import ProviderRegistry
from ingest.errors import SchemaError, SignatureError, UnknownProviderError


@dataclass
class Rejection:
    """One refused record or event, on its way to the dead-letter topic."""

    reason_code: str  # bad_signature | unknown_provider | schema | clock_skew
    reason: str
    provider: str | None = None
    event_id: str | None = None

    def to_dlq(self, value: bytes | None, topic: str, partition: int, offset: int) -> bytes:
        """The DLQ message: why, where from, and the original record value so it can be replayed."""
        return json.dumps(
            {
                "reason_code": self.reason_code,
                "reason": self.reason,
                "provider": self.provider,
                "event_id": self.event_id,
                "source": {"topic": topic, "partition": partition, "offset": offset},
                "rejected_at": datetime.now(UTC).isoformat(),
                "record_value_b64": base64.b64encode(value or b"").decode("ascii"),
            }
        ).encode()


@dataclass
class Verified:
    events: list[Event] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


def verify_record(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    registry: ProviderRegistry,
    max_clock_skew: timedelta,
    now: datetime | None = None,
) -> Verified:
    """Signature, provider, schema and clock-skew checks of one record. Never raises for bad input."""
    try:
        decoded = decode_record(value, headers, registry)
    except UnknownProviderError as exc:
        return Verified(rejections=[Rejection("unknown_provider", str(exc))])
    except SignatureError as exc:
        return Verified(rejections=[Rejection("bad_signature", str(exc))])
    except SchemaError as exc:
        return Verified(rejections=[Rejection("schema", str(exc))])
    result = Verified(
        rejections=[Rejection("schema", reason, decoded.provider, eid) for eid, reason in decoded.rejected]
    )
    limit = (now or datetime.now(UTC)) + max_clock_skew
    for event in decoded.events:
        if event.occurred_at > limit:
            result.rejections.append(
                Rejection(
                    "clock_skew",
                    f"occurred_at {event.occurred_at.isoformat()} is more than "
                    f"{max_clock_skew.total_seconds():.0f} s ahead of the worker's clock",
                    event.provider,
                    str(event.event_id),
                )
            )
        else:
            result.events.append(event)
    return result
