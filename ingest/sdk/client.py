"""The provider SDK client: validate, pseudonymise, queue; a background sender batches, signs and delivers.

Example::

    from ingest import Client
    with Client(provider="acme-ai", pseudonym_key=..., signing_key=..., bootstrap_servers="127.0.0.1:9092") as fv:
        fv.emit(user_id="u-123", category="cyber.malware", detection_stage="input_filter",
                action="block", surface="api", model_family="acme-large", score=0.97,
                jurisdiction="DE", language="de")

``emit()`` validates the event (raising :class:`ingest.errors.SchemaError` for a bad one), turns the
raw ``user_id`` into its HMAC pseudonym, writes the event's canonical JSON and queues it; the raw id
is not kept. It never waits on the network and never raises for transport trouble: a background
thread batches, signs, sends, retries and spools (:mod:`ingest.sdk.sender`). See docs/provider-guide.md.
"""

from __future__ import annotations

import atexit
import base64
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.contract.events import Event, parse_event
from ingest.contract.keys import ProviderKeys
from ingest.contract.pseudonym import check_secret
from ingest.contract.signing import load_private_key
from ingest.errors import ConfigError, FlockviewError
from ingest.sdk.encoder import EventEncoder
from ingest.sdk.queue import EventQueue
from ingest.sdk.sender import DeliveryError, Sender
from ingest.sdk.settings import SDKSettings, default_spool_dir
from ingest.sdk.spool import Spool
from ingest.sdk.transport import KafkaTransport, MemorySink, Transport

__all__ = ["Client", "ClientClosedError", "DeliveryError", "Stats"]

_TICK = 256  # emit() checks every this many events whether full records wait for the sender
_CLOSED = -(1 << 62)  # the queue size of a closed client: no emit() passes the fast path's check


class ClientClosedError(FlockviewError, RuntimeError):
    """``emit()`` was called after ``close()`` (a programming error)."""


@dataclass(frozen=True)
class Stats:
    """A snapshot of a client's counters (:meth:`Client.stats`)."""

    emitted: int
    queued: int
    in_flight_records: int
    delivered_events: int
    delivered_records: int
    dropped_queue_full: int
    dropped_spool_full: int
    dropped_spool_error: int
    send_errors: int
    spooled_records: int
    spooled_events: int
    drained_records: int
    spool_records: int
    spool_bytes: int
    broker_up: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _secret(value: Any) -> bytes:
    if hasattr(value, "get_secret_value"):
        value = value.get_secret_value()
    if isinstance(value, bytes):
        return check_secret(value)
    try:
        return check_secret(base64.urlsafe_b64decode(str(value).encode("ascii")))
    except (ValueError, UnicodeEncodeError):
        raise ConfigError("pseudonym_key: not valid URL-safe base64") from None


def _settings(given: dict[str, Any]) -> SDKSettings:
    """Arguments given (not None) win over ``FLOCKVIEW_SDK_*``, then ``[sdk]`` of flockview.toml, then defaults.

    Raises:
        ConfigError: a bad or unknown setting, naming where its value came from.
    """
    return SDKSettings(**{k: v for k, v in given.items() if v is not None})


def _check_codec(name: str) -> None:
    from kafka import codec

    checks = {"lz4": codec.has_lz4, "zstd": codec.has_zstd, "snappy": codec.has_snappy}
    if name in checks and not checks[name]():
        raise ConfigError(
            f"compression {name!r} needs a package kafka-python can use (lz4, zstandard or "
            "python-snappy); 'gzip' needs none"
        )


