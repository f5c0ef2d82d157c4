"""The Faust app of a Flockview worker, built from :class:`WorkerSettings`."""

from __future__ import annotations

import contextlib
import ctypes
import logging

import faust
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from analytics.settings import WorkerSettings
from analytics.stream.agents import register
from analytics.worker.runtime import SUMMARIES_TOPIC, ReleaseSink, WorkerRuntime
from ingest.contract.topics import EVENTS_TOPIC
from ingest.errors import BrokerError
from ingest.sdk.admin import ensure_topics

log = logging.getLogger("flockview.worker")
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter


def ensure_summaries_topic(bootstrap_servers: str) -> None:
    """Create the internal summaries topic (one partition, so every summary is read in order) if missing."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="flockview-admin")
    except KafkaError as exc:
        raise BrokerError(f"cannot reach the broker at {bootstrap_servers}: {exc}") from None
    try:
        if SUMMARIES_TOPIC not in set(admin.list_topics()):
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics([NewTopic(SUMMARIES_TOPIC, 1, 1)])
    finally:
        admin.close()


def build_worker(settings: WorkerSettings, release_sink: ReleaseSink | None = None) -> tuple[faust.App, WorkerRuntime]:
    """The Faust app with its agent, timers and gathering task, and the runtime they drive.

    ``release_sink`` replaces the release step; only tests pass one (see :class:`WorkerRuntime`).
    """
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        web_enabled=False,
        datadir=str(settings.datadir),
        store="memory://",
        # The embedded broker needs short timeouts, or the first group join waits about 30 s.
        broker_session_timeout=10.0,
        broker_rebalance_timeout=10.0,
        broker_heartbeat_interval=1.0,
        consumer_auto_offset_reset="earliest",
        topic_replication_factor=1,
        topic_partitions=settings.partitions,
        key_serializer="raw",
        value_serializer="raw",
        stream_buffer_maxsize=max(64, settings.batch_size),
        consumer_max_fetch_size=settings.fetch_bytes,  # per partition; with the stream buffer it bounds what is in flight
    )
    events = app.topic(EVENTS_TOPIC, key_type=bytes, value_type=bytes, partitions=settings.partitions)
    runtime = WorkerRuntime(settings, release_sink)
    register(app, events, runtime)
    return app, runtime


def pin_mmap_threshold() -> None:
    """Have glibc map every large allocation on its own, so freeing it returns the memory.

    glibc raises its mmap threshold as large blocks are freed, after which big allocations come
    from the heap and, once freed, stay in the process. The worker's numpy state grows in steps
    (each step frees the last copy), so without this its resident memory keeps the old copies.
    Does nothing where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):
        pass


def prepare(settings: WorkerSettings) -> None:
    """Logging, memory behaviour and topics, before Faust takes over."""
    pin_mmap_threshold()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "aiokafka"):  # client chatter drowns the worker's own lines
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ensure_topics(settings.bootstrap_servers, settings.partitions)
    ensure_summaries_topic(settings.bootstrap_servers)


def serve_metrics(runtime: WorkerRuntime) -> tuple[str, int]:
    """Start the worker's Prometheus endpoint where its settings say; returns the address and port it got.

    Raises:
        analytics.worker.health.MetricsEndpointError: The address or port cannot be listened on.
    """
    return runtime.exporter.serve(runtime.settings.metrics_address, runtime.settings.metrics_port)


def run_app(app: faust.App, settings: WorkerSettings) -> None:
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def run_worker(settings: WorkerSettings) -> None:
    """Run a worker until SIGINT/SIGTERM: topics are created if missing, then Faust takes over."""
    prepare(settings)
    app, runtime = build_worker(settings)
    serve_metrics(runtime)
    try:
        run_app(app, settings)
    finally:
        runtime.close()  # the decode process would also go once this process ends
