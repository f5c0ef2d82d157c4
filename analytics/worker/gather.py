"""Closed-window summaries of source partitions, gathered into whole windows for the release step.

Each source partition of the events topic is counted by whichever worker owns it. When its
watermark closes windows, the partition publishes one *summary* to an internal topic: the exact
bounded counts of the windows it closed and ``closed_before``, the index below which all of its
windows of that size are closed. A window is whole once every partition's ``closed_before`` has
passed it; its counts are then the sum over partitions (an actor's events all live in one
partition, so per-partition bounding is the global bounding). Summaries may arrive twice (a worker
that died after publishing republishes from its outbox); they are identical, and the later one wins.

A summary also carries what the counts depend on, so the release step can refuse what it cannot
vouch for (:func:`analytics.privacy.release.spec_refusals`): per family a hash of the spec it was
bounded with (:func:`analytics.privacy.release.family_spec_hash`: metric, dimensions, K, L,
threshold, actions, window kind and length), and per window the partition counts its events were
signed for. A gathered window (:class:`GatheredWindow`) holds, per family, every spec hash its
summaries named, and the union of their partition counts. Summaries of format v1 carry neither:
they are read, and their windows' families are refused (their bounds cannot be checked).

Plain Python: the stream layer feeds :class:`Gatherer` and hands what it returns to the releaser.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from analytics.windows import EPOCH, Cell, ClosedWindow, Window

SUMMARY_FORMAT = "flockview.summary.v2"  # v2: family spec hashes and per-window partition counts
SUMMARY_FORMAT_V1 = "flockview.summary.v1"  # read, with no spec hashes: the release step refuses its windows
UNKNOWN_SPEC = "unknown (a flockview.summary.v1 summary carries no spec hash)"


def window_at(index: int, size_s: float) -> Window:
    """The window with ``index`` of the tumbling windows of ``size_s`` seconds (aligned to EPOCH)."""
    start = EPOCH + timedelta(seconds=index * size_s)
    return Window(start, start + timedelta(seconds=size_s))


@dataclass
class GatheredWindow(ClosedWindow):
    """A closed window with what its counts depend on: per family the spec hashes of the summaries
    it was gathered from, and the partition counts its events were signed for."""

    specs: dict[str, frozenset[str]] = field(default_factory=dict)
    partition_counts: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Summary:
    """One partition's closed windows of one size, and how far that partition has closed."""

    partition: int
    size_s: float
    closed_before: int
    windows: dict[int, dict[str, dict[Cell, int]]]  # window index -> family -> cell -> bounded value
    specs: dict[str, str] = field(default_factory=dict)  # family -> spec hash (empty: a v1 summary)
    partition_counts: dict[int, tuple[int, ...]] = field(default_factory=dict)  # window index -> signed counts

    def encode(self) -> bytes:
        return json.dumps(
            {
                "format": SUMMARY_FORMAT,
                "partition": self.partition,
                "size_s": self.size_s,
                "closed_before": self.closed_before,
                "specs": self.specs,
                "windows": [
                    {
                        "index": i,
                        "counts": {f: [[list(c), n] for c, n in cells.items()] for f, cells in fam.items()},
                        "partitions": sorted(self.partition_counts.get(i, ())),
                    }
                    for i, fam in sorted(self.windows.items())
                ],
            },
            separators=(",", ":"),
        ).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Summary:
        """Parse a summary (v2, or v1 without spec hashes); raises ValueError for anything that is not one."""
        body = json.loads(raw)
        if not isinstance(body, dict) or body.get("format") not in (SUMMARY_FORMAT, SUMMARY_FORMAT_V1):
            raise ValueError(f"not a {SUMMARY_FORMAT} (or {SUMMARY_FORMAT_V1}) message")
        windows = {
            int(w["index"]): {f: {tuple(c): int(n) for c, n in cells} for f, cells in w["counts"].items()}
            for w in body["windows"]
        }
        specs = {str(f): str(h) for f, h in body.get("specs", {}).items()}
        counts = {int(w["index"]): tuple(int(p) for p in w.get("partitions", ())) for w in body["windows"]}
        return cls(int(body["partition"]), float(body["size_s"]), int(body["closed_before"]), windows, specs, counts)


class Gatherer:
    """Collects summaries until a window is whole, then yields it once (per process)."""

    def __init__(self) -> None:
        self.closed_before: dict[tuple[float, int], int] = {}  # (size, partition) -> index
        self.parts: dict[
            tuple[float, int], dict[int, dict[str, dict[Cell, int]]]
        ] = {}  # (size, index) -> partition -> counts
        # (size, index) -> partition -> (family -> spec hash, signed partition counts)
        self.checks: dict[tuple[float, int], dict[int, tuple[dict[str, str], tuple[int, ...]]]] = {}
        self.emitted: set[tuple[float, int]] = set()

    def add(self, summary: Summary) -> None:
        key = (summary.size_s, summary.partition)
        self.closed_before[key] = max(self.closed_before.get(key, summary.closed_before), summary.closed_before)
        for index, counts in summary.windows.items():
            if (summary.size_s, index) not in self.emitted:
                self.parts.setdefault((summary.size_s, index), {})[summary.partition] = counts
                self.checks.setdefault((summary.size_s, index), {})[summary.partition] = (
                    {f: summary.specs.get(f, UNKNOWN_SPEC) for f in counts} | summary.specs,
                    summary.partition_counts.get(index, ()),
                )

    def ready(self, partitions: Iterable[int]) -> list[ClosedWindow]:
        """Whole windows not yet emitted: every partition in ``partitions`` has closed them."""
        wanted = list(partitions)
        if not wanted:
            return []
        out: list[ClosedWindow] = []  # GatheredWindows
        for size_s, index in sorted(self.parts):
            if all(self.closed_before.get((size_s, p), -(1 << 62)) > index for p in wanted):
                out.append(self._whole(size_s, index))
        return out

    def _whole(self, size_s: float, index: int) -> GatheredWindow:
        total: dict[str, dict[Cell, int]] = {}
        for counts in self.parts.pop((size_s, index)).values():
            for family, cells in counts.items():
                target = total.setdefault(family, {})
                for cell, n in cells.items():
                    target[cell] = target.get(cell, 0) + n
        specs: dict[str, set[str]] = {}
        partition_counts: set[int] = set()
        for hashes, signed in self.checks.pop((size_s, index), {}).values():
            for family, digest in hashes.items():
                specs.setdefault(family, set()).add(digest)
            partition_counts.update(signed)
        self.emitted.add((size_s, index))
        frozen = {family: frozenset(digests) for family, digests in specs.items()}
        return GatheredWindow(window_at(index, size_s), total, frozen, frozenset(partition_counts))
