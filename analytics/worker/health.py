"""Operational metrics of a worker: system totals per interval, written to the store's ``health`` table.

Every figure is a total over all actors for one interval (counters) or a current value (gauges):
events in by provider, records or events rejected by reason, duplicates, late events, events
dropped by contribution bounding (per report family), open windows and consumer lag. None is ever
kept per actor, and none is broken down by an event's dimensions (category, jurisdiction, ...),
so none of them describes an individual.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from analytics.store import Store
from analytics.store import health as health_table

log = logging.getLogger("flockview.worker")


@dataclass
class IngestMetrics:
    """Counters since the last write to the store. Aggregates only."""

    events_in: Counter[str] = field(default_factory=Counter)  # by provider
    rejected: Counter[str] = field(default_factory=Counter)  # by reason code
    dropped_by_bounding: Counter[str] = field(default_factory=Counter)  # by report family
    duplicates: int = 0
    late: int = 0
    skipped_replayed: int = 0  # records at or below a partition's stored offset, seen again after a restart
    batch_failures: int = 0

    def summary(self) -> str:
        """One log line of totals (no per-cell or per-actor figures)."""
        rejected = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items())) or "none"
        return (
            f"events_in={sum(self.events_in.values())} duplicates={self.duplicates} late={self.late} "
            f"dropped_by_bounding(event x family)={sum(self.dropped_by_bounding.values())} "
            f"replayed_records_skipped={self.skipped_replayed} batch_failures={self.batch_failures} "
            f"rejected: {rejected}"
        )

    def take(self) -> IngestMetrics:
        """A copy of the counters, which are reset in place (partitions keep a reference to this object)."""
        snapshot = IngestMetrics(
            Counter(self.events_in),
            Counter(self.rejected),
            Counter(self.dropped_by_bounding),
            self.duplicates,
            self.late,
            self.skipped_replayed,
            self.batch_failures,
        )
        self.events_in.clear()
        self.rejected.clear()
        self.dropped_by_bounding.clear()
        self.duplicates = self.late = self.skipped_replayed = self.batch_failures = 0
        return snapshot

    def merge(self, other: IngestMetrics) -> None:
        """Add ``other``'s counters back (a write that failed)."""
        self.events_in.update(other.events_in)
        self.rejected.update(other.rejected)
        self.dropped_by_bounding.update(other.dropped_by_bounding)
        self.duplicates += other.duplicates
        self.late += other.late
        self.skipped_replayed += other.skipped_replayed
        self.batch_failures += other.batch_failures

    def rows(self) -> list[tuple[str, str, float]]:
        """(metric, label, value) rows of this interval's counters."""
        rows = [("events_in", provider, float(n)) for provider, n in sorted(self.events_in.items())]
        rows += [("rejected", reason, float(n)) for reason, n in sorted(self.rejected.items())]
        rows += [("dropped_by_bounding", family, float(n)) for family, n in sorted(self.dropped_by_bounding.items())]
        rows += [
            ("duplicates", "", float(self.duplicates)),
            ("late", "", float(self.late)),
            ("replayed_records_skipped", "", float(self.skipped_replayed)),
            ("batch_failures", "", float(self.batch_failures)),
        ]
        return rows


def write_health(
    store: Store, worker: str, metrics: IngestMetrics, gauges: dict[str, float], now: datetime | None = None
) -> int:
    """Append one interval of counters and the current gauges to ``health``; returns the rows written."""
    at = now or datetime.now(UTC)
    rows = [(at, worker, metric, label, value) for metric, label, value in metrics.rows()]
    rows += [(at, worker, name, "", float(value)) for name, value in sorted(gauges.items())]
    with store.transaction() as con:
        return health_table.insert(con, rows)