class Client:
    """Sends a provider's classifier events to Flockview.

    Args:
        provider: the provider id registered with the platform.
        pseudonym_key: the provider's secret for HMAC pseudonyms (≥ 32 bytes, or its base64 text).
        signing_key: the provider's Ed25519 private key (object, 32 raw bytes, or base64 text).
        bootstrap_servers: Kafka bootstrap address, e.g. ``127.0.0.1:9092``.
        topic: the events topic.
        on_error: called (from the sender thread, or from ``emit`` for queue drops) with a
            :class:`ingest.sdk.sender.DeliveryError` whenever events are dropped or the broker is unreachable.
        credentials: a file written by ``flockview keys new-provider``, instead of the three above.
        **settings: any field of :class:`ingest.sdk.settings.SDKSettings` (``send=False`` keeps records in
            :attr:`sink` instead of Kafka). Unset fields come from ``FLOCKVIEW_SDK_*`` variables, then the
            ``[sdk]`` table of ``flockview.toml``, then the defaults (:mod:`ingest.config`).

    Raises:
        ConfigError: a missing or invalid key or setting.
    """

    def __init__(
        self,
        provider: str | None = None,
        pseudonym_key: str | bytes | None = None,
        signing_key: str | bytes | Ed25519PrivateKey | None = None,
        bootstrap_servers: str | None = None,
        topic: str | None = None,
        *,
        on_error: Callable[[DeliveryError], None] | None = None,
        credentials: Path | str | None = None,
        **settings: Any,
    ) -> None:
        raw_key = signing_key if isinstance(signing_key, Ed25519PrivateKey) else None
        s = _settings(
            {
                "provider": provider,
                "pseudonym_key": None if isinstance(pseudonym_key, bytes) else pseudonym_key,
                "signing_key": signing_key if isinstance(signing_key, str) else None,
                "bootstrap_servers": bootstrap_servers,
                "topic": topic,
                "credentials": credentials,
                **settings,
            }
        )
        self.settings = s
        keys = ProviderKeys.load(Path(s.credentials)) if s.credentials else None
        self.provider = (s.provider or (keys.provider if keys else None)) or ""
        if not self.provider:
            raise ConfigError(
                "provider: required (argument, FLOCKVIEW_SDK_PROVIDER, [sdk] in flockview.toml, or a credentials file)"
            )
        self._signing_key = self._load_signing(raw_key, signing_key, s, keys)
        secret_value = pseudonym_key if isinstance(pseudonym_key, bytes) else s.pseudonym_key
        if secret_value is None and keys is None:
            raise ConfigError(
                "pseudonym_key: required (argument, FLOCKVIEW_SDK_PSEUDONYM_KEY, [sdk] in flockview.toml, or a credentials file)"
            )
        if secret_value is not None:
            secret = _secret(secret_value)
        else:
            assert keys is not None  # the check above: one of the two is given
            secret = keys.pseudonym_key
        self._encoder = EventEncoder(self.provider, secret, s.pseudonym_rotation)
        self._queue = EventQueue(s.partitions)
        self._queue_size = s.queue_size  # _CLOSED after close(), so the common case needs one comparison
        self._space = threading.Condition()
        self._waiting = 0
        self._closed = False
        self.sink: MemorySink | None = MemorySink(partitions=s.partitions) if not s.send else None
        self._sender = Sender(
            self._queue, self.provider, self._signing_key, self._transport(s), self._spool(s), s, on_error, self._freed
        )
        self._wake, self._wake_at = self._sender.wake, self._sender.wake_at
        self._tick = min(self._wake_at, _TICK)
        if type(self).emit is Client.emit:  # a subclass that overrides emit() keeps its override
            self.emit = self._encoder.emitter(self._put)  # type: ignore[method-assign]  # the fast path, see emit()
        self._sender.start()
        atexit.register(self._atexit)

    @staticmethod
    def _load_signing(
        raw_key: Ed25519PrivateKey | None, signing_key: Any, s: SDKSettings, keys: ProviderKeys | None
    ) -> Ed25519PrivateKey:
        if raw_key is not None:
            return raw_key
        if isinstance(signing_key, bytes):
            return load_private_key(signing_key)
        if s.signing_key is not None:
            return load_private_key(s.signing_key.get_secret_value())
        if keys is not None:
            return keys.signing_key
        raise ConfigError(
            "signing_key: required (argument, FLOCKVIEW_SDK_SIGNING_KEY, [sdk] in flockview.toml, or a credentials file)"
        )

    def _transport(self, s: SDKSettings) -> Transport:
        if self.sink is not None:
            return self.sink
        _check_codec(s.compression)
        return KafkaTransport(
            s.bootstrap_servers,
            s.topic,
            compression=s.compression,
            max_block_s=s.max_block_s,
            delivery_timeout_s=s.delivery_timeout_s,
            api_version=s.api_version,
            client_id=f"flockview-sdk-{self.provider}",
        )

    def _spool(self, s: SDKSettings) -> Spool | None:
        if self.sink is not None or s.spool_max_bytes == 0:
            return None
        public = self._signing_key.public_key().public_bytes_raw()
        spool = Spool(s.spool_dir or default_spool_dir(self.provider, public), s.spool_max_bytes)
        if spool.directory.is_dir():
            spool.lock()  # it may hold records from an earlier run: this client drains them
        return spool

    # -- the caller's side ----------------------------------------------------------------------

    def emit(
        self,
        *,
        user_id: str,
        category: Any = None,
        detection_stage: Any = None,
        action: Any = None,
        surface: Any = None,
        model_family: Any = None,
        score: float | None = None,
        jurisdiction: Any = None,
        language: Any = None,
        technique: Any = None,
        identity_verification: Any = None,
        account_age_bucket: Any = None,
        occurred_at: datetime | None = None,
        event_id: Any = None,
    ) -> bool:
        """Validate, pseudonymise and queue one event; returns False if the queue was full and it was dropped.

        ``occurred_at`` defaults to now (UTC); ``event_id`` to a fresh UUID (pass your own to make
        your retries idempotent). Never blocks on the network (with ``on_full="block"`` it may wait
        up to ``block_timeout_s`` for queue space) and never raises for transport trouble.

        Raises:
            SchemaError: a field is missing or invalid; the message names it and the allowed values.
            ClientClosedError: the client is closed.
        """
        # __init__ binds ``self.emit`` to the encoder's fast function (ingest.sdk.encoder.EventEncoder.emitter),
        # which has this very signature; this method documents it and serves a subclass's super().emit().
        return self._put(
            *self._encoder.encode(
                user_id,
                surface,
                model_family,
                detection_stage,
                category,
                action,
                score,
                jurisdiction,
                language,
                technique,
                identity_verification,
                account_age_bucket,
                occurred_at,
                event_id,
            )
        )

    def emit_dict(self, fields: dict[str, Any]) -> bool:
        """:meth:`emit` for a dict with the same keys (unknown keys raise SchemaError); used by the importer."""
        return self._put(*self._encoder.encode_mapping(fields))

    def _put(self, partition_hash: int, text: str) -> bool:
        queue = self._queue
        if queue.appended - queue.taken < self._queue_size:  # the common case first
            lanes = queue.lanes
            lanes[partition_hash % len(lanes)].append(text)
            queue.appended = n = queue.appended + 1
            if not n % self._tick and n - queue.taken >= self._wake_at:
                self._wake.set()  # worth full records: wake the sender (again, if it lags)
            return True
        if self._closed:
            raise ClientClosedError("emit() after close(): create a new Client")
        if not self._wait_for_space():
            self._wake.set()
            self._sender.drop(
                "dropped_queue_full",
                DeliveryError("queue_full", 1, f"the in-memory queue holds {self.settings.queue_size} events"),
            )
            return False
        lanes = queue.lanes
        lanes[partition_hash % len(lanes)].append(text)
        queue.appended += 1
        return True

    def _wait_for_space(self) -> bool:
        if self.settings.on_full == "drop" or self.settings.block_timeout_s == 0:
            return False
        self._sender.wake.set()
        with self._space:
            self._waiting += 1
            try:
                return self._space.wait_for(
                    lambda: len(self._queue) < self.settings.queue_size, self.settings.block_timeout_s
                )
            finally:
                self._waiting -= 1

    def _freed(self) -> None:
        if self._waiting:
            with self._space:
                self._space.notify_all()

    def build_event(self, *, user_id: str, occurred_at: datetime | None = None, **fields: Any) -> Event:
        """The event ``emit`` would send, validated as the worker will (no queue, no network).

        Raises:
            SchemaError: a field is missing or invalid.
        """
        import json

        _, text = self._encoder.encode_mapping({"user_id": user_id, "occurred_at": occurred_at, **fields})
        return parse_event(json.loads(text))

    # -- delivery -------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything emitted so far is acknowledged by the broker, spool included.

        Returns:
            True when all was delivered; False if ``timeout`` seconds passed first (what is left
            stays queued or spooled and keeps being retried).
        """
        return self._sender.flush(timeout, include_spool=True)

    def close(self, timeout: float = 10.0) -> bool:
        """Deliver what is queued within ``timeout`` seconds, spool the rest to disk, stop the sender.

        Returns:
            True when everything emitted was delivered; False when some of it waits in the spool
            (a later client with the same spool directory sends it).
        """
        if self._closed:
            return True
        self._closed = True
        self._queue_size = _CLOSED  # emit() now takes its slow path, which raises ClientClosedError
        atexit.unregister(self._atexit)
        return self._sender.stop(timeout)

    def _atexit(self) -> None:
        self.close(self.settings.atexit_flush_s)

    def stats(self) -> Stats:
        """The client's counters: emitted, delivered, dropped (by reason), spooled, and the queue."""
        sender = self._sender
        with sender.lock:
            c = sender.counters
            spool = sender.spool
            return Stats(
                emitted=self._queue.appended,
                queued=len(self._queue),
                in_flight_records=len(sender.in_flight),
                delivered_events=c.delivered_events,
                delivered_records=c.delivered_records,
                dropped_queue_full=c.dropped_queue_full,
                dropped_spool_full=c.dropped_spool_full,
                dropped_spool_error=c.dropped_spool_error,
                send_errors=c.send_errors,
                spooled_records=c.spooled_records,
                spooled_events=c.spooled_events,
                drained_records=c.drained_records,
                spool_records=len(spool) if spool else 0,
                spool_bytes=spool.bytes if spool else 0,
                broker_up=sender.health.up,
            )

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
