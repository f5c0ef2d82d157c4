"""Windowed, bounded counting of one source partition: the stream's state, in plain Python and numpy.

The stream layer feeds verified events in batches (:class:`analytics.worker.columns.EventBatch`) and asks
for the windows whose end plus allowed lateness the watermark has passed. Families are grouped in
*lanes* by window kind (a week, or a day = a seventh of the configured window). Per lane and window
the state is: the actors' rows (:class:`analytics.worker.keys.KeyIndex`), their contribution slots and the
bounded counts per cell (:class:`analytics.worker.slots.WindowBounds`). Duplicates are removed by
(provider, actor, event id), whose keys (:func:`analytics.worker.columns.dedupe_keys`) are kept per
window of the longest lane (:class:`analytics.worker.keys.SeenIds`): a shorter window lies inside one
of its windows, closes no later, and so needs no keys of its own. Two providers, or two actors, may
use the same event id: both events count.

Exact counts live only here, in the worker's private state store, and in the closed-window
summaries that go to the release step; never in logs or the analyst store.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from analytics.families import ReportFamily
from analytics.windows import EPOCH_TS, ClosedWindow, Window
from analytics.worker.columns import EventBatch, Profiles, profile_fields
from analytics.worker.gather import GatheredWindow, window_at
from analytics.worker.health import IngestMetrics
from analytics.worker.keys import KeyIndex, SeenIds
from analytics.worker.slots import Vocabulary, WindowBounds
from ingest.contract.events import Event


def seconds_since_epoch(ts: datetime) -> float:
    """Seconds from :data:`analytics.windows.EPOCH` to ``ts`` (aware). Microsecond times stay far from
    rounding across a window boundary, so window indexes agree with :func:`analytics.windows.window_of`."""
    return ts.timestamp() - EPOCH_TS


class WindowState:
    """One lane's state for one window: actor rows, their slots and counts, and (longest lane) the ids seen."""

    __slots__ = ("actors", "bounds", "logged_bytes", "partition_counts", "seen")

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.actors = KeyIndex()
        self.bounds = WindowBounds(vocabulary)
        self.seen = SeenIds()
        self.logged_bytes = 0  # slot data written to the state store's log since its last snapshot
        self.partition_counts: set[int] = set()  # the partition counts the window's events were signed for

    @property
    def nbytes(self) -> int:
        return self.actors.nbytes + self.bounds.nbytes + self.seen.nbytes


class Lane:
    """Families sharing one window size, with their open windows (keyed by window index)."""

    def __init__(self, lane_id: int, families: Sequence[ReportFamily], size: timedelta) -> None:
        self.lane_id = lane_id
        self.families = list(families)
        self.size = size
        self.size_s = size.total_seconds()
        self.vocab = Vocabulary(self.families)
        self.windows: dict[int, WindowState] = {}
        self.closed_before = -(1 << 62)  # windows with a lower index are closed

    def window(self, index: int) -> Window:
        return window_at(index, self.size_s)

    def state(self, index: int) -> WindowState:
        state = self.windows.get(index)
        if state is None:
            state = self.windows[index] = WindowState(self.vocab)
        return state

    def closed(self, index: int) -> GatheredWindow:
        state = self.windows.get(index)
        counts = state.bounds.counts if state else WindowBounds(self.vocab).counts
        signed = frozenset(state.partition_counts) if state else frozenset()
        return GatheredWindow(self.window(index), self.vocab.cell_counts(counts), partition_counts=signed)


