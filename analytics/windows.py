"""Tumbling windows on the event's own timestamp."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday, so week windows run Monday to Monday (UTC)


@dataclass(frozen=True, order=True)
class Window:
    start: datetime
    end: datetime

    def label(self) -> str:
        if self.end - self.start == timedelta(days=7):
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{self.start:%Y-%m-%d %H:%M:%S}Z"


def window_of(ts: datetime, size: timedelta) -> Window:
    """The tumbling window of ``size`` that holds ``ts`` (aligned to Monday 1970-01-05 00:00 UTC)."""
    seconds = size.total_seconds()
    index = (ts - EPOCH).total_seconds() // seconds
    start = EPOCH + timedelta(seconds=index * seconds)
    return Window(start, start + size)
