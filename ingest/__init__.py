"""Flockview's way in: the event contract and the provider SDK.

Packages:
    contract: event contract v1 (taxonomy, events, records, signing, pseudonyms, registry, keys, topics).
    sdk: the provider SDK (client, settings, encoder, queue, sender, transport, spool, importer, admin).
    devtools: the embedded broker and the traffic simulator (never imported by ``sdk``).

Modules:
    cli: the provider-side commands of ``flockview``.
    errors: ``FlockviewError`` and its subclasses.

The face: ``from ingest import Client`` sends events; the contract's names load with this package,
the SDK (and so kafka-python) on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ingest.contract.events import SCHEMA_VERSION, Event, json_schema, parse_event
from ingest.contract.registry import ProviderRegistry
from ingest.errors import (
    BrokerError,
    ConfigError,
    FlockviewError,
    SchemaError,
    SignatureError,
    UnknownProviderError,
)

if TYPE_CHECKING:
    from ingest.sdk.client import Client, ClientClosedError, Stats
    from ingest.sdk.sender import DeliveryError

_LAZY = {
    "Client": "ingest.sdk.client",
    "ClientClosedError": "ingest.sdk.client",
    "Stats": "ingest.sdk.client",
    "DeliveryError": "ingest.sdk.sender",
}


def __getattr__(name: str) -> Any:
    # The SDK pulls in kafka-python: a reader of the contract alone (the dashboard) never loads it.
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")


__all__ = [
    "SCHEMA_VERSION",
    "BrokerError",
    "Client",
    "ClientClosedError",
    "ConfigError",
    "DeliveryError",
    "Event",
    "FlockviewError",
    "ProviderRegistry",
    "SchemaError",
    "SignatureError",
    "Stats",
    "UnknownProviderError",
    "json_schema",
    "parse_event",
]
