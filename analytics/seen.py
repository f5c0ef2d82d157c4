"""The event ids one window has seen, kept compactly (16 bytes per id) for exact duplicate removal.

Ids live in a few sorted runs of two ``uint64`` columns (the UUID's halves), merged like a
log-structured merge tree, so a batch is checked with vectorised binary searches on the high half;
the rare equal high halves are confirmed on the low half, so the check is exact.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ID_BYTES = 16


class SeenIds:
    """A set of 16-byte event ids with batch membership checks."""

    __slots__ = ("_runs", "count")

    def __init__(self) -> None:
        self._runs: list[tuple[np.ndarray, np.ndarray]] = []  # (hi sorted, lo) per run
        self.count = 0

    @property
    def nbytes(self) -> int:
        return sum(hi.nbytes + lo.nbytes for hi, lo in self._runs)

    def add_new(self, ids: Sequence[bytes]) -> list[bool]:
        """Record ``ids``; per id, True if it was not seen before (earlier in ``ids`` counts as seen)."""
        if not ids:
            return []
        fresh = [True] * len(ids)
        in_batch: set[bytes] = set()
        for i, raw in enumerate(ids):
            if raw in in_batch:
                fresh[i] = False
            in_batch.add(raw)
        pairs = np.frombuffer(b"".join(ids), dtype="<u8").reshape(-1, 2)
        for hi_run, lo_run in self._runs:
            for i in _hits(hi_run, lo_run, pairs):
                fresh[i] = False
        keep = np.fromiter(fresh, dtype=bool, count=len(fresh))
        if keep.any():
            self._push(pairs[keep])
        return fresh

    def extend_known(self, blob: bytes) -> None:
        """Add ids known to be distinct (restoring state): ``blob`` is the ids concatenated."""
        if blob:
            self._push(np.frombuffer(blob, dtype="<u8").reshape(-1, 2))

    def _push(self, pairs: np.ndarray) -> None:
        order = np.argsort(pairs[:, 0], kind="stable")
        self._runs.append((pairs[order, 0].copy(), pairs[order, 1].copy()))
        self.count += len(pairs)
        while len(self._runs) > 1 and len(self._runs[-2][0]) <= 2 * len(self._runs[-1][0]):
            (h1, l1), (h2, l2) = self._runs.pop(), self._runs.pop()
            hi, lo = np.concatenate((h2, h1)), np.concatenate((l2, l1))
            order = np.argsort(hi, kind="stable")
            self._runs.append((hi[order], lo[order]))


def _hits(hi_run: np.ndarray, lo_run: np.ndarray, pairs: np.ndarray) -> list[int]:
    """Positions in ``pairs`` whose id is in the run."""
    left = np.searchsorted(hi_run, pairs[:, 0], side="left")
    right = np.searchsorted(hi_run, pairs[:, 0], side="right")
    hits = []
    for i in np.nonzero(right > left)[0]:  # equal high halves: rare unless a true duplicate
        if (lo_run[left[i]:right[i]] == pairs[i, 1]).any():
            hits.append(int(i))
    return hits
