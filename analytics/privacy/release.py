"""The release step: ask the ledger, add OpenDP noise, post-process, write one DuckDB transaction.

Per family and window: the budget is requested first (:mod:`analytics.privacy.ledger`); a request over a cap
is refused, audited, and changes nothing else. Public key spaces get the discrete Gaussian on every
cell (plus a consistent total where the family has one); open vocabularies go through DP partition
selection (:mod:`analytics.privacy.selection`); weekly families with a year-to-date weight also advance
their continual release (:mod:`analytics.privacy.continual`). A window is released at most once per family
(the releases table is keyed by family and window), so restarts never spend budget twice.

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

import duckdb

from analytics.errors import BudgetExceededError, FamilySpecError
from analytics.families import PUBLIC_DIMENSIONS, ReportFamily
from analytics.privacy.budget import RhoBudget
from analytics.privacy.continual import ContinualRelease, TreeLayout, TreeState
from analytics.privacy.gaussian import GaussianPlan, draw, plan_gaussian
from analytics.privacy.ledger import BudgetPolicy, LedgerEntry, check_caps, record
from analytics.privacy.postprocess import cells_frame, selected_frame
from analytics.privacy.selection import ThresholdPlan, plan_threshold, select
from analytics.store import Store
from analytics.windows import ClosedWindow, Window, window_of

__all__ = ["PRIVACY_UNIT", "BudgetPolicy", "FamilyPlan", "ReleaseOutcome", "Releaser"]

log = logging.getLogger(__name__)

PRIVACY_UNIT = "one actor (pseudonym) of one provider, per privacy period (user-week in production)"


@dataclass(frozen=True)
class ReleaseOutcome:
    family: str
    window: Window
    status: str  # "released", "already_released", "refused"
    detail: str = ""


@dataclass(frozen=True)
class FamilyPlan:
    """How one family is released on one window length, and what it costs per window."""

    family: ReportFamily
    gaussian: GaussianPlan | None
    threshold: ThresholdPlan | None
    continual: ContinualRelease | None

    @property
    def rho(self) -> float:
        main = self.gaussian.rho if self.gaussian else self.threshold.rho  # type: ignore[union-attr]
        return main + (self.continual.rho_per_week if self.continual else 0.0)


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

    def plan(self, family: ReportFamily, period: timedelta) -> FamilyPlan:
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
        if length * 7 == self.period:
            return "day", self.period
        raise ValueError(
            f"window {window.label()} lasts {length}; accepted: the privacy period {self.period} "
            f"(week families) or a seventh of it (day families)"
        )

    def _release_family(self, family: ReportFamily, closed: ClosedWindow, period: timedelta) -> ReleaseOutcome:
        window, plan = closed.window, self.plan(family, period)
        release_id = f"{family.name}@{window.start.isoformat()}"
        sums = copy.deepcopy(self.tree_state.sums)
        with self.store.transaction() as con:
            if con.execute("SELECT 1 FROM releases WHERE release_id = ?", [release_id]).fetchall():
                return ReleaseOutcome(family.name, window, "already_released")
            entries = _ledger_entries(plan, window, window_of(window.start, period).start)
            check_caps(con, entries, self.policy, f"{family.name} for window {window.label()}")
            now = datetime.now(UTC)
            exact = closed.counts.get(family.name, {})
            n_cells = self._write_cells(con, plan, release_id, window, exact)
            self._write_release(con, plan, release_id, window, now, n_cells)
            if plan.continual is not None:
                plan.continual.release_week(con, sums, window, exact, now)
            record(con, entries, self.policy, now)
            con.execute(
                "INSERT INTO audit VALUES (?, ?, ?, ?)",
                [now, "worker", "released", f"{release_id} rho={plan.rho:.6g} cells={n_cells}"],
            )
        if plan.continual is not None:
            self.tree_state.sums = sums
            self.tree_state.save()
        log.info("released %s for window %s (rho=%.4g)", family.name, window.label(), plan.rho)
        return ReleaseOutcome(family.name, window, "released")

    @staticmethod
    def _write_cells(
        con: duckdb.DuckDBPyConnection,
        plan: FamilyPlan,
        release_id: str,
        window: Window,
        exact: dict[tuple[str, ...], int],
    ) -> int:
        family = plan.family
        if plan.threshold is not None:
            frame = selected_frame(family, release_id, window, plan.threshold, select(plan.threshold, exact))
        else:
            assert plan.gaussian is not None
            values = [exact.get(key, 0) for key in family.keys]
            if family.total:
                values.append(sum(values))
            frame = cells_frame(family, release_id, window, plan.gaussian, draw(plan.gaussian, values))
        con.register("new_cells", frame)
        con.execute(f"INSERT INTO cells ({', '.join(frame.columns)}) SELECT * FROM new_cells")
        con.unregister("new_cells")
        return len(frame)

    @staticmethod
    def _write_release(
        con: duckdb.DuckDBPyConnection, plan: FamilyPlan, release_id: str, window: Window, now: datetime, n_cells: int
    ) -> None:
        family = plan.family
        main = plan.gaussian or plan.threshold
        assert main is not None
        threshold = plan.threshold.threshold if plan.threshold else None
        delta = plan.gaussian.delta if plan.gaussian else plan.threshold.delta  # type: ignore[union-attr]
        con.execute(
            "INSERT INTO releases (release_id, family, window_start, window_end, released_at, privacy_unit, metric, "
            "mechanism, bound_k, bound_l, sensitivity_l2, scale, rho, epsilon, delta, alpha, interval_half_width, "
            "n_cells, threshold, window_kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                release_id,
                family.name,
                window.start,
                window.end,
                now,
                PRIVACY_UNIT,
                family.metric,
                main.mechanism,
                family.bound_k,
                family.bound_l,
                family.sensitivity_l2,
                main.scale,
                main.rho,
                main.epsilon,
                delta,
                main.alpha,
                main.half_width,
                n_cells,
                threshold,
                family.window,
            ],
        )


def _ledger_entries(plan: FamilyPlan, window: Window, period_start: datetime) -> list[LedgerEntry]:
    name = plan.family.name
    if plan.gaussian is not None:
        g = plan.gaussian
        entries = [LedgerEntry(name, "cells", window, period_start, g.rho, g.epsilon, g.delta)]
    else:
        t = plan.threshold
        assert t is not None
        entries = [LedgerEntry(name, "selection", window, period_start, t.rho, t.epsilon, t.delta)]
    if plan.continual is not None:
        node = plan.continual.plan
        entries += [
            LedgerEntry(f"{name}:ytd:L{level}", "ytd_level", window, period_start, node.rho, node.epsilon, node.delta)
            for level in range(plan.continual.layout.levels)
        ]
    return entries


@lru_cache(maxsize=256)
def _plan(family: ReportFamily, period: timedelta, policy: BudgetPolicy, total_weight: float) -> FamilyPlan:
    spend = policy.period_spend(period)
    share = spend.share(family.weight, total_weight)
    if family.window == "day":
        share = RhoBudget(share.rho / 7)
    if family.open_vocabulary:
        return FamilyPlan(family, None, plan_threshold(family.bound_k, family.per_cell_bound, share), None)
    continual = None
    if family.year_to_date_weight is not None:
        layout = TreeLayout(period)
        per_level = RhoBudget(spend.share(family.year_to_date_weight, total_weight).rho / layout.levels)
        node_plan = plan_gaussian(family.per_cell_bound * family.bound_k**0.5, per_level)
        continual = ContinualRelease(family.name, PUBLIC_DIMENSIONS["category"], layout, node_plan)
    return FamilyPlan(family, plan_gaussian(family.sensitivity_l2, share), None, continual)
