"""Windowed, bounded counting of one source partition: the stream's state, in plain Python.

The stream layer feeds verified events in batches and asks for the windows whose end plus allowed
lateness the watermark has passed. Families are grouped in *lanes* by window kind (a week, or a
day = a seventh of the configured window). Per lane and window the state is: each active actor's
compact contribution state (:class:`analytics.bounding.CompactBounds`), the event ids seen (for
exact duplicate removal, :class:`analytics.seen.SeenIds`) and the bounded counts per cell.

Exact counts live only here, in the worker's private state store, and in the closed-window
summaries that go to the release step; never in logs or the analyst store.
"""

from __future__ import annotations

import math
from operator import attrgetter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from analytics.bounding import CompactBounds, FamilyLayout, touch
from analytics.families import ReportFamily
from analytics.gather import window_at
from analytics.health import IngestMetrics
from analytics.seen import SeenIds
from analytics.windows import EPOCH, ClosedWindow, Window
from ingest.events import Event

_EVENT_FIELDS = frozenset(Event.model_fields)
Touches = tuple[tuple[int, "FamilyLayout", tuple[int, ...]], ...]
_CACHE_LIMIT = 100_000  # distinct dimension values remembered per family before its cache is reset


def _inputs(family: ReportFamily) -> tuple[str, ...]:
    """The event fields ``family.cells_of`` reads: its dimensions that are event fields, and the action."""
    return tuple(d for d in family.dimensions if d in _EVENT_FIELDS) + ("action",)


def actor_key(actor: str) -> bytes:
    """An actor's key in the state: the first 128 bits of its 256-bit pseudonym."""
    return bytes.fromhex(actor[:32])


_EPOCH_TS = EPOCH.timestamp()


def seconds_since_epoch(ts: datetime) -> float:
    """Seconds from :data:`analytics.windows.EPOCH` to ``ts`` (aware). Microsecond times stay far from
    rounding across a window boundary, so window indexes agree with :func:`analytics.windows.window_of`."""
    return ts.timestamp() - _EPOCH_TS


class WindowState:
    """One lane's state for one window."""

    __slots__ = ("actors", "counts", "seen")

    def __init__(self, bounds: CompactBounds) -> None:
        self.actors: dict[bytes, bytearray] = {}
        self.seen = SeenIds()
        self.counts = bounds.new_counts()


class Lane:
    """Families sharing one window size, with their open windows (keyed by window index)."""

    def __init__(self, lane_id: int, families: Sequence[ReportFamily], size: timedelta) -> None:
        self.lane_id = lane_id
        self.families = list(families)
        self.size = size
        self.size_s = size.total_seconds()
        self.bounds = CompactBounds(self.families)
        self.windows: dict[int, WindowState] = {}
        self.closed_before = -(1 << 62)  # windows with a lower index are closed
        # Families grouped by the event fields their cells depend on; per group a cache from those fields'
        # values to each member's (family, layout, cell indexes) as ``family.cells_of`` gives them (the
        # definition: the cache only saves recomputing it).
        groups: dict[tuple[str, ...], list[int]] = {}
        for f, family in enumerate(self.families):
            groups.setdefault(_inputs(family), []).append(f)
        self.plans: list[tuple[Callable[[Event], object], dict[object, Touches], list[int]]] = [
            (attrgetter(*inputs), {}, members) for inputs, members in groups.items()]

    def plan(self, g: int, event: Event) -> Touches:
        """Group ``g``'s touches for ``event``: (family, layout, cells) for each member with cells."""
        key_of, cache, members = self.plans[g]
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        layouts, cell_index = self.bounds.layouts, self.bounds.cell_index
        touches = []
        for f in members:
            cells = tuple(cell_index(f, c) for c in self.families[f].cells_of(event))
            if cells:
                touches.append((f, layouts[f], cells))
        cache[key_of(event)] = found = tuple(touches)
        return found

    def window(self, index: int) -> Window:
        return window_at(index, self.size_s)

    def closed(self, index: int) -> ClosedWindow:
        state = self.windows.get(index)
        counts = state.counts if state else self.bounds.new_counts()
        return ClosedWindow(self.window(index), self.bounds.cell_counts(counts))


@dataclass
class Delta:
    """What changed since the last :meth:`WindowAggregator.take_delta`, for the durable state store."""

    actors: dict[tuple[int, int], set[bytes]] = field(default_factory=dict)  # (lane, window) -> actors touched
    new_ids: dict[tuple[int, int], list[bytes]] = field(default_factory=dict)  # (lane, window) -> ids added
    closed: list[tuple[int, int]] = field(default_factory=list)  # (lane, window) closed

    def __bool__(self) -> bool:
        return bool(self.actors or self.new_ids or self.closed)


