"""One source partition as a worker owns it: its aggregator, its durable state and its offset. No Faust here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from analytics.families import ReportFamily
from analytics.privacy.release import family_spec_hash
from analytics.worker.aggregator import WindowAggregator, seconds_since_epoch
from analytics.worker.columns import EventBatch
from analytics.worker.decode import Decoded, FastDecoder
from analytics.worker.gather import Summary
from analytics.worker.health import IngestMetrics
from analytics.worker.state import PartitionStateStore
from analytics.worker.verify import Rejection, verify_record
from ingest.contract.registry import ProviderRegistry

log = logging.getLogger("flockview.worker")


@dataclass(frozen=True)
class IncomingRecord:
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class PartitionConfig:
    """What every partition of a worker shares."""

    families: list[ReportFamily]
    window_size: timedelta
    lateness: timedelta
    max_clock_skew: timedelta
    registry: ProviderRegistry
    metrics: IngestMetrics
    dlq_topic: str
    summaries_topic: str


class PartitionWorker:
    """Verification, counting and durable state of one source partition.

    Records at or below the stored offset were applied before a restart and are skipped, so
    Kafka's at-least-once redelivery changes nothing.
    """

    def __init__(self, topic: str, partition: int, state_dir: Path, config: PartitionConfig) -> None:
        self.topic, self.partition, self.config = topic, partition, config
        self.path = state_dir / f"{topic}-{partition}.sqlite"
        self.store = PartitionStateStore(self.path)
        self.aggregator, self.offset = self._restore()
        self.decoder = FastDecoder(config.registry, self.aggregator.fields)
        self.broken = False  # a state write failed: nothing more is applied until a restart restores it

    def _restore(self) -> tuple[WindowAggregator, int]:
        c = self.config
        aggregator = WindowAggregator(c.families, c.window_size, c.lateness, c.metrics)
        offset = self.store.load(aggregator)
        log.info(
            "partition %s-%d restored at offset %d with %d open windows",
            self.topic,
            self.partition,
            offset,
            len(aggregator.open_windows),
        )
        return aggregator, offset

    def close(self) -> None:
        self.store.close()

    def process(self, records: Sequence[IncomingRecord], now: datetime, decoded: Decoded | None = None) -> int:
        """Verify and count records (in offset order), then commit state, offset and dead letters at once.

        ``decoded`` is the fast decoder's answer for exactly these records when it was worked out
        beforehand (:meth:`analytics.worker.runtime.WorkerRuntime.decode_ahead`). Returns how many
        dead letters went to the outbox.
        """
        fresh = [r for r in records if r.offset > self.offset]
        self.config.metrics.skipped_replayed += len(records) - len(fresh)
        if not fresh:
            return 0
        try:
            events, dead = self._verify(fresh, now, decoded if len(fresh) == len(records) else None)
            self.aggregator.add_columns(events)
        except Exception:
            log.exception(
                "this is a bug: a batch of %d records of partition %d failed; retrying record by record",
                len(fresh),
                self.partition,
            )
            self.config.metrics.batch_failures += 1
            self.aggregator, self.offset = self._restore()  # back to the last commit
            return self._process_one_by_one(fresh, now)
        self._commit(fresh[-1].offset, dead)
        return len(dead)

    def _commit(self, offset: int | None, outbox: list[tuple[str, bytes]]) -> None:
        """Write the state (with ``offset`` applied, unless None) and the outbox in one transaction.

        After a failed write nothing more is written (batches queue behind one another, and none may
        commit past one whose write failed): the worker must restart and restore the last commit.
        """
        if self.broken:
            raise RuntimeError(
                f"the state of partition {self.partition} could not be written before; restart the worker to restore it"
            )
        try:
            self.store.commit(self.aggregator, offset, outbox)
        except Exception:
            self.broken = True
            raise
        if offset is not None:
            self.offset = offset

    def _verify(
        self, records: Sequence[IncomingRecord], now: datetime, decoded: Decoded | None = None
    ) -> tuple[EventBatch, list[tuple[str, bytes]]]:
        """The records' valid events as columns, and a dead letter per refused record or event.

        A record the fast decoder does not take is decoded by the contract's own decoder, which says
        why anything is refused.
        """
        c = self.config
        if decoded is None:
            decoded = self.decoder.decode_many(
                [(r.value, r.headers) for r in records], seconds_since_epoch(now + c.max_clock_skew), self.partition
            )
        fast, sizes = decoded
        if None not in sizes:
            return fast, []
        parts: list[EventBatch] = []
        dead: list[tuple[str, bytes]] = []
        start = 0
        for r, size in zip(records, sizes, strict=True):
            if size is not None:
                parts.append(fast.slice(start, start + size))
                start += size
                continue
            verified = verify_record(r.value, r.headers, c.registry, c.max_clock_skew, now, r.partition)
            for rejection in verified.rejections:
                c.metrics.rejected[rejection.reason_code] += 1
                dead.append((c.dlq_topic, rejection.to_dlq(r.value, r.topic, r.partition, r.offset)))
            parts.append(EventBatch.from_events(verified.events, self.aggregator.fields, verified.partitions))
        merged = EventBatch.concat(parts)
        merged.providers.update(fast.providers)  # slices carry no provider totals: the fast part's, once
        return merged, dead

    def _process_one_by_one(self, records: Sequence[IncomingRecord], now: datetime) -> int:
        dead_letters = 0
        for record in records:
            try:
                events, dead = self._verify([record], now)
                self.aggregator.add_columns(events)
            except Exception as exc:
                log.exception(
                    "record at offset %d of partition %d cannot be processed; it goes to the DLQ",
                    record.offset,
                    self.partition,
                )
                self.aggregator, _ = self._restore()
                rejection = Rejection("processing_error", f"the worker failed on this record: {type(exc).__name__}")
                self.config.metrics.rejected["processing_error"] += 1
                dead = [
                    (
                        self.config.dlq_topic,
                        rejection.to_dlq(record.value, record.topic, record.partition, record.offset),
                    )
                ]
            self._commit(record.offset, dead)
            dead_letters += len(dead)
        return dead_letters

    def close_due(self, now: datetime) -> bool:
        """Close the windows the watermark has passed; commit their summaries to the outbox. True if any."""
        before = [lane.closed_before for lane in self.aggregator.lanes]
        closed = self.aggregator.close_ready_by_lane(now)
        summaries = []
        for lane, was in zip(self.aggregator.lanes, before, strict=True):
            if lane.closed_before == was:
                continue
            windows = {index: cw.counts for ln, index, cw in closed if ln is lane}
            signed = {index: tuple(sorted(cw.partition_counts)) for ln, index, cw in closed if ln is lane}
            specs = {f.name: family_spec_hash(f, lane.size) for f in lane.families}
            summary = Summary(self.partition, lane.size_s, lane.closed_before, windows, specs, signed)
            summaries.append((self.config.summaries_topic, summary.encode()))
        if not summaries:
            return False
        self._commit(None, summaries)
        return True

    def outbox(self) -> list[tuple[int, str, bytes]]:
        return self.store.outbox()

    def ack(self, ids: list[int]) -> None:
        self.store.ack_outbox(ids)

    def gauges(self) -> dict[str, float]:
        lanes = self.aggregator.lanes
        return {
            "open_windows": float(sum(len(lane.windows) for lane in lanes)),
            "active_actor_windows": float(sum(len(w.actors) for lane in lanes for w in lane.windows.values())),
            "state_bytes": float(sum(w.nbytes for lane in lanes for w in lane.windows.values())),
        }
