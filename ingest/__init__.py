"""Flockview's way in: the event contract and the provider SDK.

Modules:
    taxonomy: the public taxonomies (categories, techniques, stages, actions, surfaces, …).
    events: event contract v1 (pydantic), validation, JSON Schema, canonical JSON.
    pseudonym: HMAC-SHA256 pseudonyms and per-period key rotation.
    signing: Ed25519 keys and signatures.
    records: the signed Kafka record format (a batch of events per record).
    registry: registered providers and their public keys.
    client: the SDK ``Client`` (validate, pseudonymise, queue); see docs/provider-guide.md.
    wire: the SDK's fast validation and canonical encoding of one event.
    batching: events cut into signed records per partition.
    sender: the SDK's background sender (delivery, retries with backoff, spooling).
    transport: where records go: Kafka, or memory in the SDK's test mode.
    spool: the SDK's crash-safe, bounded disk spool.
    sdk_settings: the SDK's settings (``FLOCKVIEW_SDK_*``).
    keys: a provider's credentials file (signing key and pseudonym secret).
    importer: JSONL import through the SDK (``flockview emit``).
    topics: topic names and creation.
    broker: the embedded Tansu broker.
    simulate: synthetic providers for demos, tests and benchmarks.
    errors: ``FlockviewError`` and its subclasses.
"""

from typing import TYPE_CHECKING

from ingest.errors import (
    BrokerError,
    ConfigError,
    FlockviewError,
    SchemaError,
    SignatureError,
    UnknownProviderError,
)
from ingest.events import SCHEMA_VERSION, Event, json_schema, parse_event
from ingest.registry import ProviderRegistry

if TYPE_CHECKING:
    from ingest.client import Client


def __getattr__(name: str) -> object:
    # The SDK client pulls in kafka-python; load it on first use, so that the dashboard, which
    # needs only the contract and taxonomies, never imports Kafka.
    if name == "Client":
        from ingest.client import Client

        return Client
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")

__all__ = [
    "SCHEMA_VERSION",
    "BrokerError",
    "Client",
    "ConfigError",
    "Event",
    "FlockviewError",
    "ProviderRegistry",
    "SchemaError",
    "SignatureError",
    "UnknownProviderError",
    "json_schema",
    "parse_event",
]
