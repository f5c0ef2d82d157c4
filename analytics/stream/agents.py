"""The Faust side of a worker: the batch agent, the window and metrics timers, and the gathering task."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import faust
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from analytics.stream.batches import PipelinedBatches
from analytics.worker.runtime import SUMMARIES_TOPIC, IncomingRecord, WorkerRuntime
from ingest.contract.topics import EVENTS_TOPIC

log = logging.getLogger("flockview.worker")
PARTITIONS_REFRESH_S = 10.0
T = TypeVar("T")


def _headers(raw: Mapping[str, bytes] | Sequence[tuple[str, bytes]] | None) -> list[tuple[str, bytes]]:
    if raw is None:
        return []
    return list(raw.items()) if isinstance(raw, Mapping) else [(k, v) for k, v in raw]


def _incoming(event: Any) -> IncomingRecord:
    msg = event.message
    return IncomingRecord(msg.value, _headers(msg.headers), msg.topic, msg.partition, msg.offset)


async def on_state_thread(runtime: WorkerRuntime, fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn`` on the runtime's state thread: partition state is touched from there only."""
    return await asyncio.get_running_loop().run_in_executor(runtime.state_executor, fn, *args)


class Publisher:
    """Publishes what partitions committed to their outbox (summaries, dead letters), then acks it."""

    def __init__(self, app: faust.App, runtime: WorkerRuntime) -> None:
        self.app, self.runtime = app, runtime
        self.lock = asyncio.Lock()

    async def flush(self) -> None:
        async with self.lock:
            pending = await on_state_thread(self.runtime, self.runtime.outbox)
            if not pending:
                return
            sent = []
            for partition, item, topic, message in pending:
                future = await self.app.producer.send(topic, None, message, None, None, None)
                sent.append((partition, item, future))
            done: dict[int, list[int]] = {}
            for partition, item, future in sent:
                await future
                done.setdefault(partition, []).append(item)
            for partition, items in done.items():
                await on_state_thread(self.runtime, self.runtime.ack, partition, items)


class Pace:
    """Batches, records and the share of time spent processing them, logged every so often."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s, self.since = every_s, time.perf_counter()
        self.batches = self.records = 0
        self.busy = 0.0

    def batch(self, records: int, seconds: float) -> None:
        self.batches, self.records, self.busy = self.batches + 1, self.records + records, self.busy + seconds
        elapsed = time.perf_counter() - self.since
        if elapsed >= self.every_s:
            log.info(
                "pace: %d batches, %d records in %.1f s, %.0f%% of it processing",
                self.batches,
                self.records,
                elapsed,
                100 * self.busy / elapsed,
            )
            self.since, self.batches, self.records, self.busy = time.perf_counter(), 0, 0, 0.0


# Batches taken and not yet settled, besides the one being counted: decoding runs this many batches ahead
# of counting, which absorbs uneven batches (docs/architecture.md, Speed, has the measurement).
IN_FLIGHT_BATCHES = 2


def register(app: faust.App, events: faust.TopicT, runtime: WorkerRuntime) -> None:
    """Wire the agent, timers, rebalance handlers and the gathering task into ``app``."""
    settings = runtime.settings
    publisher = Publisher(app, runtime)

    pace = Pace()

    @app.agent(events, name="flockview-ingest")
    async def ingest(stream: faust.StreamT) -> None:
        # While batch k is counted on the state thread, batch k + 1 (and k + 2) are decoded and wait for it,
        # and the next one fills; a batch is acked (so its offsets may be committed) only after its state
        # is committed, in order, so a crash at any point loses nothing.
        batches = PipelinedBatches(stream, settings.batch_size, settings.batch_within)
        in_flight: deque[tuple[asyncio.Future[tuple[int, float]], list[Any]]] = deque()
        try:
            async for batch in batches:
                if batch:
                    records = [_incoming(e) for e in batch]
                    decoded = runtime.decode_executor.submit(runtime.decode_ahead, records)
                    work = asyncio.ensure_future(
                        on_state_thread(runtime, _timed, runtime.process, records, None, decoded)
                    )
                    in_flight.append((work, batch))
                while len(in_flight) > IN_FLIGHT_BATCHES or (in_flight and in_flight[0][0].done()):
                    await _settle(in_flight.popleft(), batches, publisher, pace)
        finally:  # stopping: let the batches in flight commit, and ack what committed
            while in_flight:
                try:
                    await _settle(in_flight.popleft(), batches, publisher, pace)
                except Exception:  # logged by _settle; a restart redoes whatever was not committed
                    log.warning("a batch in flight did not settle while the agent stopped", exc_info=True)

    # Faust calls these with the partitions as the second argument; its declared handler type takes *args only.
    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def on_assigned(sender: Any, assigned: set[Any], **_: Any) -> None:
        await on_state_thread(runtime, runtime.rebalance, {tp.partition for tp in assigned if tp.topic == EVENTS_TOPIC})
        await publisher.flush()  # summaries and dead letters a previous owner committed but did not publish

    @app.on_partitions_revoked.connect  # type: ignore[arg-type]
    async def on_revoked(sender: Any, revoked: set[Any], **_: Any) -> None:
        await on_state_thread(runtime, runtime.revoke, {tp.partition for tp in revoked if tp.topic == EVENTS_TOPIC})

    @app.timer(interval=settings.tick_seconds)
    async def close_windows() -> None:
        try:
            await on_state_thread(runtime, runtime.close_due)
            await publisher.flush()
        except Exception:  # an exception escaping a Faust timer stops the worker
            log.exception("closing windows failed")

    @app.timer(interval=settings.health_seconds)
    async def report_health() -> None:
        await _report_health(app, runtime)

    @app.task
    async def gather_and_release() -> None:
        try:
            await _gather_and_release(app, runtime)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.critical("gathering summaries failed; no window will be released by this worker", exc_info=True)
            raise


def _timed(fn: Callable[..., T], *args: Any) -> tuple[T, float]:
    """``fn(*args)`` and the seconds it took (batches overlap, so their time in flight is no measure)."""
    started = time.perf_counter()
    return fn(*args), time.perf_counter() - started


async def _settle(
    item: tuple[asyncio.Future[tuple[int, float]], list[Any]],
    batches: PipelinedBatches,
    publisher: Publisher,
    pace: Pace,
) -> None:
    """Wait for a batch's processing, ack its events, and publish its dead letters if it had any."""
    work, batch = item
    try:
        dead, seconds = await work
    except Exception:
        # Bad input never raises (it goes to the DLQ); this is the state store failing.
        log.critical("the worker state could not be written; stopping so a restart restores it", exc_info=True)
        raise
    await batches.done(batch)
    if dead:
        await publisher.flush()
    pace.batch(len(batch), seconds)


