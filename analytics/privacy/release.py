"""The release step: ask the ledger, add OpenDP noise, post-process, write one store transaction.

The rule that must hold: per family and window the budget is charged first
(:func:`analytics.privacy.ledger.charge`), in the same store transaction that writes the release; a
request over a cap is refused, audited, and changes nothing else. A window is released at most
once per family (the releases table is keyed by family and window), so restarts never spend budget
twice. Every value written is the mechanism's output or post-processing of released values: the
cells keep the unclamped noisy value itself (``cells.noisy_value``), and a family with
``year_to_date`` gets its year's year-to-date lines recomputed as sums of those
(:func:`analytics.privacy.postprocess.year_to_date_lines`), which spend nothing.

A release plan is one of two kinds. :class:`GaussianRelease`: public key spaces get the discrete
Gaussian on every cell (plus a consistent total where the family has one).
:class:`ThresholdRelease`: open vocabularies go through DP partition selection
(:mod:`analytics.privacy.selection`).

Windows: a "week" family is released on windows one privacy period long, a "day" family on windows
a seventh of it; a day family's weekly share is split evenly over its seven days. Every charge
counts against the privacy period the window lies in, and against the year that period starts in.

Noise comes from OpenDP through :data:`OPENDP_NOISE`. The ``noise`` argument of :class:`Releaser`
is a test seam (the neighbouring-dataset tests pass noise-free draws); no setting, option or
environment variable reaches it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import ClassVar, Literal, Protocol

import pandas as pd

from analytics.errors import BudgetExceededError, FamilySpecError
from analytics.families import ReportFamily
from analytics.privacy.budget import ApproxDPBudget, RhoBudget
from analytics.privacy.gaussian import GaussianPlan, draw, plan_gaussian
from analytics.privacy.ledger import BudgetPolicy, LedgerEntry, charge, year_of
from analytics.privacy.postprocess import cells_frame, selected_frame, year_to_date_lines
from analytics.privacy.selection import ThresholdPlan, plan_threshold, select
from analytics.store import Connection, Store, audit, releases, tree
from analytics.windows import Cell, ClosedWindow, Window, window_of

__all__ = [
    "OPENDP_NOISE",
    "PRIVACY_UNIT",
    "BudgetPolicy",
    "GaussianRelease",
    "Noise",
    "OpenDPNoise",
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


class Noise(Protocol):
    """Where a release's randomness comes from: OpenDP (:data:`OPENDP_NOISE`) everywhere but in tests."""

    def gaussian(self, plan: GaussianPlan, counts: Sequence[int]) -> list[int]:
        """The discrete Gaussian at ``plan.scale`` added to each of ``counts``."""
        ...

    def threshold(self, plan: ThresholdPlan, counts: Mapping[Cell, int]) -> dict[Cell, int]:
        """The noisy counts of the keys of ``counts`` that pass ``plan``'s threshold (partition selection)."""
        ...


@dataclass(frozen=True)
class OpenDPNoise:
    """OpenDP's measurements: the only noise a deployed release uses."""

    def gaussian(self, plan: GaussianPlan, counts: Sequence[int]) -> list[int]:
        """OpenDP's discrete Gaussian (:func:`analytics.privacy.gaussian.draw`)."""
        return draw(plan, counts)

    def threshold(self, plan: ThresholdPlan, counts: Mapping[Cell, int]) -> dict[Cell, int]:
        """OpenDP's Gaussian threshold (:func:`analytics.privacy.selection.select`)."""
        return select(plan, counts)


OPENDP_NOISE: Noise = OpenDPNoise()


