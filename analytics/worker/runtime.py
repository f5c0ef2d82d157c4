"""The worker's state and steps, kept apart from Faust so they read (and test) as plain Python.

A worker owns some partitions of the events topic (:class:`PartitionWorker` each), gathers every
partition's closed-window summaries (:class:`analytics.worker.gather.Gatherer`) and hands whole windows to
the release sink: by default the :class:`analytics.privacy.release.Releaser`, whose release log in DuckDB,
keyed by (family, window), makes the release happen once however many workers try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from analytics.families import load_families
from analytics.privacy.release import Releaser
from analytics.reporting.auto import generate_if_week_released
from analytics.settings import WorkerSettings
from analytics.store import Store
from analytics.windows import ClosedWindow
from analytics.worker.aggregator import seconds_since_epoch
from analytics.worker.columns import profile_fields
from analytics.worker.decode import Decoded, FastDecoder
from analytics.worker.decode_process import DecodeProcess, DecodeProcessError, available
from analytics.worker.gather import Gatherer, Summary
from analytics.worker.health import IngestMetrics, WorkerMetrics
from analytics.worker.partition import IncomingRecord, PartitionConfig, PartitionWorker
from ingest.contract.registry import ProviderRegistry
from ingest.contract.topics import DLQ_TOPIC, EVENTS_TOPIC

log = logging.getLogger("flockview.worker")
DECODE_PROCESS_RETRY_S = 60.0  # after the decode process fails, decode in the worker this long

SUMMARIES_TOPIC = "flockview.summaries.v1"  # internal: exact per-partition counts; workers only
ReleaseSink = Callable[[ClosedWindow], None]

__all__ = ["SUMMARIES_TOPIC", "IncomingRecord", "ReleaseSink", "WorkerRuntime"]


class WorkerRuntime:
    """Verification, aggregation, durable state and release for one worker process.

    Args:
        settings: the worker's settings.
        release_sink: where whole windows go. Only tests pass one (see ``tests/integration``); a
            deployed worker always releases through OpenDP into the store, and no setting changes that.
    """

    def __init__(self, settings: WorkerSettings, release_sink: ReleaseSink | None = None) -> None:
        self.settings = settings
        self.metrics = IngestMetrics()
        # Operators only (a Prometheus endpoint, served by analytics.stream.app.serve_metrics), never the store.
        self.exporter = WorkerMetrics(settings.app_id)
        self.families = load_families(settings.families)
        self.config = PartitionConfig(
            self.families,
            settings.window_size,
            settings.lateness,
            timedelta(seconds=settings.max_clock_skew_seconds),
            ProviderRegistry.from_toml(settings.registry),
            self.metrics,
            DLQ_TOPIC,
            SUMMARIES_TOPIC,
        )
        self.store = Store(settings.store)
        self.releaser = Releaser(
            self.store,
            self.families,
            settings.budget_policy,
            period=settings.window_size,
        )
        self.release_sink: ReleaseSink = release_sink or self._release
        self.partitions: dict[int, PartitionWorker] = {}
        self.gatherer = Gatherer()
        self.pending: list[ClosedWindow] = []
        # Partition state (aggregators, SQLite state, metrics) is touched only from this thread, so the event
        # loop keeps fetching while a batch is counted.
        self.state_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flockview-state")
        # The next batch is verified and decoded here while the state thread counts the last one
        # (the decoder keeps only a cache of model families seen, so it needs no partition state).
        self.decode_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flockview-decode")
        self.decoder = FastDecoder(self.config.registry, profile_fields(self.families))
        # With decode_process, that thread hands the work to a child process (started on first use).
        self.decode_process: DecodeProcess | None = None
        self._decode_process_wanted = settings.decode_process and available()
        self._decode_process_retry_at = 0.0
        # DuckDB allows one open handle per file and process: every store write goes through this thread.
        self.store_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flockview-store")
        # Reports are written beside releasing, so a slow report never holds up the next release.
        self.report_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flockview-report")
        self._report_running: Future[object] | None = None

    # --- partitions -------------------------------------------------------------------------------------------
    def assign(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            if p not in self.partitions:
                self.partitions[p] = PartitionWorker(EVENTS_TOPIC, p, self.settings.partition_state_dir, self.config)

    def rebalance(self, owned: set[int]) -> None:
        """Own exactly ``owned``: close the partitions no longer assigned, open the new ones."""
        self.revoke(set(self.partitions) - owned)
        self.assign(sorted(owned))

    def health(self, lag: float | None) -> tuple[IngestMetrics, dict[str, float]]:
        """This interval's counters (reset) and the gauges, taken together and added to the metrics endpoint."""
        taken, gauges = self.metrics.take(), self.gauges(lag)
        self.exporter.record(taken, gauges)
        return taken, gauges

    def revoke(self, partitions: Iterable[int]) -> None:
        for p in partitions:
            worker = self.partitions.pop(p, None)
            if worker is not None:
                worker.close()

    def process(
        self,
        records: Sequence[IncomingRecord],
        now: datetime | None = None,
        decoded: Future[dict[int, Decoded]] | None = None,
    ) -> int:
        """Count a batch; each partition's part is committed with its last offset in one write.

        Records of partitions this worker does not own (revoked while buffered) are left to the new owner.
        ``decoded`` is :meth:`decode_ahead` of the same records. Returns how many dead letters the batch
        added to the outbox.
        """
        try:
            ahead = decoded.result() if decoded is not None else {}
        except Exception:  # a bug in decoding: each partition decodes (and isolates bad records) itself
            log.exception("this is a bug: decoding a batch ahead failed; decoding it again per partition")
            ahead = {}
        at = now or datetime.now(UTC)
        dead = 0
        for p, part in _by_partition(records).items():
            worker = self.partitions.get(p)
            if worker is None:
                log.warning("skipping %d records of partition %d, which this worker does not own", len(part), p)
                continue
            dead += worker.process(part, at, ahead.get(p))
        return dead

    def decode_ahead(self, records: Sequence[IncomingRecord]) -> dict[int, Decoded]:
        """The fast decoder's answer for each partition's part of a batch, worked out on the decode thread.

        It runs while the state thread counts the batch before, in the decode process when there is one
        (:mod:`analytics.worker.decode_process`), else on this thread. Decoding depends on no partition
        state; records a partition then finds it applied before are decoded again there (rare: replays).
        """
        latest = seconds_since_epoch(datetime.now(UTC) + self.config.max_clock_skew)
        parts = {p: [(r.value, r.headers) for r in part] for p, part in _by_partition(records).items()}
        decode = self._child_decoder() or self.decoder.decode_many
        try:
            return {p: decode(part, latest, p) for p, part in parts.items()}
        except DecodeProcessError:
            log.warning(
                "the decode process failed; decoding in the worker for %.0f s, then starting a new one",
                DECODE_PROCESS_RETRY_S,
                exc_info=True,
            )
            self._decode_process_retry_at = time.monotonic() + DECODE_PROCESS_RETRY_S
            return {p: self.decoder.decode_many(part, latest, p) for p, part in parts.items()}

    def _child_decoder(self) -> Callable[..., Decoded] | None:
        """The decode process's ``decode_many``, started on first use; None when it is not wanted, cannot
        start, or rests after a failure."""
        if not self._decode_process_wanted or time.monotonic() < self._decode_process_retry_at:
            return None
        if self.decode_process is None:
            try:
                self.decode_process = DecodeProcess(self.config.registry, self.decoder.fields)
            except (OSError, DecodeProcessError):
                log.warning("could not start a decode process; decoding in the worker", exc_info=True)
                self._decode_process_retry_at = time.monotonic() + DECODE_PROCESS_RETRY_S
                return None
            log.info("decoding in a child process (pid %s)", self.decode_process.pid)
        return self.decode_process.decode_many

    def close(self) -> None:
        """Stop the decode process, if one runs (it also exits by itself when this process ends), and the metrics endpoint."""
        if self.decode_process is not None:
            self.decode_process.close()
        self.exporter.stop()

    def close_due(self, now: datetime | None = None) -> None:
        at = now or datetime.now(UTC)
        for worker in self.partitions.values():
            worker.close_due(at)

    def outbox(self) -> list[tuple[int, int, str, bytes]]:
        """(partition, id, topic, message) still to publish, per partition oldest first."""
        return [(p, i, topic, msg) for p, w in list(self.partitions.items()) for i, topic, msg in w.outbox()]

    def ack(self, partition: int, ids: list[int]) -> None:
        worker = self.partitions.get(partition)
        if worker is not None:
            worker.ack(ids)

    # --- gathering and release ----------------------------------------------------------------------------------
    def gather(self, message: bytes | None) -> None:
        try:
            self.gatherer.add(Summary.decode(message or b""))
        except (ValueError, KeyError, TypeError) as exc:
            log.error("ignoring a malformed message on %s: %s", SUMMARIES_TOPIC, exc)

    def whole_windows(self, partitions: Iterable[int]) -> list[ClosedWindow]:
        """Windows every partition has closed, plus any whose release failed before."""
        ready, self.pending = self.pending + self.gatherer.ready(partitions), []
        return ready

    def release(self, closed: ClosedWindow) -> None:
        """Hand one whole window to the sink; on failure keep it for the next round."""
        try:
            self.release_sink(closed)
        except Exception:
            log.exception("releasing window %s failed; will retry", closed.window.label())
            self.pending.append(closed)

    def _release(self, closed: ClosedWindow) -> None:
        outcomes = self.releaser.release(closed)
        summary = ", ".join(f"{o.family}={o.status}" for o in outcomes)
        log.info("window %s closed: %s", closed.window.label(), summary)
        reports = self.settings.reports_dir
        if reports is not None and closed.window.end - closed.window.start == self.settings.window_size:
            if self._report_running is not None and not self._report_running.done():
                # Only with demo-sized windows: a week-long window never closes while its predecessor's
                # report is still being written. The dashboard and `report weekly` still cover it.
                log.info("report of window %s skipped: the previous one is still being written", closed.window.label())
                return
            # Never raises; writes only once every family of the window is released, and only once.
            self._report_running = self.report_executor.submit(
                generate_if_week_released,
                self.settings.store,
                closed.window,
                reports,
                self.settings.report_formats.split(","),
            )

    # --- health ---------------------------------------------------------------------------------------------------
    def gauges(self, lag: float | None = None) -> dict[str, float]:
        gauges = {
            "open_windows": 0.0,
            "active_actor_windows": 0.0,
            "state_bytes": 0.0,
            "partitions_owned": float(len(self.partitions)),
        }
        for worker in self.partitions.values():
            for name, value in worker.gauges().items():
                gauges[name] += value
        if lag is not None:
            gauges["consumer_lag"] = lag
        return gauges


def _by_partition(records: Iterable[IncomingRecord]) -> dict[int, list[IncomingRecord]]:
    parts: dict[int, list[IncomingRecord]] = {}
    for record in records:
        parts.setdefault(record.partition, []).append(record)
    return parts
