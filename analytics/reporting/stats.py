"""Noise-aware comparisons of released values: when is a change a change?

Every released count is the true (bounded) count plus independent Gaussian noise of a known standard
deviation σ (the cell's ``scale``), then clamped at zero. The difference of two independent releases
has noise of standard deviation √(σ₁² + σ₂²); a change is called only when the released difference is
larger than z·√(σ₁² + σ₂²), with z = 1.96 for one comparison at 95%. Clamping at zero is 1-Lipschitz,
so it can only shrink a difference: the test stays conservative. Inside the noise the report says
"no clear change", never a trend.

A report makes many comparisons, in six scans (domains against last week, domains against their
trend, techniques, the funnel, surfaces, jurisdictions). If each were tested at 95%, a week in which
nothing changed would still show a "clear change" in most reports. The report's family-wise false-call
rate (:data:`REPORT_FALSE_CALL_RATE`, 5%) is therefore split between the scans (:data:`SCAN_RATES`, a
weighted Bonferroni correction), and each scan tests its cells at :func:`scan_z`, the Bonferroni z for
its share and its number of comparisons: if no true count changed, the chance that a report contains
any clear change is at most 5%. The dashboard flags with the same :func:`z_for`.

Sums of released cells (:meth:`Estimate.total`, and the dashboard's sums) share one conservative
interval, :func:`sum_interval`: released cells are clamped at zero, which lifts cells whose true count
is zero, so a sum's lower end comes from the parts clear of zero only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

#: z of a two-sided 95% test.
Z95 = NormalDist().inv_cdf(0.975)
ALPHA = 0.05

Verdict = Literal["clear increase", "clear decrease", "no clear change", "no earlier data"]
NO_CLEAR_CHANGE: Verdict = "no clear change"
NO_EARLIER: Verdict = "no earlier data"


#: The chance, when no true count changed, that a weekly report contains any clear change (or new or
#: rising technique): the family-wise false-call rate of the whole report.
REPORT_FALSE_CALL_RATE = ALPHA

Scan = Literal["domains_vs_last", "domains_vs_trend", "techniques", "jurisdictions", "surfaces", "funnel"]

#: Each scan's share of :data:`REPORT_FALSE_CALL_RATE`; the shares add up to it (weighted Bonferroni),
#: so the report's false-call rate is bounded however the scans depend on each other.
SCAN_RATES: Mapping[Scan, float] = {
    "domains_vs_last": 0.02,
    "domains_vs_trend": 0.01,
    "techniques": 0.01,
    "jurisdictions": 0.005,
    "surfaces": 0.0025,
    "funnel": 0.0025,
}

#: How the report names each scan when it states its threshold.
SCAN_NAMES: Mapping[Scan, str] = {
    "domains_vs_last": "domains against the previous window",
    "domains_vs_trend": "domains against the 8-week average",
    "techniques": "techniques (domain × technique)",
    "jurisdictions": "jurisdictions",
    "surfaces": "surfaces",
    "funnel": "funnel stages",
}


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


def scan_z(scan: Scan, comparisons: int) -> float:
    """The z at which the report tests the ``comparisons`` cells of ``scan``: :func:`z_for` at the scan's
    share of the report's false-call rate (:data:`SCAN_RATES`). Fewer than one comparison counts as one."""
    return z_for(max(comparisons, 1), SCAN_RATES[scan])


