"""The release step: ask the ledger, add OpenDP noise, post-process, write one store transaction.

The rule that must hold: per family and window the budget is charged first
(:func:`analytics.privacy.ledger.charge`), in the same store transaction that writes the release; a
request over a cap is refused, audited, and changes nothing else. A window is released at most
once per family (the releases table is keyed by family and window), so restarts never spend budget
twice.

A release plan is one of two kinds. :class:`GaussianRelease`: public key spaces get the discrete
Gaussian on every cell (plus a consistent total where the family has one), and weekly families with
a year-to-date weight also advance their continual release (:mod:`analytics.privacy.continual`).
:class:`ThresholdRelease`: open vocabularies go through DP partition selection
(:mod:`analytics.privacy.selection`).

Windows: a "week" family is released on windows one privacy period long, a "day" family on windows
a seventh of it; a day family's weekly share is split evenly over its seven days.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

import pandas as pd

from analytics.errors import BudgetExceededError, FamilySpecError
from analytics.families import PUBLIC_DIMENSIONS, ReportFamily
from analytics.privacy.budget import ApproxDPBudget, RhoBudget
from analytics.privacy.continual import ContinualRelease, TreeLayout, TreeState
from analytics.privacy.gaussian import GaussianPlan, draw, plan_gaussian
from analytics.privacy.ledger import BudgetPolicy, LedgerEntry, charge
from analytics.privacy.postprocess import cells_frame, selected_frame
from analytics.privacy.selection import ThresholdPlan, plan_threshold, select
from analytics.store import Store, audit, releases
from analytics.windows import ClosedWindow, Window, window_of

__all__ = [
    "PRIVACY_UNIT",
    "BudgetPolicy",
    "GaussianRelease",
    "ReleaseOutcome",
    "ReleasePlan",
    "Releaser",
    "ThresholdRelease",
]

log = logging.getLogger(__name__)

PRIVACY_UNIT = "one actor (pseudonym) of one provider, per privacy period (user-week in production)"
_DAYS_PER_PERIOD = 7  # a day family's window is a seventh of the privacy period


@dataclass(frozen=True)
class ReleaseOutcome:
    """What became of one family's window: "released", "already_released" or "refused" (with the reason)."""

    family: str
    window: Window
    status: str
    detail: str = ""


@dataclass(frozen=True)
class GaussianRelease:
    """A family over public keys: discrete Gaussian noise on every cell, and optionally a year-to-date tree."""

    kind: ClassVar[Literal["gaussian"]] = "gaussian"
    family: ReportFamily
    gaussian: GaussianPlan
    continual: ContinualRelease | None = None

    @property
    def cost(self) -> RhoBudget:
        """What one window charges: the cells, plus the tree's levels when there is one."""
        tree = self.continual.cost_per_week if self.continual is not None else RhoBudget.ZERO
        return self.gaussian.cost + tree

    @property
    def rho(self) -> float:
        """:attr:`cost` as a number."""
        return self.cost.rho

    @property
    def main(self) -> GaussianPlan:
        """The plan of the cells' noise (the one the ``releases`` row describes)."""
        return self.gaussian

    def ledger_entries(self, window: Window, period_start: datetime) -> list[LedgerEntry]:
        """The charges of one window: the cells, and one per level of the year-to-date tree."""
        name, g = self.family.name, self.gaussian
        entries = [LedgerEntry(name, "cells", window, period_start, g.cost, g.equivalent)]
        if self.continual is not None:
            node = self.continual.plan
            entries += [
                LedgerEntry(f"{name}:ytd:L{level}", "ytd_level", window, period_start, node.cost, node.equivalent)
                for level in range(self.continual.layout.levels)
            ]
        return entries

    def cells(self, release_id: str, window: Window, exact: dict[tuple[str, ...], int]) -> pd.DataFrame:
        """The noisy, post-processed rows of ``cells`` for one window."""
        family = self.family
        values = [exact.get(key, 0) for key in family.keys]
        if family.total:
            values.append(sum(values))
        return cells_frame(family, release_id, window, self.gaussian, draw(self.gaussian, values))


@dataclass(frozen=True)
class ThresholdRelease:
    """A family over an open vocabulary: only the keys DP partition selection lets through are released."""

    kind: ClassVar[Literal["threshold"]] = "threshold"
    family: ReportFamily
    threshold: ThresholdPlan

    @property
    def cost(self) -> RhoBudget:
        """What one window charges."""
        return self.threshold.cost

    @property
    def rho(self) -> float:
        """:attr:`cost` as a number."""
        return self.cost.rho

    @property
    def main(self) -> ThresholdPlan:
        """The plan the ``releases`` row describes."""
        return self.threshold

    def ledger_entries(self, window: Window, period_start: datetime) -> list[LedgerEntry]:
        """The one charge of a window's selection; the row's δ is the selection's own."""
        t = self.threshold
        stated = ApproxDPBudget(t.epsilon, t.selection_delta)
        return [LedgerEntry(self.family.name, "selection", window, period_start, t.cost, stated)]

    def cells(self, release_id: str, window: Window, exact: dict[tuple[str, ...], int]) -> pd.DataFrame:
        """The rows of ``cells`` for the keys that passed the threshold."""
        return selected_frame(self.family, release_id, window, self.threshold, select(self.threshold, exact))


#: How one family is released on one window length: one of two kinds, never both, never neither.
ReleasePlan = GaussianRelease | ThresholdRelease