@dataclass
class Delta:
    """What changed since the last :meth:`WindowAggregator.take_delta`, for the durable state store."""

    actors: dict[tuple[int, int], list[tuple[np.ndarray, np.ndarray]]] = field(default_factory=dict)  # keys, rows
    new_ids: dict[tuple[int, int], list[np.ndarray]] = field(default_factory=dict)  # (lane, window) -> ids added
    closed: list[tuple[int, int]] = field(default_factory=list)  # (lane, window) closed
    partition_counts: set[tuple[int, int]] = field(default_factory=set)  # (lane, window) signed for a new count

    def __bool__(self) -> bool:
        return bool(self.actors or self.new_ids or self.closed or self.partition_counts)

    def touched(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """The distinct actors touched in one window: their keys and rows."""
        parts = self.actors.get(key, [])
        if not parts:
            return np.zeros((0, 2), np.uint64), np.zeros(0, np.int64)
        keys, rows = np.concatenate([k for k, _ in parts]), np.concatenate([r for _, r in parts])
        rows, first = np.unique(rows, return_index=True)
        return keys[first], rows


def lanes_for(families: Sequence[ReportFamily], week: timedelta) -> list[Lane]:
    """One lane per window kind in use, longest first: "week" is ``week``, "day" a seventh of it."""
    sizes = {"week": week, "day": week / 7}
    kinds = sorted({getattr(f, "window", "week") for f in families}, key=lambda k: -sizes[k].total_seconds())
    return [
        Lane(i, [f for f in families if getattr(f, "window", "week") == kind], sizes[kind])
        for i, kind in enumerate(kinds)
    ]


class WindowAggregator:
    """Tumbling windows on event time, exact duplicate removal and contribution bounding for one partition.

    Args:
        families: the report families.
        window_size: the "week" window (a day window is a seventh of it).
        lateness: how long after a window's end events for it are still accepted.
        metrics: where aggregate counters go (shared by a worker's partitions).
    """

    def __init__(
        self,
        families: Sequence[ReportFamily],
        window_size: timedelta,
        lateness: timedelta,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self.families = list(families)
        self.lateness_s = lateness.total_seconds()
        self.metrics = metrics or IngestMetrics()
        self.lanes = lanes_for(self.families, window_size)
        self.fields = profile_fields(self.families)
        self.profiles = Profiles(self.fields, [lane.vocab for lane in self.lanes])
        self.max_event_time = -math.inf  # seconds since EPOCH
        self.delta = Delta()

    @property
    def open_windows(self) -> list[Window]:
        return sorted(lane.window(i) for lane in self.lanes for i in lane.windows)

    def add(self, event: Event) -> None:
        self.add_batch([event])

    def add_batch(self, events: Sequence[Event]) -> None:
        """Count a batch of verified events (in partition order)."""
        self.add_columns(EventBatch.from_events(list(events), self.fields))

    def add_columns(self, batch: EventBatch) -> None:
        """Count a batch of verified events given as columns (in partition order)."""
        self.metrics.events_in.update(batch.providers)
        if not len(batch):
            return
        self.max_event_time = max(self.max_event_time, float(batch.t.max()))
        primary = self.lanes[0]
        index = np.floor(batch.t / primary.size_s).astype(np.int64)
        on_time = index >= primary.closed_before
        self.metrics.late += int((~on_time).sum())
        keep = on_time.copy()
        for win in np.unique(index[on_time]).tolist():
            where = np.nonzero(on_time & (index == win))[0]
            fresh = primary.state(win).seen.add_keys(batch.seen[where])
            keep[where[~fresh]] = False
            self.metrics.duplicates += int((~fresh).sum())
            if fresh.any():
                self.delta.new_ids.setdefault((0, win), []).append(batch.seen[where[fresh]])
        profiles = self.profiles.ids(batch.profiles)
        for lane in self.lanes:
            lane_index = index if lane is primary else np.floor(batch.t / lane.size_s).astype(np.int64)
            lane_keep = keep & (lane_index >= lane.closed_before)
            for win in np.unique(lane_index[lane_keep]).tolist():
                where = np.nonzero(lane_keep & (lane_index == win))[0]
                self._count(lane, win, batch.actors[where], profiles[where], batch.partitions[where])

    def _count(self, lane: Lane, win: int, actors: np.ndarray, profiles: np.ndarray, signed: np.ndarray) -> None:
        state = lane.state(win)
        counts = set(np.unique(signed).tolist()) - {0}  # 0: events given directly, not from a record
        if counts - state.partition_counts:
            state.partition_counts |= counts
            self.delta.partition_counts.add((lane.lane_id, win))
        rows = state.actors.rows(actors)
        state.bounds.ensure_rows(len(state.actors))
        self.delta.actors.setdefault((lane.lane_id, win), []).append((actors, rows))
        dropped = self.metrics.dropped_by_bounding
        for f, family in enumerate(lane.families):
            cells = self.profiles.table(lane.lane_id, f)[profiles]
            touched = cells >= 0
            if not touched.any():
                continue
            n = state.bounds.apply(f, np.broadcast_to(rows[:, None], cells.shape)[touched], cells[touched])
            if n:
                dropped[family.name] += n

    def watermark(self, now: datetime) -> float:
        """Event time (seconds since EPOCH) up to which windows are complete: the newest event or the clock.

        Events stamped after ``now`` plus the allowed clock skew are refused before they get here,
        so the wall clock is a safe lower bound for the event time still to come.
        """
        return max(self.max_event_time, seconds_since_epoch(now))

    def close_ready(self, now: datetime | None = None) -> list[ClosedWindow]:
        """Close and return every window whose end plus allowed lateness the watermark has passed."""
        return [closed for _, _, closed in self.close_ready_by_lane(now)]

    def close_ready_by_lane(self, now: datetime | None = None) -> list[tuple[Lane, int, GatheredWindow]]:
        """Like :meth:`close_ready`, with each window's lane and index; advances every lane's ``closed_before``."""
        mark = self.watermark(now or datetime.now(UTC)) - self.lateness_s
        out = []
        for lane in self.lanes:
            closed_before = math.floor(mark / lane.size_s)
            if closed_before <= lane.closed_before:
                continue
            for index in sorted(i for i in lane.windows if i < closed_before):
                out.append((lane, index, lane.closed(index)))
                del lane.windows[index]
                self.delta.closed.append((lane.lane_id, index))
            lane.closed_before = closed_before
        return out

    def take_delta(self) -> Delta:
        delta, self.delta = self.delta, Delta()
        return delta
