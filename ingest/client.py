"""The provider SDK client: validate, pseudonymise, sign, and produce to Kafka.

Example::

    from ingest import Client
    with Client(provider="acme-ai", pseudonym_key=..., signing_key=..., bootstrap_servers="127.0.0.1:9092") as fv:
        fv.emit(user_id="u-123", category="cyber.malware", detection_stage="input_filter",
                action="block", surface="api", model_family="acme-large", score=0.97,
                jurisdiction="DE", language="de")

The raw ``user_id`` is turned into its HMAC pseudonym inside ``emit()`` and not kept.
"""

from __future__ import annotations

import base64
from datetime import datetime
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import KafkaProducer
from kafka.errors import KafkaError

from ingest.errors import BrokerError, ConfigError
from ingest.events import Event, now_utc, parse_event
from ingest.pseudonym import check_secret, pseudonymise
from ingest.records import encode_record
from ingest.signing import load_private_key
from ingest.topics import EVENTS_TOPIC


def _secret(value: str | bytes) -> bytes:
    if isinstance(value, bytes):
        return check_secret(value)
    try:
        return check_secret(base64.urlsafe_b64decode(value.encode("ascii")))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError("pseudonym_key: not valid URL-safe base64") from None


class Client:
    """Sends a provider's classifier events to Flockview.

    Args:
        provider: the provider id registered with the platform.
        pseudonym_key: the provider's secret for HMAC pseudonyms (≥ 32 bytes, or its base64 text).
        signing_key: the provider's Ed25519 private key (object, 32 raw bytes, or base64 text).
        bootstrap_servers: Kafka bootstrap address, e.g. ``127.0.0.1:9092``.
        topic: the events topic.
    """

    def __init__(
        self,
        provider: str,
        pseudonym_key: str | bytes,
        signing_key: str | bytes | Ed25519PrivateKey,
        bootstrap_servers: str,
        topic: str = EVENTS_TOPIC,
        **producer_options: Any,
    ) -> None:
        self.provider = provider
        self._secret = _secret(pseudonym_key)
        self._signing_key = load_private_key(signing_key)
        self._topic = topic
        options = {"linger_ms": 20, "acks": 1, "client_id": f"flockview-sdk-{provider}"} | producer_options
        try:
            self._producer = KafkaProducer(bootstrap_servers=bootstrap_servers, **options)
        except KafkaError as exc:
            raise BrokerError(f"cannot connect to Kafka at {bootstrap_servers}: {exc}") from None
        self.sent = 0

    def build_event(self, *, user_id: str, occurred_at: datetime | None = None, **fields: Any) -> Event:
        """Validate ``fields`` and return the event with the user's pseudonym (no network).

        Raises:
            SchemaError: a field is missing or invalid; the message names it and what is allowed.
        """
        data = {k: v for k, v in fields.items() if v is not None}
        data.update(provider=self.provider, actor=pseudonymise(self._secret, user_id))
        data["occurred_at"] = occurred_at or now_utc()
        return parse_event(data)

    def emit(self, *, user_id: str, occurred_at: datetime | None = None, **fields: Any) -> Event:
        """Validate, pseudonymise, sign and send one event; returns the event as sent."""
        event = self.build_event(user_id=user_id, occurred_at=occurred_at, **fields)
        self.send_events([event])
        return event

    def send_events(self, events: list[Event]) -> None:
        """Sign and send already-built events of this provider, one record per event."""
        for event in events:
            value, headers = encode_record(self.provider, [event], self._signing_key)
            self._producer.send(self._topic, key=event.actor.encode(), value=value, headers=headers)
            self.sent += 1

    def flush(self, timeout: float | None = None) -> None:
        """Block until everything emitted so far has been acknowledged by the broker."""
        self._producer.flush(timeout=timeout)

    def close(self, timeout: float | None = 10.0) -> None:
        self._producer.flush(timeout=timeout)
        self._producer.close(timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
