"""Contribution bounding: each actor adds at most L events to a cell and touches at most K cells.

Plain Python, no Kafka or Faust: this is what the release step's sensitivity rests on. Events are
taken first come, first kept; the excess is dropped and counted as an operational metric.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable


class ContributionBounder:
    """Bounded per-cell counts for one report family and one window."""

    __slots__ = ("bound_k", "bound_l", "contributions", "counts", "dropped")

    def __init__(self, bound_k: int, bound_l: int) -> None:
        self.bound_k = bound_k
        self.bound_l = bound_l
        self.contributions: dict[str, dict[Hashable, int]] = {}
        self.counts: Counter[Hashable] = Counter()
        self.dropped = 0

    def add(self, actor: str, cell: Hashable) -> bool:
        """Count one event of ``actor`` in ``cell``; False if the bounds drop it."""
        cells = self.contributions.setdefault(actor, {})
        used = cells.get(cell)
        if used is None:
            if len(cells) >= self.bound_k:
                self.dropped += 1
                return False
            used = 0
        elif used >= self.bound_l:
            self.dropped += 1
            return False
        cells[cell] = used + 1
        self.counts[cell] += 1
        return True