def sum_interval(
    total: npt.ArrayLike, clear_total: npt.ArrayLike, sd: npt.ArrayLike
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The conservative 95% interval of a sum of released cells clamped at zero (report and dashboard).

    Clamping lifts cells whose true count is zero, so a sum of many such cells would look clearly
    positive. The lower end therefore comes from the parts clear of zero only, with the noise of all
    parts (``Σ clear values − 1.96·sd``, cut at 0: the other parts are at least zero, and the wider
    noise also covers a part that looks clear by chance); the upper end from all parts
    (``Σ values + 1.96·sd``: clamping only ever raised them). ``sd`` is √Σσᵢ², the noise of the sum.
    A sum of one cell keeps the interval it was released with; callers handle that case.

    Args:
        total: Σ values of the parts (array-like, one entry per sum).
        clear_total: Σ values of the parts whose interval excludes zero.
        sd: The sum's noise, √Σσᵢ².

    Returns:
        ``(low, high)`` as float arrays; the interval includes zero exactly where ``low`` is 0.
    """
    sd_ = np.asarray(sd, dtype=np.float64)
    low = np.maximum(np.asarray(clear_total, dtype=np.float64) - Z95 * sd_, 0.0)
    return low, np.asarray(total, dtype=np.float64) + Z95 * sd_


@dataclass(frozen=True)
class Estimate:
    """A released value with its noise: ``value`` (clamped at 0), σ (``scale``) and a 95% interval.

    ``clear_value`` is set on sums of released cells only: the part of ``value`` that comes from parts
    clear of zero (see :func:`sum_interval`); tests against zero use it instead of ``value``.
    """

    value: float
    scale: float
    ci_low: float
    ci_high: float
    clear_value: float | None = None

    @property
    def includes_zero(self) -> bool:
        """Whether the interval reaches zero: the value cannot be told apart from nothing."""
        return self.ci_low <= 0

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Estimate:
        """The estimate of one released cell (a row of the store's ``cells`` table)."""
        return cls(float(row["value"]), float(row["scale"]), float(row["ci_low"]), float(row["ci_high"]))

    @property
    def clear_of_zero(self) -> float:
        """The value a test against zero uses: ``clear_value`` for a sum, else ``value``."""
        return self.value if self.clear_value is None else self.clear_value

    @classmethod
    def total(cls, parts: Sequence[Estimate]) -> Estimate:
        """The sum of independent estimates: values add, variances add, with :func:`sum_interval`.

        A sum of one estimate is that estimate (it keeps the interval it was released with).
        """
        if len(parts) == 1:
            return parts[0]
        value = sum(p.value for p in parts)
        clear = sum(p.clear_of_zero for p in parts if not p.includes_zero)
        return cls.summed(value, clear, math.sqrt(sum(p.scale**2 for p in parts)))

    @classmethod
    def summed(cls, value: float, clear_value: float, scale: float) -> Estimate:
        """A sum of released cells from its value, the value of its parts clear of zero, and its noise."""
        low, high = sum_interval(value, clear_value, scale)
        return cls(value, scale, float(low), float(high), clear_value)

    @classmethod
    def mean(cls, parts: Sequence[Estimate]) -> Estimate:
        """The average of independent estimates (σ = √Σσᵢ² / n): the baseline of a multi-week comparison."""
        if not parts:
            raise ValueError("the mean of no estimates is undefined")
        total, n = cls.total(parts), len(parts)
        clear = None if total.clear_value is None else total.clear_value / n
        return cls(total.value / n, total.scale / n, total.ci_low / n, total.ci_high / n, clear)


@dataclass(frozen=True)
class Change:
    """The outcome of comparing a released value with a baseline (last week, or an average)."""

    verdict: Verdict
    current: Estimate | None
    baseline: Estimate | None
    difference: float = math.nan
    threshold: float = math.nan  # z·√(σ₁² + σ₂²): how large a difference must be to be called
    z: float = math.nan  # the test's critical value (1.96, or a scan's Bonferroni z)

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
    return Change(verdict, current, baseline, difference, threshold, z)


def distinguishable_from_zero(estimate: Estimate, z: float = Z95) -> bool:
    """Whether ``estimate`` exceeds what noise alone makes of a zero count, at critical value ``z``.

    For a sum of clamped cells only its parts clear of zero count (``clear_value``), as in :func:`sum_interval`.
    """
    return estimate.clear_of_zero > z * estimate.scale


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
