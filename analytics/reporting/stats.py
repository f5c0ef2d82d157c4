"""Noise-aware comparisons of released values: when is a change a change?

Every released count is the true (bounded) count plus independent Gaussian noise of a known standard
deviation σ (the cell's ``scale``), then clamped at zero. The difference of two independent releases
has noise of standard deviation √(σ₁² + σ₂²); a change is called only when the released difference is
larger than z·√(σ₁² + σ₂²), with z = 1.96 for one comparison at 95%. Clamping at zero is 1-Lipschitz,
so it can only shrink a difference: the test stays conservative. Inside the noise the report says
"no clear change", never a trend.

When the report scans many cells for something of note (techniques, jurisdictions) it uses the
Bonferroni-corrected z for the number of cells scanned, so that the chance of any false call in the
scan stays at most 5%.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

#: z of a two-sided 95% test.
Z95 = NormalDist().inv_cdf(0.975)
ALPHA = 0.05

Verdict = Literal["clear increase", "clear decrease", "no clear change", "no earlier data"]
NO_CLEAR_CHANGE: Verdict = "no clear change"
NO_EARLIER: Verdict = "no earlier data"


def z_for(comparisons: int, false_alarm_rate: float = ALPHA) -> float:
    """The two-sided z (Bonferroni) that keeps the chance of any false call among ``comparisons`` tests
    at most ``false_alarm_rate``. The report and the dashboard both flag changes with it.

    Raises:
        ValueError: ``false_alarm_rate`` is not strictly between 0 and 1, or ``comparisons`` < 1.
    """
    if not 0 < false_alarm_rate < 1:
        raise ValueError(f"false_alarm_rate must be between 0 and 1 (exclusive), got {false_alarm_rate!r}")
    if comparisons < 1:
        raise ValueError(f"comparisons must be at least 1, got {comparisons!r}")
    return NormalDist().inv_cdf(1 - false_alarm_rate / (2 * comparisons))


@dataclass(frozen=True)
class Estimate:
    """A released value with its noise: ``value`` (clamped at 0), σ (``scale``) and a 95% interval."""

    value: float
    scale: float
    ci_low: float
    ci_high: float

    @property
    def includes_zero(self) -> bool:
        """Whether the interval reaches zero: the value cannot be told apart from nothing."""
        return self.ci_low <= 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Estimate:
        """The estimate of one released cell (a row of the store's ``cells`` table)."""
        return cls(float(row["value"]), float(row["scale"]), float(row["ci_low"]), float(row["ci_high"]))

    @classmethod
    def total(cls, parts: Sequence[Estimate]) -> Estimate:
        """The sum of independent estimates: values add, variances add; a Gaussian 95% interval cut at 0."""
        value = sum(p.value for p in parts)
        scale = math.sqrt(sum(p.scale**2 for p in parts))
        return cls(value, scale, max(value - Z95 * scale, 0.0), value + Z95 * scale)

    @classmethod
    def mean(cls, parts: Sequence[Estimate]) -> Estimate:
        """The average of independent estimates (σ = √Σσᵢ² / n): the baseline of a multi-week comparison."""
        if not parts:
            raise ValueError("the mean of no estimates is undefined")
        total = cls.total(parts)
        n = len(parts)
        value, scale = total.value / n, total.scale / n
        return cls(value, scale, max(value - Z95 * scale, 0.0), value + Z95 * scale)


@dataclass(frozen=True)
class Change:
    """The outcome of comparing a released value with a baseline (last week, or an average)."""

    verdict: Verdict
    current: Estimate | None
    baseline: Estimate | None
    difference: float = math.nan
    threshold: float = math.nan  # z·√(σ₁² + σ₂²): how large a difference the noise alone can make

    @property
    def is_clear(self) -> bool:
        """True for a clear increase or decrease."""
        return self.verdict in ("clear increase", "clear decrease")


def compare(current: Estimate | None, baseline: Estimate | None, z: float = Z95) -> Change:
    """Compare two independent estimates with the Gaussian difference test.

    Args:
        current: This window's estimate, or None when it was not released.
        baseline: The estimate to compare with (last week's value, or the mean of earlier weeks).
        z: The test's critical value: 1.96 for one comparison, :func:`z_for` for a scan.

    Returns:
        A :class:`Change`: a clear increase or decrease when |difference| > z·√(σ₁² + σ₂²), otherwise
        "no clear change"; "no earlier data" when either side is missing.
    """
    if current is None or baseline is None:
        return Change(NO_EARLIER, current, baseline)
    difference = current.value - baseline.value
    threshold = z * math.sqrt(current.scale**2 + baseline.scale**2)
    if difference > threshold:
        verdict: Verdict = "clear increase"
    elif difference < -threshold:
        verdict = "clear decrease"
    else:
        verdict = NO_CLEAR_CHANGE
    return Change(verdict, current, baseline, difference, threshold)


def distinguishable_from_zero(estimate: Estimate, z: float = Z95) -> bool:
    """Whether ``estimate`` exceeds what noise alone makes of a zero count, at critical value ``z``."""
    return estimate.value > z * estimate.scale


def change_text(current: Mapping[Any, Any] | None, previous: Mapping[Any, Any] | None) -> str:
    """The verdict of :func:`compare` on two released cells' rows, as the dashboard shows it.

    Args:
        current: The cell's row (``value``, ``scale``, ``ci_low``, ``ci_high``), or None if not released.
        previous: The same cell's row in the previous released window, or None.

    Returns:
        ``"clear increase"`` or ``"clear decrease"`` when the difference exceeds 1.96·√(σ₁² + σ₂²),
        ``"no clear change"`` inside the noise, ``"no earlier window"`` when either is missing.
    """
    if current is None or previous is None:
        return "no earlier window"
    return compare(Estimate.from_row(current), Estimate.from_row(previous)).verdict
