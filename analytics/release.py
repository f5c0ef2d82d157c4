"""The release step: budget first, then OpenDP noise, then one DuckDB transaction per family and window.

A window is released at most once per family (the releases table is keyed by family and window),
so restarts never spend budget twice. A release that would pass a cap is refused, audited, and
changes nothing else.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
import pandas as pd

from analytics.errors import BudgetExceededError
from analytics.families import ReportFamily
from analytics.privacy import GaussianPlan, RhoBudget, draw, plan_gaussian
from analytics.store import DIMENSION_COLUMNS, Store
from analytics.windows import ClosedWindow, Window

log = logging.getLogger(__name__)

PRIVACY_UNIT = "one actor (pseudonym) of one provider, per window (user-week in production)"
_CAP_SLACK = 1e-12  # float sums of weight shares must not refuse an exact fit


@dataclass(frozen=True)
class BudgetPolicy:
    """Caps per privacy period (one window, a user-week in production) and per calendar year."""

    rho_week: RhoBudget = RhoBudget(0.02)
    rho_year: RhoBudget = RhoBudget(1.0)


@dataclass(frozen=True)
class ReleaseOutcome:
    family: str
    window: Window
    status: str  # "released", "already_released", "refused"
    detail: str = ""


class Releaser:
    """Turns closed windows into noisy releases in the store."""

    def __init__(self, store: Store, families: list[ReportFamily], policy: BudgetPolicy) -> None:
        self.store = store
        self.families = families
        self.policy = policy
        total = sum(f.weight for f in families)
        self.plans: dict[str, GaussianPlan] = {
            f.name: plan_gaussian(f.sensitivity_l2, policy.rho_week.share(f.weight, total)) for f in families
        }

    def release(self, closed: ClosedWindow) -> list[ReleaseOutcome]:
        outcomes = []
        for family in self.families:
            try:
                outcome = self._release_family(family, closed)
            except BudgetExceededError as exc:
                self.store.audit("worker", "release_refused", str(exc))
                log.error("%s", exc)
                outcome = ReleaseOutcome(family.name, closed.window, "refused", str(exc))
            outcomes.append(outcome)
        return outcomes

    def _check_caps(self, con: duckdb.DuckDBPyConnection, family: ReportFamily, window: Window, rho: float) -> None:
        what = f"{family.name} for window {window.label()}"
        spent_period = con.execute("SELECT coalesce(sum(rho), 0) FROM ledger WHERE window_start = ?",
                                   [window.start]).fetchone()[0]
        spent_year = con.execute("SELECT coalesce(sum(rho), 0) FROM ledger WHERE year = ?",
                                 [window.start.year]).fetchone()[0]
        for name, cap, spent in (("per-period", self.policy.rho_week.rho, spent_period),
                                 (f"{window.start.year} yearly", self.policy.rho_year.rho, spent_year)):
            if spent + rho > cap + _CAP_SLACK:
                raise BudgetExceededError(name, rho, max(cap - spent, 0.0), cap, what)

    def _release_family(self, family: ReportFamily, closed: ClosedWindow) -> ReleaseOutcome:
        window, plan = closed.window, self.plans[family.name]
        release_id = f"{family.name}@{window.start.isoformat()}"
        with self.store.transaction() as con:
            if con.execute("SELECT 1 FROM releases WHERE release_id = ?", [release_id]).fetchone():
                return ReleaseOutcome(family.name, window, "already_released")
            self._check_caps(con, family, window, plan.rho)
            now = datetime.now(UTC)
            exact = closed.counts.get(family.name, {})
            noisy = draw(plan, [exact.get(key, 0) for key in family.keys])
            con.execute(
                "INSERT INTO releases VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [release_id, family.name, window.start, window.end, now, PRIVACY_UNIT, family.metric,
                 plan.mechanism, family.bound_k, family.bound_l, plan.sensitivity_l2, plan.scale, plan.rho,
                 plan.epsilon, plan.delta, plan.alpha, plan.half_width, len(family.keys)],
            )
            frame = self._cells_frame(family, release_id, window, plan, noisy)
            con.register("new_cells", frame)
            con.execute(f"INSERT INTO cells ({', '.join(frame.columns)}) SELECT * FROM new_cells")
            con.unregister("new_cells")
            con.execute("INSERT INTO ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        [family.name, window.start, window.end, window.label(), window.start.year,
                         plan.rho, plan.epsilon, plan.delta, now])
            con.execute("INSERT INTO audit VALUES (?, ?, ?, ?)",
                        [now, "worker", "released", f"{release_id} rho={plan.rho:.6g} cells={len(noisy)}"])
        log.info("released %s for window %s (rho=%.4g, scale=%.3g)", family.name, window.label(), plan.rho, plan.scale)
        return ReleaseOutcome(family.name, window, "released")

    @staticmethod
    def _cells_frame(family: ReportFamily, release_id: str, window: Window, plan: GaussianPlan,
                     noisy: list[int]) -> pd.DataFrame:
        # Post-processing (no budget cost): clamp to non-negative; the interval keeps its width above zero.
        rows: dict[str, list[object]] = {c: [None] * len(noisy) for c in DIMENSION_COLUMNS}
        for d, dim in enumerate(family.dimensions):
            rows[dim] = [key[d] for key in family.keys]
        half = plan.half_width
        frame = pd.DataFrame({
            "release_id": release_id, "family": family.name, "window_start": window.start,
            "window_end": window.end, **rows,
            "value": [float(max(v, 0)) for v in noisy],
            "ci_low": [float(max(v - half, 0)) for v in noisy],
            "ci_high": [float(max(v + half, 0)) for v in noisy],
            "includes_zero": [v - half <= 0 for v in noisy],
            "mechanism": plan.mechanism, "scale": plan.scale, "rho": plan.rho,
        })
        for col in DIMENSION_COLUMNS:
            frame[col] = frame[col].astype("object")
        return frame