@dataclass(frozen=True)
class GaussianRelease:
    """A family over public keys: discrete Gaussian noise on every cell."""

    kind: ClassVar[Literal["gaussian"]] = "gaussian"
    family: ReportFamily
    gaussian: GaussianPlan

    @property
    def cost(self) -> RhoBudget:
        """What one window charges: the cells' Gaussian (year-to-date lines are post-processing, free)."""
        return self.gaussian.cost

    @property
    def rho(self) -> float:
        """:attr:`cost` as a number."""
        return self.cost.rho

    @property
    def main(self) -> GaussianPlan:
        """The plan of the cells' noise (the one the ``releases`` row describes)."""
        return self.gaussian

    def ledger_entries(self, window: Window, period_start: datetime) -> list[LedgerEntry]:
        """The one charge of a window: the cells."""
        g = self.gaussian
        return [LedgerEntry(self.family.name, "cells", window, period_start, g.cost, g.equivalent)]

    def cells(
        self, release_id: str, window: Window, exact: dict[tuple[str, ...], int], noise: Noise = OPENDP_NOISE
    ) -> pd.DataFrame:
        """The noisy, post-processed rows of ``cells`` for one window."""
        family = self.family
        values = [exact.get(key, 0) for key in family.keys]
        if family.total:
            values.append(sum(values))
        return cells_frame(family, release_id, window, self.gaussian, noise.gaussian(self.gaussian, values))


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

    def cells(
        self, release_id: str, window: Window, exact: dict[tuple[str, ...], int], noise: Noise = OPENDP_NOISE
    ) -> pd.DataFrame:
        """The rows of ``cells`` for the keys that passed the threshold."""
        kept = {key: n for key, n in exact.items() if n > 0}  # a key absent from the data is never released
        return selected_frame(self.family, release_id, window, self.threshold, noise.threshold(self.threshold, kept))


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
        noise: the source of noise, :data:`OPENDP_NOISE` unless a test switches noise off. A test
            seam only: nothing a deployment configures reaches it.
    """

    def __init__(
        self,
        store: Store,
        families: list[ReportFamily],
        policy: BudgetPolicy,
        period: timedelta | None = None,
        *,
        noise: Noise = OPENDP_NOISE,
    ) -> None:
        if period is None and any(f.window == "day" for f in families):
            raise FamilySpecError("day families need the Releaser's privacy period (period=...)")
        self.store, self.families, self.policy, self.period = store, families, policy, period
        self.total_weight = sum(f.weight for f in families)
        self.noise = noise

    def plan(self, family: ReportFamily, period: timedelta) -> ReleasePlan:
        """The calibrated mechanisms of ``family`` for windows of a privacy period of length ``period``."""
        return _plan(family, period, self.policy, self.total_weight)

    def release(self, closed: ClosedWindow) -> list[ReleaseOutcome]:
        """Release every family whose window kind matches ``closed``; refusals are outcomes, not errors."""
        kind, period = self._kind(closed.window)
        outcomes = spec_refusals(self.store, [f for f in self.families if f.window == kind], closed)
        refused = {o.family for o in outcomes}
        for family in (f for f in self.families if f.window == kind and f.name not in refused):
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
        with self.store.transaction() as con:
            if releases.exists(con, release_id):
                return ReleaseOutcome(family.name, window, "already_released")
            entries = plan.ledger_entries(window, window_of(window.start, period).start)
            now = datetime.now(UTC)
            charge(con, entries, self.policy, f"{family.name} for window {window.label()}", now)
            exact = closed.counts.get(family.name, {})
            n_cells = releases.insert_cells(con, plan.cells(release_id, window, exact, self.noise))
            releases.insert(con, _release_row(plan, release_id, window, now, n_cells))
            if family.year_to_date:
                _rewrite_year_to_date(con, family, year_of(window.start), now)
            audit.insert(con, now, "worker", "released", f"{release_id} rho={plan.rho:.6g} cells={n_cells}")
        log.info("released %s for window %s (rho=%.4g)", family.name, window.label(), plan.rho)
        return ReleaseOutcome(family.name, window, "released")


def _rewrite_year_to_date(con: Connection, family: ReportFamily, year: int, now: datetime) -> None:
    """Recompute ``family``'s year-to-date lines of ``year`` from its stored weekly noisy values (no budget)."""
    first, after = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    weekly = tree.weekly_values(con, family.name, first, after)
    tree.replace_year(con, family.name, year, year_to_date_lines(family.name, year, weekly, now))


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
    return GaussianRelease(family, plan_gaussian(family.sensitivity_l2, share))


# --- what a window's counts were computed with (issue 15, item 4) -----------------------------------------


def family_spec_hash(family: ReportFamily, window_length: timedelta) -> str:
    """A hash of what bounds a family's counts: metric, dimensions, K, L, threshold, actions, window kind
    and length. Every closed-window summary carries it (:mod:`analytics.worker.gather`)."""
    spec = [
        family.metric,
        list(family.dimensions),
        family.bound_k,
        family.bound_l,
        family.threshold,
        sorted(str(a) for a in family.actions),
        family.window,
        window_length.total_seconds(),
    ]
    return hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:16]


def spec_refusals(store: Store, families: Sequence[ReportFamily], closed: ClosedWindow) -> list[ReleaseOutcome]:
    """The families of ``closed`` that must not be released: refused, audited and logged (once per window).

    A window gathered from summaries (``analytics.worker.gather.GatheredWindow``) names, per family, the
    spec hash of every summary it was gathered from, and the partition counts its events were signed
    for. A family is refused when its summaries name another spec than this worker's own, or more
    than one (a rolling deploy or a ``families.toml`` edit mid-window: counts bounded with other K or
    L than the noise is calibrated for), or a summary without one (format v1). Every family is refused
    when the events were signed for two partition counts (an actor may then be on two partitions,
    bounded twice). A window handed over directly (tests, the integration sink) carries neither.
    A family already released for the window is left to the release step (it answers "already_released").
    """
    specs: Mapping[str, frozenset[str]] | None = getattr(closed, "specs", None)
    signed: frozenset[int] = getattr(closed, "partition_counts", frozenset())
    length = closed.window.end - closed.window.start
    reasons: dict[str, str] = {}
    for family in families:
        own = family_spec_hash(family, length)
        if len(signed) > 1:
            reasons[family.name] = (
                f"its events were signed for partition counts {', '.join(map(str, sorted(signed)))}; "
                "partition counts may change only at week boundaries"
            )
        elif specs is not None and specs.get(family.name, frozenset()) - {own}:
            seen = ", ".join(sorted(specs[family.name]))
            reasons[family.name] = f"its summaries were bounded with spec {seen}, this worker's is {own}"
    if not reasons:
        return []
    with store.transaction() as con:
        done = {name for name in reasons if releases.exists(con, f"{name}@{closed.window.start.isoformat()}")}
    refused = {name: reason for name, reason in reasons.items() if name not in done}
    if not refused:
        return []
    detail = f"window {closed.window.label()} refused for " + "; ".join(f"{n}: {r}" for n, r in refused.items())
    store.audit("worker", "release_refused", detail)
    log.error("%s", detail)
    return [ReleaseOutcome(name, closed.window, "refused", reason) for name, reason in refused.items()]
