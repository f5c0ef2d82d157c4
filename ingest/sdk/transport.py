"""Where the SDK's signed records go: Kafka (:class:`KafkaTransport`) or memory (:class:`MemorySink`).

Both take a :class:`SignedRecord` and report its fate through a callback, so the background
sender treats a real broker and a provider's unit tests alike.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingest.contract.events import Event, parse_event
from ingest.contract.records import PROVIDER_HEADER, SIGNATURE_HEADER, Headers
from ingest.errors import FlockviewError

log = logging.getLogger(__name__)
#: How often the partition count is read again from the broker's metadata (also after every failure).
PARTITIONS_REFRESH_S = 60.0

Done = Callable[[Exception | None], None]


class TransportError(FlockviewError, ConnectionError):
    """The broker cannot take a record right now (the sender spools it and retries later)."""


@dataclass
class SignedRecord:
    """One signed batch of events for one partition."""

    partition: int
    partitions: int  # the partition count it was batched for
    provider: str
    value: bytes
    signature: bytes
    events: int
    spool_name: str | None = None  # set when the record is (also) in the disk spool
    sent_at: float = 0.0  # monotonic time it was handed to the transport

    @property
    def headers(self) -> Headers:
        return [(PROVIDER_HEADER, self.provider.encode()), (SIGNATURE_HEADER, self.signature)]


class Transport(Protocol):
    def connect(self) -> int:
        """Make sure a connection exists; return the topic's partition count. Raises TransportError."""

    def reset(self) -> None:
        """Forget the connection after a failure."""

    def send(self, record: SignedRecord, done: Done) -> None:
        """Hand ``record`` over; ``done(None)`` on acknowledgement, ``done(exc)`` on failure."""

    def close(self, timeout: float) -> None: ...


@dataclass
class MemorySink:
    """Keeps records in memory instead of sending them: the SDK's test mode (``send=False``).

    Attributes:
        records: ``(partition, value, headers)`` of every record, in the order they were "sent".
    """

    partitions: int = 4
    records: list[tuple[int, bytes, Headers]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def connect(self) -> int:
        return self.partitions

    def reset(self) -> None:
        pass

    def send(self, record: SignedRecord, done: Done) -> None:
        with self._lock:
            self.records.append((record.partition, record.value, record.headers))
        done(None)

    def close(self, timeout: float) -> None:
        pass

    def wire_events(self) -> list[dict[str, object]]:
        """Every event sent so far, as the JSON dicts on the wire."""
        with self._lock:
            values = [value for _, value, _ in self.records]
        return [event for value in values for event in json.loads(value)["events"]]

    def events(self) -> list[Event]:
        """Every event sent so far, validated against contract v1 (as the worker does)."""
        return [parse_event(e) for e in self.wire_events()]


class KafkaTransport:
    """A kafka-python producer, created on first use so a client can start while the broker is down."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        compression: str,
        max_block_s: float,
        delivery_timeout_s: float,
        api_version: str | None,
        client_id: str,
    ) -> None:
        self.topic = topic
        self._options: dict[str, object] = {
            "bootstrap_servers": bootstrap_servers,
            "client_id": client_id,
            "acks": "all",
            "compression_type": None if compression == "none" else compression,
            # A partition's batch stays within batch_size (1 MiB before compression, under the broker's
            # per-batch limit); a request may carry one for each partition. With max_request_size at
            # 1 MiB a request carried a single batch, and the producer's I/O thread, which gets the
            # interpreter lock only in turns with emit(), fell behind the sender.
            "linger_ms": 5,
            "batch_size": 1 << 20,
            "max_request_size": 4 << 20,
            "max_block_ms": int(max_block_s * 1000),
            "bootstrap_timeout_ms": int(max_block_s * 1000),
            "request_timeout_ms": int(min(delivery_timeout_s / 2, 30) * 1000),
            "delivery_timeout_ms": int(delivery_timeout_s * 1000),
            "retries": 1 << 30,
            "retry_backoff_ms": 100,
            "reconnect_backoff_max_ms": 2000,
            "metrics_enabled": False,  # nothing reads the producer's sensors; recording them costs per batch
            "metadata_max_age_ms": int(PARTITIONS_REFRESH_S * 1000),  # so a refresh sees new partitions
        }
        if api_version:
            self._options["api_version"] = tuple(int(p) for p in api_version.split("."))
        self._producer: Any = None  # a KafkaProducer; kafka-python ships no type information
        self._partitions: int | None = None
        self._partitions_read_at = 0.0  # monotonic time the partition count was last read
        self._closed = False

    def connect(self) -> int:
        """The topic's partition count, read again every :data:`PARTITIONS_REFRESH_S` and after a failure.

        Records are built (and signed) for the count this returns, so an actor's events stay on the
        partition of the count its record was signed for; a change shows up within a refresh interval
        (partition counts change only at week boundaries, see ``docs/architecture.md``, "Record format").
        """
        from kafka.errors import KafkaError

        try:
            producer = self._ensure_producer()
            now = time.monotonic()
            if self._partitions is None or now - self._partitions_read_at >= PARTITIONS_REFRESH_S:
                found = producer.partitions_for(self.topic)
                if not found:
                    raise TransportError(f"topic {self.topic} has no partitions yet")
                if self._partitions is not None and len(found) != self._partitions:
                    log.warning(
                        "topic %s now has %d partitions (was %d): new records are built for %d",
                        self.topic,
                        len(found),
                        self._partitions,
                        len(found),
                    )
                self._partitions, self._partitions_read_at = len(found), now
        except KafkaError as exc:
            raise TransportError(f"broker unreachable: {type(exc).__name__}: {exc}") from None
        return self._partitions

    def reset(self) -> None:
        """Drop the producer after a failure: the next attempt starts afresh.

        A restarted broker may have recreated the topic (another partition count) and knows nothing of
        the old producer's id and sequence numbers, which an idempotent producer would otherwise keep
        using. Records still in the old producer fail through their callbacks (and are spooled).
        """
        self._partitions = None
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=0)
            except Exception as exc:
                log.debug("discarding the Kafka producer: %s", exc)

    def _ensure_producer(self) -> Any:
        if self._closed:
            raise TransportError("the client is closed")
        if self._producer is None:
            producer = _producer_class()(**self._options)
            if self._closed:  # close() ran while the producer was being created
                producer.close(timeout=0)
                raise TransportError("the client is closed")
            self._producer = producer
        return self._producer

    def send(self, record: SignedRecord, done: Done) -> None:
        from kafka.errors import KafkaError

        try:
            producer = self._ensure_producer()
            future = producer.send(
                self.topic,
                value=record.value,
                partition=record.partition,
                headers=record.headers,
            )
        except KafkaError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        future.add_callback(lambda _meta: done(None))
        future.add_errback(lambda exc: done(exc if isinstance(exc, Exception) else TransportError(str(exc))))

    def close(self, timeout: float) -> None:
        self._closed = True
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=timeout)
            except Exception as exc:
                log.warning("closing the Kafka producer failed: %s", exc)


@functools.cache
def _producer_class() -> type:
    """KafkaProducer, minus the noise its ``__del__`` makes when its constructor failed (broker down)."""
    from kafka import KafkaProducer

    class Producer(KafkaProducer):
        def __del__(self) -> None:
            with contextlib.suppress(Exception):
                super().__del__()

    return Producer
