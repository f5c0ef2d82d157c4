"""Contribution bounding: each actor touches at most K cells and adds a bounded amount to each.

Plain Python, no Kafka or Faust: this is what the release step's sensitivity rests on. Cells are
taken first come, first kept (in the actor's event order, which Kafka keeps per partition); an
actor's contribution to a cell follows the family's metric (:meth:`ReportFamily.contribution`):
at most L events for event counts, 0 or 1 for the actor-counting metrics. The excess is dropped
and counted as an operational metric.

Two implementations of the one rule:

* :class:`ContributionBounder` — one family, dictionaries, written to be read. It is the reference
  the tests and the batch recomputation use.
* :class:`CompactBounds` — every family of a window at once, for the stream worker. One actor's
  state in one window is a single ``bytearray``: per family ``K`` fixed slots of
  (cell index: 3 bytes, qualifying events so far: 1 or 2 bytes), about 4 bytes per slot, so the
  shipped families need 68 bytes per actor-window. A slot with a zero count is free.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from analytics.families import ReportFamily
from analytics.windows import Cell

_INDEX_BYTES = 3
MAX_CELLS = 1 << (8 * _INDEX_BYTES)  # cells a family's key space may have in the compact layout


class ContributionBounder:
    """Bounded per-cell values of one report family in one window (the readable reference)."""

    __slots__ = ("contributions", "counts", "dropped", "family")

    def __init__(self, family: ReportFamily) -> None:
        self.family = family
        self.contributions: dict[str, dict[Cell, int]] = {}
        self.counts: Counter[Cell] = Counter()
        self.dropped = 0

    def add(self, actor: str, cell: Cell) -> bool:
        """Count one qualifying event of ``actor`` in ``cell``; False if the bounds drop it."""
        family = self.family
        cells = self.contributions.setdefault(actor, {})
        used = cells.get(cell)
        if used is None:
            if len(cells) >= family.bound_k:
                self.dropped += 1
                return False
            used = 0
        elif used >= family.saturation:
            if family.metric == "event_count":
                self.dropped += 1
                return False
            return True  # already counted; further events change nothing
        cells[cell] = used + 1
        self.counts[cell] += family.contribution(used + 1) - family.contribution(used)
        return True


@dataclass(frozen=True)
class FamilyLayout:
    """Where one family's K slots sit in an actor's state, and what a qualifying event adds."""

    family: ReportFamily
    offset: int
    slot: int  # bytes per slot: 3 for the cell index, then 1 or 2 for the count
    count_bytes: int
    gains: tuple[int, ...]  # gains[n]: what the n-th qualifying event adds to its cell (n = 1..saturation)
    drops_excess: bool  # event counts drop events past L; the other metrics ignore them

    @property
    def end(self) -> int:
        return self.offset + self.slot * self.family.bound_k

    @cached_property
    def positions(self) -> tuple[int, ...]:
        return tuple(range(self.offset, self.end, self.slot))

    @cached_property
    def saturation(self) -> int:
        return len(self.gains) - 1

    @cached_property
    def excess(self) -> int:
        """What touching a saturated cell drops: 1 event for event counts, nothing otherwise."""
        return 1 if self.drops_excess else 0


class CompactBounds:
    """The compact per-actor state layout of a set of families, and the bounding rule applied to it.

    Cells are indexed per family: by position in ``family.keys`` for public key spaces, in order of
    first sight for open vocabularies (``new_vocab`` lists those for the state store). Window counts
    are one ``defaultdict`` per family keyed by cell index.
    """

    def __init__(self, families: Sequence[ReportFamily]) -> None:
        layouts, offset = [], 0
        for family in families:
            if len(family.keys) >= MAX_CELLS:
                raise ValueError(f"family {family.name} has {len(family.keys)} cells; the worker supports "
                                 f"fewer than {MAX_CELLS}")
            sat = family.saturation
            count_bytes = 1 if sat < 256 else 2
            gains = (0, *(family.contribution(n) - family.contribution(n - 1) for n in range(1, sat + 1)))
            layout = FamilyLayout(family, offset, _INDEX_BYTES + count_bytes, count_bytes, gains,
                                  family.metric == "event_count")
            layouts.append(layout)
            offset = layout.end
        self.layouts: tuple[FamilyLayout, ...] = tuple(layouts)
        self.state_size = offset
        # Cell <-> index per family: the public key space, or (open vocabularies) interned as seen.
        self.vocab: list[list[Cell]] = [list(f.keys) for f in families]
        self.index: list[dict[Cell, int]] = [dict(f.key_index) if f.keys else {} for f in families]
        self.new_vocab: list[tuple[int, int, Cell]] = []  # (family, index, cell) interned since last taken

    def cell_index(self, f: int, cell: Cell) -> int:
        """The index of ``cell`` in family ``f``; an open-vocabulary family interns new values."""
        found = self.index[f].get(cell)
        if found is not None:
            return found
        family = self.layouts[f].family
        if not family.open_vocabulary:
            raise RuntimeError(f"this is a bug: cell {cell} of family {family.name} is outside its key space")
        vocab = self.vocab[f]
        if len(vocab) >= MAX_CELLS - 1:
            raise RuntimeError(f"family {family.name} has seen {len(vocab)} distinct values in one partition; "
                               f"the worker keeps fewer than {MAX_CELLS}")
        self.intern(f, len(vocab), cell)
        self.new_vocab.append((f, len(vocab) - 1, cell))
        return len(vocab) - 1

    def intern(self, f: int, index: int, cell: Cell) -> None:
        """Record an open-vocabulary value at ``index`` (restoring state: indexes come in order)."""
        if index != len(self.vocab[f]):
            raise RuntimeError(f"this is a bug: vocabulary index {index} of family {f} out of order")
        self.vocab[f].append(cell)
        self.index[f][cell] = index

    def new_state(self) -> bytearray:
        return bytearray(self.state_size)

    def new_counts(self) -> list[defaultdict[int, int]]:
        return [defaultdict(int) for _ in self.layouts]

    def cell_counts(self, counts: list[defaultdict[int, int]]) -> dict[str, dict[Cell, int]]:
        """A window's counts as the hand-off wants them: family -> cell -> value, zeros left out."""
        return {layout.family.name: {self.vocab[f][i]: n for i, n in sorted(counts[f].items()) if n}
                for f, layout in enumerate(self.layouts)}

    def apply(self, state: bytearray, touches: Sequence[Sequence[int]], counts: list[defaultdict[int, int]]) -> int:
        """Apply one event: ``touches[f]`` are its cell indexes in family ``f``. Returns the cells dropped."""
        return sum(self.apply_family(state, f, cells, counts[f]) for f, cells in enumerate(touches) if cells)

    def apply_family(self, state: bytearray, f: int, cells: Sequence[int], counts: defaultdict[int, int]) -> int:
        """Apply one event's cells of family ``f`` to an actor's state and the window's counts; returns drops."""
        layout = self.layouts[f]
        return sum(touch(state, layout, cell, counts) for cell in cells)

    def add_state_to(self, state: bytes | bytearray, counts: list[defaultdict[int, int]]) -> None:
        """Add one actor's contributions to ``counts`` (rebuilding a window's counts after a restart)."""
        for f, layout in enumerate(self.layouts):
            contribution, target = layout.family.contribution, counts[f]
            for pos in range(layout.offset, layout.end, layout.slot):
                used = _read_count(state, pos, layout.count_bytes)
                if used:
                    target[_read_index(state, pos)] += contribution(used)

    def cells_of(self, state: bytes | bytearray, f: int) -> dict[int, int]:
        """Family ``f``'s slots of one actor: cell index -> qualifying events counted (for tests and checks)."""
        layout = self.layouts[f]
        out = {}
        for pos in range(layout.offset, layout.end, layout.slot):
            used = _read_count(state, pos, layout.count_bytes)
            if used:
                out[_read_index(state, pos)] = used
        return out


