"""Year-to-date totals per category by continual release: the binary-tree (hierarchical) mechanism.

Weeks of a calendar year are the leaves of a dyadic tree (index 0 = the first week starting in the
year). When week ``t`` closes, every node that ends at ``t`` is complete: the leaf, and the level-ℓ
node over weeks ``t-2^ℓ+1 … t`` when ``2^ℓ`` divides ``t+1``. Each complete node's exact per-category
sum gets independent discrete Gaussian noise from OpenDP (:func:`analytics.privacy.gaussian.draw`) and is
stored in ``tree_nodes``. The year-to-date estimate through week ``t`` is the sum of the O(log T)
noisy nodes of the dyadic decomposition of ``[0, t]`` (at most one per level), stored in
``cumulative`` with its interval. Its variance is (number of nodes) · σ², instead of t · σ² for a
sum of weekly releases.

Budget: one user-week's events lie in exactly one node per level, so the tree costs
``levels · ρ_node`` per user-week, whenever those nodes are released. The ledger charges it once,
when the week itself is released, as one row per level (``family:ytd:L<level>``); nodes completed
later spend nothing new, and the weekly YTD lines never re-spend.

Private state: completing a node needs the exact sums of its earlier weeks. They are kept only as
per-(level, category) partial sums of the open nodes (at most one open node per level), in memory
and, if a path is given, in a private JSON file beside the worker's state (mode 0600) — never in
DuckDB. If that state is lost, a node whose weeks were released before the loss is not released; the
estimate then uses that node's children instead (wider interval, still correct and private).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypedDict

from analytics.privacy.budget import RhoBudget
from analytics.privacy.gaussian import GaussianPlan, draw, interval_half_width
from analytics.store import Connection, releases, tree
from analytics.windows import Window, window_of

MECHANISM = "binary_tree_discrete_gaussian_zcdp"
Node = tuple[int, int]  # (level, index)


@dataclass(frozen=True)
class TreeLayout:
    """The dyadic tree over the privacy periods (weeks) of one calendar year."""

    period: timedelta

    @property
    def leaves(self) -> int:
        """Most period starts a calendar year can hold (53 for weeks)."""
        return math.ceil(timedelta(days=366) / self.period)

    @property
    def levels(self) -> int:
        """Levels 0 … levels-1 suffice for every prefix of a year (6 for weeks)."""
        return max(1, math.ceil(math.log2(self.leaves)))

    def first_start(self, year: int) -> datetime:
        jan1 = datetime(year, 1, 1, tzinfo=UTC)
        window = window_of(jan1, self.period)
        return window.start if window.start >= jan1 else window.end

    def leaf(self, window: Window) -> tuple[int, int]:
        """(year, index) of a period's leaf."""
        year = window.start.year
        return year, int((window.start - self.first_start(year)) / self.period)

    def span(self, year: int, node: Node) -> Window:
        level, idx = node
        start = self.first_start(year) + self.period * (idx << level)
        return Window(start, start + self.period * (1 << level))

    def completed_at(self, index: int) -> list[Node]:
        """Nodes whose last leaf is ``index``."""
        return [(level, index >> level) for level in range(self.levels) if (index + 1) % (1 << level) == 0]

    def prefix(self, index: int) -> list[Node]:
        """The dyadic decomposition of leaves ``0 … index``: at most one node per level."""
        nodes, pos, n = [], 0, index + 1
        for level in reversed(range(self.levels)):
            if n & (1 << level):
                nodes.append((level, pos >> level))
                pos += 1 << level
        return nodes


class OpenNode(TypedDict):
    """The exact sums of one open node so far: which leaves (weeks) they hold, and one sum per category."""

    leaves: list[int]
    sums: list[int]


