"""Contribution bounding, the rule the release step's sensitivity rests on: each actor touches at most K
cells and adds a bounded amount to each.

Cells are taken first come, first kept (in the actor's event order, which Kafka keeps per
partition); an actor's contribution to a cell follows the family's metric
(:meth:`ReportFamily.contribution`): at most L events for event counts, 0 or 1 for the
actor-counting metrics. The excess is dropped and counted as an operational metric.

:class:`ContributionBounder` is the reference: one family, dictionaries, written to be read. The
stream worker's vectorised form, :class:`analytics.worker.slots.WindowBounds`, must give exactly
the same counts (hypothesis-tested against this class, however the stream is cut into batches).
"""

from __future__ import annotations

from collections import Counter

from analytics.families import ReportFamily
from analytics.windows import Cell


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
