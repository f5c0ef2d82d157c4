"""The stream worker's contribution bounds: every family of one window, a batch at a time, with numpy.

Actors are rows; per family each row has ``K`` slots of (cell index, qualifying events so far),
filled in order, a zero count meaning free: 3 bytes per slot for public key spaces (2 for the
index, 1 for the count). :class:`Vocabulary` numbers each family's cells.

The rule that must hold: :meth:`WindowBounds.apply` gives exactly the sequential rule of
:class:`analytics.privacy.bounding.ContributionBounder` for a batch of touches: a cell the actor
already holds takes events up to the saturation; a new cell gets a slot if the actor's slots before
the batch plus the new cells it touched earlier in the batch are fewer than K.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.families import ReportFamily
from analytics.windows import Cell

MAX_CELLS = 1 << 31  # cells a family may have (open vocabularies: distinct values seen in one partition)
_GROWTH = 1.25


@dataclass(frozen=True)
class SlotLayout:
    """How one family's slots are stored and what its qualifying events add."""

    family: ReportFamily
    k: int
    saturation: int
    contrib: np.ndarray  # contrib[n]: an actor's contribution to a cell with n qualifying events (n ≤ saturation)
    drops_excess: bool  # event counts drop events past L; the other metrics ignore them
    cell_dtype: np.dtype
    count_dtype: np.dtype

    @classmethod
    def of(cls, family: ReportFamily) -> SlotLayout:
        sat = family.saturation
        small = not family.open_vocabulary and len(family.keys) < (1 << 16)
        return cls(
            family,
            family.bound_k,
            sat,
            np.array([family.contribution(n) for n in range(sat + 1)], np.int64),
            family.metric == "event_count",
            np.dtype(np.uint16 if small else np.uint32),
            np.dtype(np.uint8 if sat < 256 else np.uint16),
        )

    @property
    def row_bytes(self) -> int:
        return self.k * (self.cell_dtype.itemsize + self.count_dtype.itemsize)


class Vocabulary:
    """Each family's cells numbered: by position in ``family.keys`` for public key spaces, in order of
    first sight for open vocabularies (``new_vocab`` lists those for the state store)."""

    def __init__(self, families: Sequence[ReportFamily]) -> None:
        self.families = list(families)
        self.plans = [SlotLayout.of(f) for f in self.families]
        self.vocab: list[list[Cell]] = [list(f.keys) for f in self.families]
        self.index: list[dict[Cell, int]] = [dict(f.key_index) if f.keys else {} for f in self.families]
        self.new_vocab: list[tuple[int, int, Cell]] = []  # (family, index, cell) interned since last taken
        self.row_bytes = sum(p.row_bytes for p in self.plans)

    def cell_index(self, f: int, cell: Cell) -> int:
        """The index of ``cell`` in family ``f``; an open-vocabulary family interns new values."""
        found = self.index[f].get(cell)
        if found is not None:
            return found
        family = self.families[f]
        if not family.open_vocabulary:
            raise RuntimeError(f"this is a bug: cell {cell} of family {family.name} is outside its key space")
        vocab = self.vocab[f]
        if len(vocab) >= MAX_CELLS - 1:
            raise RuntimeError(
                f"family {family.name} has seen {len(vocab)} distinct values in one partition; "
                f"the worker keeps fewer than {MAX_CELLS}"
            )
        self.intern(f, len(vocab), cell)
        self.new_vocab.append((f, len(vocab) - 1, cell))
        return len(vocab) - 1

    def intern(self, f: int, index: int, cell: Cell) -> None:
        """Record an open-vocabulary value at ``index`` (restoring state: indexes come in order)."""
        if index != len(self.vocab[f]):
            raise RuntimeError(f"this is a bug: vocabulary index {index} of family {f} out of order")
        self.vocab[f].append(cell)
        self.index[f][cell] = index

    def cell_counts(self, counts: Sequence[np.ndarray]) -> dict[str, dict[Cell, int]]:
        """A window's counts as the hand-off wants them: family -> cell -> value, zeros left out."""
        return {
            family.name: {self.vocab[f][i]: int(counts[f][i]) for i in np.nonzero(counts[f])[0]}
            for f, family in enumerate(self.families)
        }


