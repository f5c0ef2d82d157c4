"""The worker's state and steps, kept apart from Faust so they read (and test) as plain Python."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analytics.aggregator import WindowAggregator
from analytics.windows import ClosedWindow
from analytics.families import load_families
from analytics.release import Releaser
from analytics.settings import WorkerSettings
from analytics.store import Store
from analytics.stream.verify import verify_record
from ingest.registry import ProviderRegistry

log = logging.getLogger("flockview.worker")


@dataclass(frozen=True)
class IncomingRecord:
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str
    partition: int
    offset: int


class WorkerRuntime:
    """Verification, aggregation and release for one worker process."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.registry = ProviderRegistry.from_toml(settings.registry)
        families = load_families(settings.families)
        self.aggregator = WindowAggregator(families, settings.window_size, settings.lateness)
        self.releaser = Releaser(Store(settings.store), families, settings.budget_policy)
        self.pending: list[ClosedWindow] = []

    def process(self, records: Iterable[IncomingRecord]) -> list[bytes]:
        """Verify and count a batch of records; returns the dead-letter messages to send."""
        dead_letters = []
        for record in records:
            verified = verify_record(record.value, record.headers, self.registry, self.max_clock_skew)
            for rejection in verified.rejections:
                self.aggregator.metrics.rejected[rejection.reason_code] += 1
                dead_letters.append(rejection.to_dlq(record.value, record.topic, record.partition, record.offset))
            for event in verified.events:
                self.aggregator.add(event)
        return dead_letters

    @property
    def max_clock_skew(self) -> timedelta:
        return timedelta(seconds=self.settings.max_clock_skew_seconds)

    def collect_closed(self, now: datetime | None = None) -> list[ClosedWindow]:
        """Windows ready for release, including any whose release failed before."""
        self.pending.extend(self.aggregator.close_ready(now or datetime.now(UTC)))
        ready, self.pending = self.pending, []
        return ready

    def release(self, closed: ClosedWindow) -> None:
        """Release one closed window; on a store failure keep it for the next tick."""
        try:
            outcomes = self.releaser.release(closed)
        except Exception:
            log.exception("releasing window %s failed; will retry", closed.window.label())
            self.pending.append(closed)
            return
        summary = ", ".join(f"{o.family}={o.status}" for o in outcomes)
        log.info("window %s closed: %s", closed.window.label(), summary)
