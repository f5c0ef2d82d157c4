"""Windowed, bounded counting: the stream's state, in plain Python.

The stream layer feeds verified events in and asks for the windows whose end plus allowed lateness
the watermark has passed. Exact counts live only here, in memory, and go only to the release step.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from analytics.bounding import ContributionBounder
from analytics.families import ReportFamily
from analytics.windows import ClosedWindow, Window, window_of
from ingest.events import Event

log = logging.getLogger(__name__)


@dataclass
class IngestMetrics:
    """Operational counters over all actors; none of them describes an individual."""

    events_in: int = 0
    duplicates: int = 0
    late: int = 0
    dropped_by_bounding: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        rejected = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items())) or "none"
        return (f"events_in={self.events_in} duplicates={self.duplicates} late={self.late} "
                f"dropped_by_bounding(event x family)={self.dropped_by_bounding} rejected: {rejected}")



class _WindowState:
    __slots__ = ("bounders", "seen")

    def __init__(self, families: list[ReportFamily]) -> None:
        self.seen: set[uuid.UUID] = set()
        self.bounders = {f.name: ContributionBounder(f) for f in families}


class WindowAggregator:
    """Tumbling windows on event time, with duplicate removal and contribution bounding."""

    def __init__(self, families: list[ReportFamily], window_size: timedelta, lateness: timedelta) -> None:
        self.families = families
        self.window_size = window_size
        self.lateness = lateness
        self.metrics = IngestMetrics()
        self._open: dict[Window, _WindowState] = {}
        self._closed_until = datetime.min.replace(tzinfo=UTC)
        self._max_event_time = datetime.min.replace(tzinfo=UTC)

    @property
    def open_windows(self) -> list[Window]:
        return sorted(self._open)

    def add(self, event: Event) -> None:
        self.metrics.events_in += 1
        window = window_of(event.occurred_at, self.window_size)
        if window.end <= self._closed_until:
            self.metrics.late += 1
            return
        state = self._open.get(window)
        if state is None:
            state = self._open[window] = _WindowState(self.families)
        if event.event_id in state.seen:
            self.metrics.duplicates += 1
            return
        state.seen.add(event.event_id)
        self._max_event_time = max(self._max_event_time, event.occurred_at)
        for family in self.families:
            bounder = state.bounders[family.name]
            for cell in family.cells_of(event):
                if not bounder.add(event.actor, cell):
                    self.metrics.dropped_by_bounding += 1

    def watermark(self, now: datetime) -> datetime:
        """Event time up to which windows are complete: the later of the newest event and the clock.

        Events stamped after ``now`` plus the allowed clock skew are refused before they get here,
        so the wall clock is a safe lower bound for the event time still to come.
        """
        return max(self._max_event_time, now)

    def close_ready(self, now: datetime | None = None) -> list[ClosedWindow]:
        """Close and return every window whose end plus allowed lateness the watermark has passed."""
        mark = self.watermark(now or datetime.now(UTC))
        ready = sorted(w for w in self._open if w.end + self.lateness <= mark)
        closed = []
        for window in ready:
            state = self._open.pop(window)
            counts = {f.name: {c: n for c, n in state.bounders[f.name].counts.items() if n} for f in self.families}
            closed.append(ClosedWindow(window, counts))
            self._closed_until = max(self._closed_until, window.end)
        return closed