class Releaser:
    """Turns closed windows into noisy releases in the store.

    Args:
        store: the writing side of the DuckDB store.
        families: the report families to release.
        policy: the budget caps.
        period: the privacy period (a week in production). When None, every window is a full period
            (the demo's short windows) and day families are refused.
        tree_state: private file for the continual release's open-node sums (memory only when None).
    """

    def __init__(
        self,
        store: Store,
        families: list[ReportFamily],
        policy: BudgetPolicy,
        period: timedelta | None = None,
        tree_state: Path | None = None,
    ) -> None:
        if period is None and any(f.window == "day" for f in families):
            raise FamilySpecError("day families need the Releaser's privacy period (period=...)")
        self.store, self.families, self.policy, self.period = store, families, policy, period
        self.total_weight = sum(f.weight + (f.year_to_date_weight or 0.0) for f in families)
        self.tree_state = TreeState(tree_state)

    def plan(self, family: ReportFamily, period: timedelta) -> ReleasePlan:
        """The calibrated mechanisms of ``family`` for windows of a privacy period of length ``period``."""
        return _plan(family, period, self.policy, self.total_weight)

    def release(self, closed: ClosedWindow) -> list[ReleaseOutcome]:
        """Release every family whose window kind matches ``closed``; refusals are outcomes, not errors."""
        kind, period = self._kind(closed.window)
        outcomes = []
        for family in (f for f in self.families if f.window == kind):
            try:
                outcome = self._release_family(family, closed, period)
            except BudgetExceededError as exc:
                self.store.audit("worker", "release_refused", str(exc))
                log.error("%s", exc)
                outcome = ReleaseOutcome(family.name, closed.window, "refused", str(exc))
            outcomes.append(outcome)
        return outcomes

    def _kind(self, window: Window) -> tuple[str, timedelta]:
        length = window.end - window.start
        if self.period is None or length == self.period:
            return "week", self.period or length
        if length * _DAYS_PER_PERIOD == self.period:
            return "day", self.period
        raise ValueError(
            f"window {window.label()} lasts {length}; accepted: the privacy period {self.period} "
            f"(week families) or a seventh of it (day families)"
        )

    def _release_family(self, family: ReportFamily, closed: ClosedWindow, period: timedelta) -> ReleaseOutcome:
        window, plan = closed.window, self.plan(family, period)
        release_id = f"{family.name}@{window.start.isoformat()}"
        continual = plan.continual if isinstance(plan, GaussianRelease) else None
        sums = copy.deepcopy(self.tree_state.sums)
        with self.store.transaction() as con:
            if releases.exists(con, release_id):
                return ReleaseOutcome(family.name, window, "already_released")
            entries = plan.ledger_entries(window, window_of(window.start, period).start)
            now = datetime.now(UTC)
            charge(con, entries, self.policy, f"{family.name} for window {window.label()}", now)
            exact = closed.counts.get(family.name, {})
            n_cells = releases.insert_cells(con, plan.cells(release_id, window, exact))
            releases.insert(con, _release_row(plan, release_id, window, now, n_cells))
            if continual is not None:
                continual.release_week(con, sums, window, exact, now)
            audit.insert(con, now, "worker", "released", f"{release_id} rho={plan.rho:.6g} cells={n_cells}")
        if continual is not None:
            self.tree_state.sums = sums
            self.tree_state.save()
        log.info("released %s for window %s (rho=%.4g)", family.name, window.label(), plan.rho)
        return ReleaseOutcome(family.name, window, "released")


def _release_row(
    plan: ReleasePlan, release_id: str, window: Window, now: datetime, n_cells: int
) -> releases.ReleaseRow:
    family, main = plan.family, plan.main
    return releases.ReleaseRow(
        release_id=release_id,
        family=family.name,
        window_start=window.start,
        window_end=window.end,
        released_at=now,
        privacy_unit=PRIVACY_UNIT,
        metric=family.metric,
        mechanism=main.mechanism,
        bound_k=family.bound_k,
        bound_l=family.bound_l,
        sensitivity_l2=family.sensitivity_l2,
        scale=main.scale,
        rho=main.rho,
        epsilon=main.epsilon,
        delta=main.delta,
        alpha=main.alpha,
        interval_half_width=main.half_width,
        n_cells=n_cells,
        threshold=plan.threshold.threshold if isinstance(plan, ThresholdRelease) else None,
        window_kind=family.window,
    )


@lru_cache(maxsize=256)
def _plan(family: ReportFamily, period: timedelta, policy: BudgetPolicy, total_weight: float) -> ReleasePlan:
    spend = policy.period_spend(period)
    share = spend.share(family.weight, total_weight)
    if family.window == "day":
        share = share / _DAYS_PER_PERIOD
    if family.open_vocabulary:
        return ThresholdRelease(family, plan_threshold(family.bound_k, family.per_cell_bound, share))
    continual = None
    if family.year_to_date_weight is not None:
        layout = TreeLayout(period)
        per_level = spend.share(family.year_to_date_weight, total_weight) / layout.levels
        node_plan = plan_gaussian(family.per_cell_bound * family.bound_k**0.5, per_level)
        continual = ContinualRelease(family.name, PUBLIC_DIMENSIONS["category"], layout, node_plan)
    return GaussianRelease(family, plan_gaussian(family.sensitivity_l2, share), continual)