def _read_index(state: bytes | bytearray, pos: int) -> int:
    return state[pos] | state[pos + 1] << 8 | state[pos + 2] << 16


def _read_count(state: bytes | bytearray, pos: int, count_bytes: int) -> int:
    used = state[pos + 3]
    return used | state[pos + 4] << 8 if count_bytes == 2 else used


def touch(state: bytearray, layout: FamilyLayout, cell: int, counts: defaultdict[int, int]) -> int:
    """One qualifying event of the actor in ``cell`` of ``layout``'s family: 1 if the bounds drop it, else 0."""
    if layout.count_bytes == 2:
        return _touch_wide(state, layout, cell, counts)
    b0, b1, b2 = cell & 0xFF, (cell >> 8) & 0xFF, cell >> 16
    for pos in layout.positions:
        used = state[pos + 3]
        if not used:  # a free slot: the actor's next cell (slots fill in order, so the cell is new)
            state[pos], state[pos + 1], state[pos + 2], state[pos + 3] = b0, b1, b2, 1
            counts[cell] += layout.gains[1]
            return 0
        if state[pos] == b0 and state[pos + 1] == b1 and state[pos + 2] == b2:
            if used >= layout.saturation:
                return layout.excess
            state[pos + 3] = used + 1
            counts[cell] += layout.gains[used + 1]
            return 0
    return 1  # K cells taken by others


def _touch_wide(state: bytearray, layout: FamilyLayout, cell: int, counts: defaultdict[int, int]) -> int:
    """:func:`touch` for families whose per-cell counts need two bytes (saturation over 255)."""
    for pos in layout.positions:
        used = state[pos + 3] | state[pos + 4] << 8
        if used and _read_index(state, pos) != cell:
            continue
        if not used:
            state[pos], state[pos + 1], state[pos + 2] = cell & 0xFF, (cell >> 8) & 0xFF, cell >> 16
        elif used >= layout.saturation:
            return layout.excess
        state[pos + 3], state[pos + 4] = (used + 1) & 0xFF, (used + 1) >> 8
        counts[cell] += layout.gains[used + 1]
        return 0
    return 1