class WindowBounds:
    """Every family's slots for the actors (rows) of one window, and the window's bounded counts."""

    __slots__ = ("capacity", "cells", "counts", "plans", "used")

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.plans = vocabulary.plans
        self.capacity = 0
        self.cells = [np.zeros((0, p.k), p.cell_dtype) for p in self.plans]
        self.used = [np.zeros((0, p.k), p.count_dtype) for p in self.plans]
        self.counts = [np.zeros(len(vocabulary.vocab[f]), np.int64) for f in range(len(self.plans))]

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.cells) + sum(a.nbytes for a in self.used) + sum(c.nbytes for c in self.counts)

    def ensure_rows(self, rows: int) -> None:
        """Room for ``rows`` actors (grown by a quarter at a time, so copies stay amortised)."""
        if rows <= self.capacity:
            return
        capacity = max(rows, int(self.capacity * _GROWTH), 256)
        for f in range(len(self.plans)):
            for arrays in (self.cells, self.used):
                grown = np.zeros((capacity, self.plans[f].k), arrays[f].dtype)
                grown[: self.capacity] = arrays[f]
                arrays[f] = grown
        self.capacity = capacity

    def apply(self, f: int, rows: np.ndarray, cells: np.ndarray) -> int:
        """Apply family ``f``'s touches (actor row, cell index), in event order; returns the events dropped."""
        if not len(rows):
            return 0
        plan = self.plans[f]
        keys = rows.astype(np.int64) << 32 | cells.astype(np.int64)
        uniq, first, n = np.unique(keys, return_index=True, return_counts=True)
        g_rows, g_cells = uniq >> 32, uniq & 0xFFFFFFFF
        held_cells, held = self.cells[f][g_rows], self.used[f][g_rows].astype(np.int64)
        match = (held_cells == g_cells[:, None]) & (held > 0)
        found = match.any(axis=1)
        slot = match.argmax(axis=1)
        prior = np.where(found, held[np.arange(len(uniq)), slot], 0)
        accepted = found.copy()
        new = np.nonzero(~found)[0]
        if len(new):  # a new cell takes the next free slot, in order of first touch, while slots last
            new = new[np.lexsort((first[new], g_rows[new]))]
            r = g_rows[new]
            run_start = np.ones(len(new), bool)
            run_start[1:] = r[1:] != r[:-1]
            rank = np.arange(len(new)) - np.maximum.accumulate(np.where(run_start, np.arange(len(new)), 0))
            target = (held[new] > 0).sum(axis=1) + rank
            accepted[new] = target < plan.k
            slot[new] = np.minimum(target, plan.k - 1)
        take = np.where(accepted, np.minimum(n, plan.saturation - prior), 0)
        now = prior + take
        dropped = int(n[~accepted].sum())
        if plan.drops_excess:
            dropped += int((n - take)[accepted].sum())
        a = np.nonzero(accepted)[0]
        self.cells[f][g_rows[a], slot[a]] = g_cells[a]
        self.used[f][g_rows[a], slot[a]] = now[a]
        self._add(f, g_cells[a], plan.contrib[now[a]] - plan.contrib[prior[a]])
        return dropped

    def _add(self, f: int, cells: np.ndarray, gains: np.ndarray) -> None:
        if not len(cells):
            return
        counts = self.counts[f]
        size = int(cells.max()) + 1
        if size > len(counts):  # an open vocabulary grew
            counts = self.counts[f] = np.concatenate((counts, np.zeros(size - len(counts), np.int64)))
        counts += np.bincount(cells, weights=gains, minlength=len(counts)).astype(np.int64)

    def dump(self, rows: np.ndarray) -> bytes:
        """The slots of ``rows``, for the state store: per family, the cell indexes, then the counts."""
        return b"".join(arrays[f][rows].tobytes() for f in range(len(self.plans)) for arrays in (self.cells, self.used))

    def load(self, rows: np.ndarray, blob: bytes) -> None:
        """Set the slots of ``rows`` from :meth:`dump` output (counts are rebuilt by :meth:`recount`)."""
        self.ensure_rows(int(rows.max()) + 1 if len(rows) else 0)
        at = 0
        for f, plan in enumerate(self.plans):
            for arrays, dtype in ((self.cells, plan.cell_dtype), (self.used, plan.count_dtype)):
                size = len(rows) * plan.k * dtype.itemsize
                arrays[f][rows] = np.frombuffer(blob, dtype, len(rows) * plan.k, at).reshape(len(rows), plan.k)
                at += size
        if at != len(blob):
            raise ValueError(f"slot data of {len(blob)} bytes does not fit {len(rows)} rows of these families")

    def recount(self) -> None:
        """Rebuild the window's counts from every row's slots (restoring state)."""
        for f, plan in enumerate(self.plans):
            used = self.used[f].astype(np.int64)
            live = used > 0
            self.counts[f][:] = 0
            self._add(f, self.cells[f][live].astype(np.int64), plan.contrib[used[live]])

    def slots_of(self, row: int, f: int) -> dict[int, int]:
        """Family ``f``'s slots of one actor: cell index -> qualifying events counted (for tests and checks)."""
        if row >= self.capacity:
            return {}
        return {int(c): int(u) for c, u in zip(self.cells[f][row], self.used[f][row], strict=True) if u}