def lanes_for(families: Sequence[ReportFamily], week: timedelta) -> list[Lane]:
    """One lane per window kind in use, longest first: "week" is ``week``, "day" a seventh of it."""
    sizes = {"week": week, "day": week / 7}
    kinds = sorted({getattr(f, "window", "week") for f in families}, key=lambda k: -sizes[k].total_seconds())
    return [Lane(i, [f for f in families if getattr(f, "window", "week") == kind], sizes[kind])
            for i, kind in enumerate(kinds)]


class WindowAggregator:
    """Tumbling windows on event time, exact duplicate removal and contribution bounding for one partition.

    Args:
        families: the report families.
        window_size: the "week" window (a day window is a seventh of it).
        lateness: how long after a window's end events for it are still accepted.
        metrics: where aggregate counters go (shared by a worker's partitions).
    """

    def __init__(self, families: Sequence[ReportFamily], window_size: timedelta, lateness: timedelta,
                 metrics: IngestMetrics | None = None) -> None:
        self.families = list(families)
        self.lateness_s = lateness.total_seconds()
        self.metrics = metrics or IngestMetrics()
        self.lanes = lanes_for(self.families, window_size)
        self.max_event_time = -math.inf  # seconds since EPOCH
        self.delta = Delta()

    @property
    def open_windows(self) -> list[Window]:
        return sorted(lane.window(i) for lane in self.lanes for i in lane.windows)

    def add(self, event: Event) -> None:
        self.add_batch([event])

    def add_batch(self, events: Iterable[Event]) -> None:
        """Count a batch of verified events (in partition order)."""
        by_window: dict[tuple[int, int], list[tuple[bytes, bytes, Event]]] = {}
        primary = self.lanes[0]
        events_in = self.metrics.events_in
        for event in events:
            events_in[event.provider] += 1
            t = seconds_since_epoch(event.occurred_at)
            if t > self.max_event_time:
                self.max_event_time = t
            item = (actor_key(event.actor), event.event_id.bytes, event)
            for lane in self.lanes:
                index = int(t // lane.size_s)
                if index < lane.closed_before:
                    if lane is primary:
                        self.metrics.late += 1
                    continue
                by_window.setdefault((lane.lane_id, index), []).append(item)
        for key, items in by_window.items():
            self._count_window(key, items)

    def _count_window(self, key: tuple[int, int], items: list[tuple[bytes, bytes, Event]]) -> None:
        lane = self.lanes[key[0]]
        state = lane.windows.get(key[1])
        if state is None:
            state = lane.windows[key[1]] = WindowState(lane.bounds)
        fresh = state.seen.add_new([eid for _, eid, _ in items])
        new_ids = self.delta.new_ids.setdefault(key, [])
        touched = self.delta.actors.setdefault(key, set())
        actors, counts, plans = state.actors, state.counts, lane.plans
        dropped = [0] * len(lane.families)
        for (actor, eid, event), is_new in zip(items, fresh, strict=True):
            if not is_new:
                if lane.lane_id == 0:
                    self.metrics.duplicates += 1
                continue
            new_ids.append(eid)
            actor_state = actors.get(actor)
            if actor_state is None:
                actor_state = actors[actor] = lane.bounds.new_state()
            touched.add(actor)
            for g, (key_of, cache, _) in enumerate(plans):
                found = cache.get(key_of(event))
                if found is None:
                    found = lane.plan(g, event)
                for f, layout, cells in found:
                    for cell in cells:
                        if touch(actor_state, layout, cell, counts[f]):
                            dropped[f] += 1
        for f, n in enumerate(dropped):
            if n:
                self.metrics.dropped_by_bounding[lane.families[f].name] += n

    def watermark(self, now: datetime) -> float:
        """Event time (seconds since EPOCH) up to which windows are complete: the newest event or the clock.

        Events stamped after ``now`` plus the allowed clock skew are refused before they get here,
        so the wall clock is a safe lower bound for the event time still to come.
        """
        return max(self.max_event_time, seconds_since_epoch(now))

    def close_ready(self, now: datetime | None = None) -> list[ClosedWindow]:
        """Close and return every window whose end plus allowed lateness the watermark has passed."""
        return [closed for _, _, closed in self.close_ready_by_lane(now)]

    def close_ready_by_lane(self, now: datetime | None = None) -> list[tuple[Lane, int, ClosedWindow]]:
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

