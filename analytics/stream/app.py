"""The Faust app of a Flockview worker, built from :class:`WorkerSettings`."""

from __future__ import annotations

import logging

import faust

from analytics.settings import WorkerSettings
from analytics.stream.agents import register
from analytics.stream.runtime import WorkerRuntime
from ingest.topics import DLQ_TOPIC, EVENTS_TOPIC, ensure_topics


def build_worker(settings: WorkerSettings) -> tuple[faust.App, WorkerRuntime]:
    """The Faust app with its topics, agent and window timer, and the runtime they drive."""
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
    )
    events = app.topic(EVENTS_TOPIC, key_type=bytes, value_type=bytes, partitions=settings.partitions)
    dlq = app.topic(DLQ_TOPIC, key_type=bytes, value_type=bytes, partitions=settings.partitions)
    runtime = WorkerRuntime(settings)
    register(app, events, dlq, runtime)
    return app, runtime


def run_worker(settings: WorkerSettings) -> None:
    """Run a worker until SIGINT/SIGTERM: topics are created if missing, then Faust takes over."""
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("kafka", "aiokafka"):  # client chatter drowns the worker's own lines
        logging.getLogger(noisy).setLevel(logging.WARNING)
    ensure_topics(settings.bootstrap_servers, settings.partitions)
    app, _ = build_worker(settings)
    worker = faust.Worker(app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
