"""Sets and indexes of 128-bit keys (event ids, actor keys), kept compactly and checked a batch at a time.

Keys are rows of two ``uint64`` (a 16-byte id read as two little-endian halves). They live in a
few sorted runs, merged like a log-structured merge tree, so a batch is looked up with vectorised
binary searches on the high half; the rare equal high halves are confirmed on the low half, so
every answer is exact. Memory: 16 bytes per key (plus 4 for an index's row number).

* :class:`SeenIds` — the dedupe keys one window has seen (of provider, actor and event id,
  :func:`analytics.worker.columns.dedupe_keys`), for duplicate removal.
* :class:`KeyIndex` — actor keys to dense row numbers (0, 1, 2, … in order of first sight).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ID_BYTES = 16
_NO_ROW = -1


def keys_of(blob: bytes) -> np.ndarray:
    """16-byte keys concatenated in ``blob`` as an (n, 2) ``uint64`` array."""
    return np.frombuffer(blob, dtype="<u8").reshape(-1, 2)


def first_occurrences(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per key of a batch: a mask of first occurrences, and each key's group (index of its first occurrence)."""
    n = len(keys)
    if n == 0:
        return np.zeros(0, bool), np.zeros(0, np.int64)
    order = np.lexsort((keys[:, 1], keys[:, 0]))
    ordered = keys[order]
    starts = np.ones(n, bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    # Within a group of equal keys, the stable lexsort keeps batch order: the group's head is its first occurrence.
    head = order[np.maximum.accumulate(np.where(starts, np.arange(n), 0))]
    group = np.empty(n, np.int64)
    group[order] = head
    return group == np.arange(n), group


class _Runs:
    """Sorted runs of (hi, lo, value) with exact batch lookup."""

    __slots__ = ("count", "runs")

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []  # (high, low, values)
        self.count = 0

    @property
    def nbytes(self) -> int:
        return sum(hi.nbytes + lo.nbytes + (0 if val is None else val.nbytes) for hi, lo, val in self.runs)

    def find(self, keys: np.ndarray) -> np.ndarray:
        """Each key's value, or -1 where the key is absent."""
        out = np.full(len(keys), _NO_ROW, np.int64)
        if not len(keys):
            return out
        hi_q, lo_q = keys[:, 0], keys[:, 1]
        for hi, lo, val in self.runs:
            left = np.searchsorted(hi, hi_q, side="left")
            right = np.searchsorted(hi, hi_q, side="right")
            width = right - left
            one = np.nonzero(width == 1)[0]
            if len(one):
                hit = one[lo[left[one]] == lo_q[one]]
                out[hit] = 0 if val is None else val[left[hit]]
            for i in np.nonzero(width > 1)[0]:  # equal high halves: rare unless the ids were made to collide
                same = np.nonzero(lo[left[i] : right[i]] == lo_q[i])[0]
                if len(same):
                    out[i] = 0 if val is None else val[left[i] + same[0]]
        return out

    def push(self, keys: np.ndarray, values: np.ndarray | None) -> None:
        """Add keys known to be absent and distinct (``values`` None: a set, present keys find 0)."""
        if not len(keys):
            return
        order = np.argsort(keys[:, 0], kind="stable")
        self.runs.append(
            (keys[order, 0].copy(), keys[order, 1].copy(), None if values is None else values[order].copy())
        )
        self.count += len(keys)
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (h1, l1, v1), (h2, l2, v2) = self.runs.pop(), self.runs.pop()
            hi, lo = np.concatenate((h2, h1)), np.concatenate((l2, l1))
            order = np.argsort(hi, kind="stable")
            values = None if v1 is None or v2 is None else np.concatenate((v2, v1))[order]  # one set: all None
            self.runs.append((hi[order], lo[order], values))

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (key, value), keys as an (n, 2) array, in no particular order."""
        if not self.runs:
            return np.zeros((0, 2), np.uint64), np.zeros(0, np.int32)
        keys = np.stack((np.concatenate([r[0] for r in self.runs]), np.concatenate([r[1] for r in self.runs])), axis=1)
        return keys, np.concatenate([r[2] for r in self.runs])  # only an index's runs have values


class SeenIds:
    """A set of 16-byte event ids with batch membership checks."""

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs = _Runs()

    @property
    def count(self) -> int:
        return self._runs.count

    @property
    def nbytes(self) -> int:
        return self._runs.nbytes

    def add_new(self, ids: Sequence[bytes]) -> list[bool]:
        """Record ``ids``; per id, True if it was not seen before (earlier in ``ids`` counts as seen)."""
        if not ids:
            return []
        return self.add_keys(keys_of(b"".join(ids))).tolist()

    def add_keys(self, keys: np.ndarray) -> np.ndarray:
        """:meth:`add_new` for an (n, 2) ``uint64`` array; returns the mask of ids not seen before."""
        first, _ = first_occurrences(keys)
        fresh = first & (self._runs.find(keys) == _NO_ROW)
        self._runs.push(keys[fresh], None)
        return fresh

    def extend_known(self, blob: bytes) -> None:
        """Add ids known to be distinct (restoring state): ``blob`` is the ids concatenated."""
        keys = keys_of(blob)
        self._runs.push(keys, None)


class KeyIndex:
    """16-byte keys to dense row numbers, given in order of first sight."""

    __slots__ = ("_runs",)

    def __init__(self) -> None:
        self._runs = _Runs()

    def __len__(self) -> int:
        return self._runs.count

    @property
    def nbytes(self) -> int:
        return self._runs.nbytes

    def rows(self, keys: np.ndarray) -> np.ndarray:
        """Each key's row; keys not seen before get the next free rows, in order of first occurrence."""
        rows = self._runs.find(keys)
        missing = rows == _NO_ROW
        if missing.any():
            first, group = first_occurrences(keys)
            new = np.nonzero(missing & first)[0]
            fresh_rows = np.arange(len(self), len(self) + len(new), dtype=np.int64)
            self._runs.push(keys[new], fresh_rows.astype(np.int32))
            by_head = np.full(len(keys), _NO_ROW, np.int64)
            by_head[new] = fresh_rows
            rows[missing] = by_head[group[missing]]
        return rows

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """Every (key, row): keys as an (n, 2) array and their rows."""
        keys, rows = self._runs.items()
        return keys, rows.astype(np.int64)
