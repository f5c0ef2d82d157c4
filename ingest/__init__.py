"""Flockview's way in: the event contract and the provider SDK.

Modules:
    taxonomy: the public taxonomies (categories, techniques, stages, actions, surfaces, …).
    events: event contract v1 (pydantic), validation, JSON Schema, canonical JSON.
    pseudonym: HMAC-SHA256 pseudonyms and per-period key rotation.
    signing: Ed25519 keys and signatures.
    records: the signed Kafka record format (a batch of events per record).
    registry: registered providers and their public keys.
    client: the SDK ``Client``.
    topics: topic names and creation.
    broker: the embedded Tansu broker.
    simulate: synthetic providers for demos, tests and benchmarks.
    errors: ``FlockviewError`` and its subclasses.
"""

from ingest.client import Client
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