class TreeState:
    """Exact partial sums of the open nodes. Private: memory and an optional 0600 JSON file, never DuckDB."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.sums: dict[str, OpenNode] = {}
        if path is not None and path.is_file():
            self.sums = json.loads(path.read_text())

    @staticmethod
    def key(family: str, year: int, node: Node) -> str:
        return f"{family}|{year}|{node[0]}|{node[1]}"

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.sums, fh)
        os.replace(tmp, self.path)


@dataclass(frozen=True)
class ContinualRelease:
    """A family's year-to-date release: the layout and the calibrated noise of every node."""

    family: str
    categories: Sequence[str]
    layout: TreeLayout
    plan: GaussianPlan  # per node; the tree spends plan.cost per level per user-week

    @property
    def cost_per_week(self) -> RhoBudget:
        """What the tree charges each user-week: one node per level."""
        return self.plan.cost * self.layout.levels

    def release_week(
        self,
        con: Connection,
        sums: dict[str, OpenNode],
        window: Window,
        exact: Mapping[tuple[str, ...], int],
        now: datetime,
    ) -> None:
        """Add the week's exact counts to the open nodes, release the completed nodes, store the YTD line.

        ``sums`` is a copy of :attr:`TreeState.sums`, updated in place; the caller keeps it only once
        the store transaction has committed, so a failed release never counts a week twice.
        """
        year, index = self.layout.leaf(window)
        week = [int(exact.get((c,), 0)) for c in self.categories]
        for node in self.layout.completed_at(index) + self._open_nodes(index):
            entry = sums.setdefault(
                TreeState.key(self.family, year, node), {"leaves": [], "sums": [0] * len(self.categories)}
            )
            if index not in entry["leaves"]:
                entry["leaves"] = [*entry["leaves"], index]
                entry["sums"] = [a + b for a, b in zip(entry["sums"], week, strict=True)]
        for node in self.layout.completed_at(index):
            entry = sums.pop(TreeState.key(self.family, year, node))
            if self._complete(con, year, node, set(entry["leaves"])):
                self._write_node(con, year, node, draw(self.plan, entry["sums"]))
        self._write_estimate(con, year, index, window, now)

    def _open_nodes(self, index: int) -> list[Node]:
        done = set(self.layout.completed_at(index))
        return [(lv, index >> lv) for lv in range(self.layout.levels) if (lv, index >> lv) not in done]

    def _complete(self, con: Connection, year: int, node: Node, seen: set[int]) -> bool:
        """Whether every leaf is in the state, or provably empty (never released: no events that week)."""
        span = self.layout.span(year, node)
        released = releases.starts_between(con, self.family, span.start, span.end)
        return all(self.layout.leaf(Window(start, start + self.layout.period))[1] in seen for start in released)

    def _write_node(self, con: Connection, year: int, node: Node, noisy: list[int]) -> None:
        span = self.layout.span(year, node)
        level, idx = node
        rows = [
            tree.NodeRow(
                self.family, year, level, idx, span.start, span.end, c, float(v), self.plan.scale, self.plan.rho
            )
            for c, v in zip(self.categories, noisy, strict=True)
        ]
        tree.insert_nodes(con, rows)

    def _node_values(
        self, stored: Mapping[Node, dict[str, float]], ancestors: set[Node], node: Node
    ) -> tuple[dict[str, float], int]:
        """Noisy sums over a node's span and how many noisy nodes they add; falls back to the children.

        Only nodes with a stored descendant are descended into, so a missing high node (a year that began
        before the first release, or lost state) costs O(levels), not one look-up per leaf.
        """
        if node in stored:
            return stored[node], 1
        level, idx = node
        if level == 0 or node not in ancestors:
            return {}, 0  # nothing released under this node: no events in its weeks
        total: dict[str, float] = {}
        used = 0
        for child in ((level - 1, 2 * idx), (level - 1, 2 * idx + 1)):
            values, n = self._node_values(stored, ancestors, child)
            used += n
            for c, v in values.items():
                total[c] = total.get(c, 0.0) + v
        return total, used

    def _stored_nodes(self, con: Connection, year: int) -> tuple[dict[Node, dict[str, float]], set[Node]]:
        """Every stored noisy node of the year, and every node above one of them."""
        stored: dict[Node, dict[str, float]] = {}
        for level, idx, category, value in tree.node_values(con, self.family, year):
            stored.setdefault((level, idx), {})[category] = value
        ancestors = {(up, idx >> (up - level)) for level, idx in stored for up in range(level + 1, self.layout.levels)}
        return stored, ancestors

    def _write_estimate(self, con: Connection, year: int, index: int, window: Window, now: datetime) -> None:
        sums: dict[str, float] = {}
        n_nodes = 0
        stored, ancestors = self._stored_nodes(con, year)
        for node in self.layout.prefix(index):
            values, n = self._node_values(stored, ancestors, node)
            n_nodes += n
            for c, v in values.items():
                sums[c] = sums.get(c, 0.0) + v
        sigma = self.plan.scale * math.sqrt(max(n_nodes, 1))
        half = interval_half_width(sigma, self.plan.alpha)
        rows = [
            tree.CumulativeRow(
                self.family,
                year,
                window.start,
                window.end,
                c,
                max(v, 0.0),
                max(v - half, 0.0),
                max(v + half, 0.0),
                v - half <= 0,
                MECHANISM,
                sigma,
                self.cost_per_week.rho,
                n_nodes,
                now,
            )
            for c in self.categories
            for v in [sums.get(c, 0.0)]
        ]
        tree.insert_cumulative(con, rows)
