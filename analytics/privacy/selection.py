"""DP partition selection for open-vocabulary dimensions (model family), through OpenDP.

An open dimension has no public key space: its values come from the events, so releasing "which
keys exist" is itself private. OpenDP's ``make_gaussian_threshold`` adds discrete Gaussian noise to
the count of every key present in the data and releases only the keys whose noisy count exceeds a
threshold (propose-test-release, Rogers 2023). It is (ρ, δ)-approximate zCDP: ρ from the noise at
the family's bounds, δ the chance that a key held up by one actor alone crosses the threshold.

The calibration here takes the scale from the family's share of ρ (as for public keys) and then the
smallest integer threshold whose δ, by OpenDP's own privacy map, is at most the stated target.
A key absent from the data can never be released: the mechanism only sees keys that are present.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import opendp.prelude as dp

from analytics.privacy.budget import DEFAULT_DELTA, ApproxDPBudget, RhoBudget
from analytics.privacy.gaussian import DEFAULT_ALPHA, interval_half_width

dp.enable_features("contrib")

MECHANISM = "gaussian_threshold_zcdp"
DEFAULT_SELECTION_DELTA = 1e-7
_SEP = "\x1f"  # joins the values of a multi-dimensional key into one string key for OpenDP


@dataclass(frozen=True)
class ThresholdPlan:
    """A calibrated Gaussian threshold for one open-vocabulary family.

    ``budget`` is the share it was calibrated to; ``cost`` is the ρ OpenDP's map says it spends at
    the bounds (never more than ``budget``); ``selection_delta`` is its approximate-zCDP δ (the chance
    a key held up by one actor alone is released), and ``equivalent`` the whole as an (ε, δ) statement:
    ε of ``cost`` at :data:`DEFAULT_DELTA`, δ = that plus ``selection_delta``.
    """

    bound_k: int
    per_cell_bound: int
    budget: RhoBudget
    cost: RhoBudget
    selection_delta: float
    equivalent: ApproxDPBudget
    scale: float
    threshold: int
    alpha: float
    half_width: float

    @property
    def mechanism(self) -> str:
        """The mechanism's name, as stored with every release."""
        return MECHANISM

    @property
    def rho(self) -> float:
        """The cost's ρ, as stored in the releases, cells and ledger rows."""
        return self.cost.rho

    @property
    def epsilon(self) -> float:
        """The ε of the (ε, δ) equivalent (at :data:`DEFAULT_DELTA`)."""
        return self.equivalent.epsilon

    @property
    def delta(self) -> float:
        """The selection's own δ, as stored in the release and ledger rows (the statement adds DEFAULT_DELTA)."""
        return self.selection_delta

    @property
    def d_in(self) -> tuple[int, int, int]:
        """The L0, L2, L∞ distances one actor moves the key→count map (L2 rounded up; OpenDP takes min(L2², L0·L∞²))."""
        return self.bound_k, math.ceil(self.per_cell_bound * math.sqrt(self.bound_k)), self.per_cell_bound


@lru_cache(maxsize=512)
def _measurement(scale: float, threshold: int) -> dp.Measurement:
    domain = dp.map_domain(dp.atom_domain(T=str), dp.atom_domain(T=int))
    metric = dp.l02inf_distance(dp.absolute_distance(T=int))
    return dp.m.make_gaussian_threshold(domain, metric, scale=scale, threshold=threshold)


@lru_cache(maxsize=64)
def plan_threshold(
    bound_k: int,
    per_cell_bound: int,
    budget: RhoBudget,
    delta: float = DEFAULT_SELECTION_DELTA,
    alpha: float = DEFAULT_ALPHA,
) -> ThresholdPlan:
    """Calibrate scale (from ``budget``) and the smallest threshold with δ ≤ ``delta``, by OpenDP's map."""
    if not 0 < delta < 1:
        raise ValueError(f"partition-selection delta must be in (0, 1), got {delta!r}")
    budget.require_positive("a threshold's budget")
    d_in = (bound_k, math.ceil(per_cell_bound * math.sqrt(bound_k)), per_cell_bound)
    sensitivity_sq = min(d_in[1] ** 2, bound_k * per_cell_bound**2)
    scale = math.sqrt(sensitivity_sq / (2 * budget.rho)) * (1 + 1e-9)
    lo, hi = per_cell_bound, per_cell_bound + 1
    while _measurement(scale, hi).map(d_in)[1] > delta:  # grow until δ fits, then bisect
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _measurement(scale, mid).map(d_in)[1] <= delta else (mid, hi)
    rho, achieved = _measurement(scale, hi).map(d_in)
    cost = RhoBudget(float(rho))
    if not cost <= budget * (1 + 1e-6):
        raise RuntimeError(f"threshold calibration spends rho={rho} over its share {budget.rho}: this is a bug")
    equivalent = ApproxDPBudget(cost.epsilon(DEFAULT_DELTA), DEFAULT_DELTA + float(achieved))
    return ThresholdPlan(
        bound_k,
        per_cell_bound,
        budget,
        cost,
        float(achieved),
        equivalent,
        scale,
        hi,
        alpha,
        interval_half_width(scale, alpha),
    )


def select(plan: ThresholdPlan, counts: Mapping[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    """Noisy counts of the keys that pass the threshold (the only keys that may be released)."""
    joined = {_SEP.join(key): int(n) for key, n in counts.items() if n > 0}
    if not joined:
        return {}
    released = _measurement(plan.scale, plan.threshold)(joined)
    return {tuple(key.split(_SEP)): int(value) for key, value in released.items()}
