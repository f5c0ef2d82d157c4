"""The Kafka record format: one signed, canonical JSON batch of events per record.

value   = canonical JSON ``{"events": [...], "format": "flockview.batch.v1", "partitions": P, "provider": ...}``
headers = ``fv-provider`` (provider id), ``fv-sig`` (Ed25519 signature of the value bytes)
key     = none; the SDK sends each record to an explicit partition, the first 32 bits of the actor
          pseudonym modulo ``P``, the partition count it built the record for (signed with it), so
          every event in a record, and every event of an actor, belongs to that partition (see
          :mod:`ingest.sdk.queue`). A value without ``partitions`` (an SDK before it was signed) is
          refused: nothing would say which partition count its events were placed by.

The SDK puts many events of one provider in a record (:mod:`ingest.sdk.encoder` writes the same canonical
bytes as :func:`encode_record`, faster); the worker verifies the signature once per record, then
validates each event against contract v1.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.contract.events import Event, canonical_json, parse_event
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import sign, verify
from ingest.contract.topics import DEFAULT_PARTITIONS, MAX_PARTITIONS
from ingest.errors import SchemaError, SignatureError

RECORD_FORMAT = "flockview.batch.v1"
PROVIDER_HEADER = "fv-provider"
SIGNATURE_HEADER = "fv-sig"

Headers = list[tuple[str, bytes]]


def encode_record(
    provider: str, events: Sequence[Event], key: Ed25519PrivateKey, partitions: int = DEFAULT_PARTITIONS
) -> tuple[bytes, Headers]:
    """The value and headers of one signed record holding ``events``, placed by a topic of ``partitions`` partitions."""
    value = canonical_json(
        {
            "format": RECORD_FORMAT,
            "provider": provider,
            "partitions": partitions,
            "events": [e.to_wire() for e in events],
        }
    )
    return value, [(PROVIDER_HEADER, provider.encode()), (SIGNATURE_HEADER, sign(key, value))]


@dataclass
class DecodedRecord:
    """What a verified record held: the valid events and, per invalid event, why it was refused."""

    provider: str
    partitions: int  # the partition count the record was built (and signed) for
    events: list[Event] = field(default_factory=list)
    rejected: list[tuple[str | None, str]] = field(default_factory=list)  # (event_id if readable, reason)


def _header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


def decode_record(
    value: bytes | None, headers: Sequence[tuple[str, bytes]] | None, registry: ProviderRegistry
) -> DecodedRecord:
    """Verify and parse one record.

    Raises:
        UnknownProviderError: the provider header names no registered provider.
        SignatureError: missing or bad signature; nothing of the record is trusted.
        SchemaError: the record is not a v1 batch (the whole record is refused).
    """
    raw_provider = _header(headers, PROVIDER_HEADER)
    if raw_provider is None:
        raise SignatureError(f"record has no {PROVIDER_HEADER} header")
    provider = raw_provider.decode("utf-8", errors="replace")
    verify(registry.key_for(provider), _header(headers, SIGNATURE_HEADER), value or b"")
    try:
        body = json.loads(value or b"")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SchemaError(f"record value is not JSON: {exc}") from None
    if not isinstance(body, dict) or body.get("format") != RECORD_FORMAT:
        raise SchemaError(f"record format must be {RECORD_FORMAT!r}")
    if body.get("provider") != provider:
        raise SignatureError("provider in the record does not match the signed provider header")
    if not isinstance(body.get("events"), list):
        raise SchemaError("record has no events list")
    decoded = DecodedRecord(provider, record_partitions(body))
    for item in body["events"]:
        event_id = item.get("event_id") if isinstance(item, dict) else None
        try:
            event = parse_event(item if isinstance(item, dict) else {})
        except SchemaError as exc:
            decoded.rejected.append((event_id, str(exc)))
            continue
        if event.provider != provider:
            decoded.rejected.append((event_id, "event provider differs from the record's signed provider"))
            continue
        decoded.events.append(event)
    return decoded


def record_partitions(body: dict[str, object]) -> int:
    """The signed partition count of a record's value; raises SchemaError if it is missing or invalid."""
    partitions = body.get("partitions")
    if "partitions" not in body:
        raise SchemaError(
            "record has no 'partitions' field: it was written by an SDK that did not sign the partition count; "
            "upgrade the SDK and send it again"
        )
    if type(partitions) is not int or not 1 <= partitions <= MAX_PARTITIONS:
        raise SchemaError(f"record 'partitions' must be an integer from 1 to {MAX_PARTITIONS} (got {partitions!r})")
    return partitions
