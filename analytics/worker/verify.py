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
from ingest.contract.topics import partition_mismatch
from ingest.errors import SchemaError, SignatureError, UnknownProviderError


@dataclass
class Rejection:
    """One refused record or event, on its way to the dead-letter topic."""

    reason_code: str  # bad_signature | unknown_provider | schema | clock_skew | wrong_partition | processing_error
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
    partitions: int = 0  # the partition count the record was signed for (0: not read)


def verify_record(
    value: bytes | None,
    headers: Sequence[tuple[str, bytes]] | None,
    registry: ProviderRegistry,
    max_clock_skew: timedelta,
    now: datetime | None = None,
    partition: int | None = None,
) -> Verified:
    """Signature, provider, schema, partition and clock-skew checks of one record. Never raises for bad input.

    ``partition`` is the partition the record was delivered on (None: not checked, for records read
    outside a partition). A record with any actor that belongs on another partition by the record's
    signed partition count is refused whole, as ``wrong_partition``, in one dead letter: a conforming
    SDK never builds one, and the events of a copied record must be counted nowhere.
    """
    try:
        decoded = decode_record(value, headers, registry)
    except UnknownProviderError as exc:
        return Verified(rejections=[Rejection("unknown_provider", str(exc))])
    except SignatureError as exc:
        return Verified(rejections=[Rejection("bad_signature", str(exc))])
    except SchemaError as exc:
        return Verified(rejections=[Rejection("schema", str(exc))])
    if partition is not None:
        misplaced = _misplaced(decoded.events, decoded.partitions, partition)
        if misplaced is not None:
            return Verified(rejections=[misplaced], partitions=decoded.partitions)
    result = Verified(
        rejections=[Rejection("schema", reason, decoded.provider, eid) for eid, reason in decoded.rejected],
        partitions=decoded.partitions,
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


def _misplaced(events: Sequence[Event], partitions: int, partition: int) -> Rejection | None:
    """The ``wrong_partition`` rejection of a record whose events' actors belong elsewhere; None if none does."""
    reasons = [r for e in events if (r := partition_mismatch(e.actor, partitions, partition)) is not None]
    if not reasons:
        return None
    return Rejection(
        "wrong_partition",
        f"{len(reasons)} of the record's {len(events)} events belong on another partition "
        f"(signed for {partitions} partitions); first: {reasons[0]}; the record is counted nowhere",
        events[0].provider,
    )
