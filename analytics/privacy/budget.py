"""Privacy budgets as values: zero-concentrated DP (rho), with their (epsilon, delta) equivalent.

Budgets are frozen, validated values with arithmetic; never pass bare floats around. Sums of shares
are compared with a relative tolerance, so splitting a budget by weights and adding the parts back
never refuses an exact fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import opendp.prelude as dp

dp.enable_features("contrib")

DEFAULT_DELTA = 1e-6


@dataclass(frozen=True)
class RhoBudget:
    """A zero-concentrated DP budget (rho). Frozen and validated: never pass bare floats around."""

    rho: float

    def __post_init__(self) -> None:
        if not (isinstance(self.rho, int | float) and math.isfinite(self.rho) and self.rho > 0):
            raise ValueError(f"rho must be a positive finite number, got {self.rho!r}")

    def share(self, weight: float, total_weight: float) -> RhoBudget:
        return RhoBudget(self.rho * weight / total_weight)

    def epsilon(self, delta: float = DEFAULT_DELTA) -> float:
        """The (epsilon, delta)-DP equivalent of this rho (standard conversion, via OpenDP)."""
        return _rho_to_epsilon(self.rho, delta)


@lru_cache(maxsize=64)
def unit_gaussian(scale: float) -> dp.Measurement:
    domain = dp.vector_domain(dp.atom_domain(T=int))
    return dp.m.make_gaussian(domain, dp.l2_distance(T=float), scale=scale)


@lru_cache(maxsize=256)
def _rho_to_epsilon(rho: float, delta: float) -> float:
    # A Gaussian whose privacy loss at d_in=1 is exactly rho; OpenDP converts its zCDP curve.
    scale = 1.0 / math.sqrt(2.0 * rho)
    profile = dp.c.make_zCDP_to_approxDP(unit_gaussian(scale)).map(1.0)
    return float(profile.epsilon(delta))
