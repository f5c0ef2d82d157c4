"""Tumbling windows on the event's own timestamp."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

#: A report cell: one value per dimension of its family, in the family's dimension order.
Cell = tuple[str, ...]

#: One privacy period in production (the user-week), and the length of a "week" window.
WEEK = timedelta(days=7)

EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday, so week windows run Monday to Monday (UTC)
EPOCH_TS = EPOCH.timestamp()  # the same instant as POSIX seconds: event times are kept as seconds since EPOCH


@dataclass(frozen=True, order=True)
class Window:
    start: datetime
    end: datetime

    def label(self) -> str:
        if self.end - self.start == WEEK:
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start:%Y-%m-%d %H:%M:%S}Z"


def window_of(ts: datetime, size: timedelta) -> Window:
    """The tumbling window of ``size`` that holds ``ts`` (aligned to Monday 1970-01-05 00:00 UTC)."""
    seconds = size.total_seconds()
    index = (ts - EPOCH).total_seconds() // seconds
    start = EPOCH + timedelta(seconds=index * seconds)
    return Window(start, start + size)


@dataclass
class ClosedWindow:
    """The hand-off from the stream to the release step: bounded exact counts of one closed window.

    ``counts[family][cell]`` is the family's metric for ``cell`` after contribution bounding; cells
    absent from the mapping count zero. Never stored, never logged: only the release step reads it.
    """

    window: Window
    counts: dict[str, dict[Cell, int]] = field(default_factory=dict)
