"""The agent that consumes event records in batches and the timer that closes windows."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import faust

from analytics.stream.runtime import IncomingRecord, WorkerRuntime

log = logging.getLogger("flockview.worker")
METRICS_EVERY_S = 30.0


def _headers(raw: Mapping[str, bytes] | Sequence[tuple[str, bytes]] | None) -> list[tuple[str, bytes]]:
    if raw is None:
        return []
    return list(raw.items()) if isinstance(raw, Mapping) else [(k, v) for k, v in raw]


def _incoming(event: Any) -> IncomingRecord:
    msg = event.message
    return IncomingRecord(msg.value, _headers(msg.headers), msg.topic, msg.partition, msg.offset)


def register(app: faust.App, events: faust.TopicT, dlq: faust.TopicT, runtime: WorkerRuntime) -> None:
    settings = runtime.settings

    @app.agent(events, name="flockview-ingest")
    async def ingest(stream: faust.StreamT) -> None:
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_within):
            try:
                dead_letters = runtime.process(_incoming(e) for e in batch)
            except Exception:  # a bug, not bad input: verification never raises for input
                log.exception("this is a bug: a batch of %d records failed to process", len(batch))
                continue
            for message in dead_letters:
                await dlq.send(value=message)

    @app.timer(interval=settings.tick_seconds)
    async def close_windows() -> None:
        # An exception escaping a Faust timer stops the worker: contain it here.
        try:
            loop = asyncio.get_running_loop()
            for closed in runtime.collect_closed():
                await loop.run_in_executor(None, runtime.release, closed)
        except Exception:
            log.exception("closing windows failed")

    @app.timer(interval=METRICS_EVERY_S)
    async def report_metrics() -> None:
        log.info("ingest metrics: %s; open windows: %d", runtime.aggregator.metrics.summary(),
                 len(runtime.aggregator.open_windows))
