"""The zCDP discrete Gaussian over public keys, through OpenDP: calibration, noise and accuracy.

Noise only ever comes from OpenDP measurements. The scale is found by OpenDP's own binary search for
the family's sensitivity and its share of rho; accuracy and the (epsilon, delta) equivalent come
from OpenDP too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import opendp.prelude as dp

from analytics.privacy.budget import DEFAULT_DELTA, ApproxDPBudget, RhoBudget, unit_gaussian

MECHANISM = "discrete_gaussian_zcdp"
DEFAULT_ALPHA = 0.05  # 95% intervals


@dataclass(frozen=True)
class GaussianPlan:
    """A calibrated discrete Gaussian for one family: everything a release states about its noise.

    ``budget`` is the share it was calibrated to; ``cost`` is what OpenDP's privacy map says one
    actor's bounded contribution spends (never more than ``budget``); ``equivalent`` is that cost as
    an (ε, δ) statement.
    """

    sensitivity_l2: float
    budget: RhoBudget
    cost: RhoBudget
    equivalent: ApproxDPBudget
    scale: float
    alpha: float
    half_width: float  # the (1 - alpha) interval is value ± half_width

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
        """The ε of the cost's (ε, δ) equivalent."""
        return self.equivalent.epsilon

    @property
    def delta(self) -> float:
        """The δ at which :attr:`epsilon` holds."""
        return self.equivalent.delta


@lru_cache(maxsize=256)
def plan_gaussian(
    sensitivity_l2: float, budget: RhoBudget, delta: float = DEFAULT_DELTA, alpha: float = DEFAULT_ALPHA
) -> GaussianPlan:
    """Calibrate the discrete Gaussian so that one actor's bounded contribution costs at most ``budget``."""
    budget.require_positive("a Gaussian's budget")
    scale = dp.binary_search_param(lambda s: unit_gaussian(s), d_in=sensitivity_l2, d_out=budget.rho, T=float)
    meas = unit_gaussian(scale)
    cost = RhoBudget(float(meas.map(sensitivity_l2)))
    epsilon = float(dp.c.make_zCDP_to_approxDP(meas).map(sensitivity_l2).epsilon(delta))
    half_width = float(dp.discrete_gaussian_scale_to_accuracy(scale, alpha))
    return GaussianPlan(sensitivity_l2, budget, cost, ApproxDPBudget(epsilon, delta), float(scale), alpha, half_width)


def draw(plan: GaussianPlan, counts: Sequence[int]) -> list[int]:
    """Noisy counts from OpenDP's discrete Gaussian at the plan's scale."""
    return list(unit_gaussian(plan.scale)(list(counts)))


def interval_half_width(scale: float, alpha: float = DEFAULT_ALPHA) -> float:
    """Half-width of the (1 - alpha) interval of discrete Gaussian noise at ``scale``, from OpenDP."""
    return float(dp.discrete_gaussian_scale_to_accuracy(scale, alpha))


def consistent_total(parts: Sequence[float], total: float) -> tuple[list[float], float]:
    """Least-squares projection of noisy parts and a noisy total onto {sum(parts) = total}.

    With equal noise variance on every entry the projection spreads the discrepancy
    ``r = total - sum(parts)`` evenly: each part gains ``r / (n + 1)`` and the total loses it. Each
    projected value has variance σ²·n/(n+1). Post-processing only: no budget is spent.
    """
    n = len(parts)
    r = (total - sum(parts)) / (n + 1)
    return [p + r for p in parts], total - r


def non_negative_with_total(parts: Sequence[float], total: float) -> tuple[list[float], float]:
    """Project onto consistency, clamp parts at zero, and take the total as the sum of the clamped parts."""
    projected, _ = consistent_total(parts, total)
    clamped = [max(p, 0.0) for p in projected]
    return clamped, float(sum(clamped))