async def _report_health(app: faust.App, runtime: WorkerRuntime) -> None:
    """Move this interval's totals and the gauges to the metrics endpoint (operators only), and log them."""
    try:
        taken, gauges = await on_state_thread(runtime, runtime.health, _lag(app, runtime))
    except Exception:  # an exception escaping a Faust timer stops the worker
        log.exception("this is a bug: taking the operational metrics failed")
        return
    log.info("ingest metrics: %s; open windows: %d", taken.summary(), int(gauges["open_windows"]))


def _lag(app: faust.App, runtime: WorkerRuntime) -> float | None:
    try:
        consumer = app.consumer
        return float(
            sum(
                max(consumer.highwater(TopicPartition(EVENTS_TOPIC, p)) - (w.offset + 1), 0)
                for p, w in dict(runtime.partitions).items()
            )
        )  # a copy: the state thread may change it
    except Exception:  # not known before the first fetch
        return None


async def _gather_and_release(app: faust.App, runtime: WorkerRuntime) -> None:
    """Read every partition's summaries (from the start: nothing is committed) and release whole windows."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=runtime.settings.bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    loop = asyncio.get_running_loop()
    try:
        tp = TopicPartition(SUMMARIES_TOPIC, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        partitions: list[int] = []
        refreshed = 0.0
        log.info("gathering closed-window summaries from %s", SUMMARIES_TOPIC)
        while not app.should_stop:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    runtime.gather(message.value)
            if time.monotonic() - refreshed > PARTITIONS_REFRESH_S or not partitions:
                partitions = await _events_partitions(consumer)
                refreshed = time.monotonic()
            for closed in runtime.whole_windows(partitions):
                await loop.run_in_executor(runtime.store_executor, runtime.release, closed)
    finally:
        await consumer.stop()


async def _events_partitions(consumer: AIOKafkaConsumer) -> list[int]:
    try:
        cluster = await consumer._client.fetch_all_metadata()
    except Exception:
        log.warning("could not read the partitions of %s; will retry", EVENTS_TOPIC, exc_info=True)
        return []
    return sorted(cluster.partitions_for_topic(EVENTS_TOPIC) or ())
