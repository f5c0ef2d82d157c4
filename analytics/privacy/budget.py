"""Privacy budgets as values: zero-concentrated DP (ρ), and the (ε, δ) statements equivalent to them.

The rule that must hold: a budget is never a bare float. :class:`RhoBudget` is frozen, validated and
has arithmetic (``+``, ``-``, scalar ``*`` and ``/``); its comparisons use a relative tolerance, so
splitting a budget by weights and adding the shares back never refuses an exact fit, and subtracting
more than is there raises instead of going negative. ρ composes by addition (zCDP); its (ε, δ)
equivalent comes from OpenDP's conversion at one δ, :data:`DEFAULT_DELTA`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import ClassVar

import opendp.prelude as dp

from analytics.errors import InvalidBudgetError

dp.enable_features("contrib")

#: The δ at which every ρ is converted to its (ε, δ) equivalent, everywhere in Flockview.
DEFAULT_DELTA = 1e-6
#: Two budgets this close (relative to the larger) are equal: float sums of weight shares fit their total.
REL_TOL = 1e-9


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class RhoBudget:
    """A zero-concentrated DP budget ρ: a cap, a share, a charge, or what remains.

    Frozen and validated (finite, not negative). Equality (``==``, and so hashing) is exact, so plans
    cached by budget stay consistent; the ordering comparisons (``<``, ``<=``, ``>``, ``>=``) and
    :meth:`isclose` treat budgets within :data:`REL_TOL` of each other as equal.

    Example:
        >>> week = RhoBudget(0.02)
        >>> parts = week.split([1, 1, 1])
        >>> RhoBudget.total(parts) <= week
        True
    """

    rho: float
    ZERO: ClassVar[RhoBudget]

    def __post_init__(self) -> None:
        if not (_is_number(self.rho) and math.isfinite(self.rho) and self.rho >= 0):
            raise InvalidBudgetError(f"rho must be a non-negative finite number, got {self.rho!r}")
        object.__setattr__(self, "rho", float(self.rho))

    @classmethod
    def total(cls, budgets: Iterable[RhoBudget]) -> RhoBudget:
        """The sum of ``budgets`` (zero for none): zCDP composes by adding ρ."""
        return cls(math.fsum(b.rho for b in budgets))

    def __add__(self, other: RhoBudget) -> RhoBudget:
        if not isinstance(other, RhoBudget):
            return NotImplemented
        return RhoBudget(self.rho + other.rho)

    def __sub__(self, other: RhoBudget) -> RhoBudget:
        """What is left of ``self`` after ``other``; raises if ``other`` is more than there is."""
        if not isinstance(other, RhoBudget):
            return NotImplemented
        if self.isclose(other):
            return RhoBudget.ZERO
        if other.rho > self.rho:
            raise InvalidBudgetError(
                f"cannot take rho={other.rho:.6g} from rho={self.rho:.6g}: it is more than there is"
            )
        return RhoBudget(self.rho - other.rho)

    def remaining_after(self, spent: RhoBudget) -> RhoBudget:
        """What this cap leaves after ``spent``: zero, not an error, when more was spent (caps lowered since)."""
        return self - spent if spent <= self else RhoBudget.ZERO

    def __mul__(self, factor: float) -> RhoBudget:
        if not _is_number(factor):
            return NotImplemented
        return RhoBudget(self.rho * factor)

    __rmul__ = __mul__

    def __truediv__(self, divisor: float) -> RhoBudget:
        if not _is_number(divisor):
            return NotImplemented
        if not divisor > 0:
            raise InvalidBudgetError(f"a budget can only be divided by a positive number, got {divisor!r}")
        return RhoBudget(self.rho / divisor)

    def isclose(self, other: RhoBudget) -> bool:
        """Equal within the relative tolerance :data:`REL_TOL` (exact zero is close only to zero)."""
        return math.isclose(self.rho, other.rho, rel_tol=REL_TOL)

    def __lt__(self, other: RhoBudget) -> bool:
        if not isinstance(other, RhoBudget):
            return NotImplemented
        return self.rho < other.rho and not self.isclose(other)

    def __le__(self, other: RhoBudget) -> bool:
        if not isinstance(other, RhoBudget):
            return NotImplemented
        return self.rho <= other.rho or self.isclose(other)

    def __gt__(self, other: RhoBudget) -> bool:
        if not isinstance(other, RhoBudget):
            return NotImplemented
        return self.rho > other.rho and not self.isclose(other)

    def __ge__(self, other: RhoBudget) -> bool:
        if not isinstance(other, RhoBudget):
            return NotImplemented
        return self.rho >= other.rho or self.isclose(other)

    def share(self, weight: float, total_weight: float) -> RhoBudget:
        """The part ``weight / total_weight`` of this budget."""
        if not (weight >= 0 and total_weight > 0):
            raise InvalidBudgetError(
                f"a share needs weight >= 0 and total_weight > 0, got {weight!r} of {total_weight!r}"
            )
        return RhoBudget(self.rho * weight / total_weight)

    def split(self, weights: Sequence[float]) -> list[RhoBudget]:
        """Shares of this budget in proportion to ``weights``; they add back up to it (within the tolerance)."""
        total = math.fsum(weights)
        return [self.share(w, total) for w in weights]

    def epsilon(self, delta: float = DEFAULT_DELTA) -> float:
        """The ε of the (ε, δ)-DP guarantee this ρ implies at ``delta`` (standard conversion, via OpenDP)."""
        if not 0 < delta < 1:
            raise InvalidBudgetError(f"delta must be in (0, 1), got {delta!r}")
        return _rho_to_epsilon(self.rho, delta) if self.rho > 0 else 0.0

    def approx_dp(self, delta: float = DEFAULT_DELTA) -> ApproxDPBudget:
        """This ρ as an (ε, δ) statement at ``delta``."""
        return ApproxDPBudget(self.epsilon(delta), delta)

    def require_positive(self, what: str) -> RhoBudget:
        """This budget, or a :class:`InvalidBudgetError` naming ``what`` if it is zero (nothing can be spent from it)."""
        if not self.rho > 0:
            raise InvalidBudgetError(f"{what} must be a positive rho, got {self.rho!r}")
        return self


RhoBudget.ZERO = RhoBudget(0.0)


@dataclass(frozen=True)
class ApproxDPBudget:
    """An (ε, δ)-DP statement: what a ρ (plus any δ of partition selection) means in the familiar terms.

    ``+`` is basic composition (ε and δ add): a looser bound than converting the summed ρ once.
    """

    epsilon: float
    delta: float

    def __post_init__(self) -> None:
        if not (_is_number(self.epsilon) and math.isfinite(self.epsilon) and self.epsilon >= 0):
            raise InvalidBudgetError(f"epsilon must be a non-negative finite number, got {self.epsilon!r}")
        if not (_is_number(self.delta) and 0 <= self.delta < 1):
            raise InvalidBudgetError(f"delta must be in [0, 1), got {self.delta!r}")
        object.__setattr__(self, "epsilon", float(self.epsilon))
        object.__setattr__(self, "delta", float(self.delta))

    def __add__(self, other: ApproxDPBudget) -> ApproxDPBudget:
        if not isinstance(other, ApproxDPBudget):
            return NotImplemented
        return ApproxDPBudget(self.epsilon + other.epsilon, self.delta + other.delta)


@lru_cache(maxsize=64)
def unit_gaussian(scale: float) -> dp.Measurement:
    """OpenDP's discrete Gaussian on integer vectors at ``scale`` (zCDP, L2 sensitivity as ``d_in``)."""
    domain = dp.vector_domain(dp.atom_domain(T=int))
    return dp.m.make_gaussian(domain, dp.l2_distance(T=float), scale=scale)


@lru_cache(maxsize=256)
def _rho_to_epsilon(rho: float, delta: float) -> float:
    # A Gaussian whose privacy loss at d_in=1 is exactly rho; OpenDP converts its zCDP curve.
    scale = 1.0 / math.sqrt(2.0 * rho)
    profile = dp.c.make_zCDP_to_approxDP(unit_gaussian(scale)).map(1.0)
    return float(profile.epsilon(delta))
