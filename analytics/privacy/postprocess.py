"""Post-processing of noisy releases into the rows of ``cells``, at no privacy cost.

Applied after noise, to noisy values only:

* **Non-negativity.** Values and interval ends are clamped at zero; a cell whose interval reaches
  zero is flagged ``includes_zero`` (show it as "at most …", never as a precise small number).
* **Totals consistent with parts** (families with ``total = true``). The total is released as an
  extra noisy entry at the same scale as the cells. The noisy vector is projected onto the subspace
  {sum of parts = total} by ordinary least squares (the best linear unbiased estimate, since every
  entry has the same noise variance): the discrepancy ``r = total - Σ parts`` is spread evenly,
  each part gaining ``r/(n+1)`` and the total losing it, which cuts each entry's variance to
  σ²·n/(n+1). Parts are then clamped at zero and the total is set to the sum of the clamped parts,
  so the stored total always equals the sum of the stored parts.
* **The noisy value itself.** Every row also keeps ``noisy_value``, the unclamped OpenDP output
  (for a total row, the noisy total before projection): clamping biases sums, so sums use this.
* **Year to date** (:func:`year_to_date_lines`). The line of week t of year Y per category is the
  sum of the unclamped noisy values of the family's released weeks starting in Y up to t. The
  weekly noises are independent discrete Gaussians of scales σ₁ … σₙ, so the sum's noise has
  variance at most Σσᵢ² (a discrete Gaussian's variance is below its σ²) and, being a sum of
  independent sub-Gaussians, is sub-Gaussian with that parameter. Its 95% interval is OpenDP's
  :func:`~analytics.privacy.gaussian.interval_half_width` at scale √Σσᵢ²: the sum is not itself
  a discrete Gaussian, but at the scales Flockview uses (σ ≥ 20) the two laws differ by less than
  1e-12 in every tail probability; ``tests/unit/analytics/privacy/test_year_to_date.py`` convolves
  the exact probability mass functions and checks that the interval covers at least 95% for every
  number of weeks a year can hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime
from functools import lru_cache

import numpy as np
import pandas as pd

from analytics.families import ReportFamily
from analytics.privacy.gaussian import DEFAULT_ALPHA, GaussianPlan, interval_half_width, non_negative_with_total
from analytics.privacy.selection import ThresholdPlan
from analytics.store import DIMENSION_COLUMNS
from analytics.store.tree import CumulativeRow
from analytics.windows import Cell, Window


def _frame(
    family: ReportFamily,
    release_id: str,
    window: Window,
    keys: Sequence[Cell | None],
    values: Sequence[float],
    half: Sequence[float],
    mechanism: str,
    scale: float,
    rho: float,
    noisy: Sequence[float],
) -> pd.DataFrame:
    rows: dict[str, list[object]] = {c: [None] * len(keys) for c in DIMENSION_COLUMNS}
    for d, dim in enumerate(family.dimensions):
        rows[dim] = [None if key is None else key[d] for key in keys]
    v, h = np.asarray(values, dtype=float), np.asarray(half, dtype=float)
    frame = pd.DataFrame(
        {
            "release_id": release_id,
            "family": family.name,
            "window_start": window.start,
            "window_end": window.end,
            **rows,
            "value": np.maximum(v, 0.0),
            "ci_low": np.maximum(v - h, 0.0),
            "ci_high": np.maximum(v + h, 0.0),
            "includes_zero": v - h <= 0,
            "mechanism": mechanism,
            "scale": scale,
            "rho": rho,
            "is_total": [key is None for key in keys],
            "noisy_value": np.asarray(noisy, dtype=float),
        }
    )
    for col in DIMENSION_COLUMNS:
        frame[col] = frame[col].astype("object")
    return frame


def cells_frame(
    family: ReportFamily, release_id: str, window: Window, plan: GaussianPlan, noisy: Sequence[int]
) -> pd.DataFrame:
    """Rows of a public-key release; with ``family.total`` the last noisy entry is the total."""
    keys: list[Cell | None] = list(family.keys)
    raw = [float(v) for v in noisy]
    if not family.total:
        return _frame(
            family,
            release_id,
            window,
            keys,
            raw,
            [plan.half_width] * len(keys),
            plan.mechanism,
            plan.scale,
            plan.rho,
            raw,
        )
    n = len(keys)
    parts, total = non_negative_with_total(raw[:n], raw[n])
    half = interval_half_width(plan.scale * math.sqrt(n / (n + 1)), plan.alpha)
    return _frame(
        family,
        release_id,
        window,
        [*keys, None],
        [*parts, total],
        [half] * n + [half],
        plan.mechanism,
        plan.scale,
        plan.rho,
        raw,
    )


def selected_frame(
    family: ReportFamily, release_id: str, window: Window, plan: ThresholdPlan, released: Mapping[Cell, int]
) -> pd.DataFrame:
    """Rows of a partition-selection release: only the keys the thresholded mechanism let through."""
    keys = sorted(released)
    raw = [float(released[k]) for k in keys]
    return _frame(
        family,
        release_id,
        window,
        keys,
        raw,
        [plan.half_width] * len(keys),
        plan.mechanism,
        plan.scale,
        plan.rho,
        raw,
    )


#: The ``mechanism`` of a year-to-date line: post-processing of weekly discrete Gaussian releases.
YEAR_TO_DATE_MECHANISM = "sum_of_weekly_discrete_gaussian"


def year_to_date_lines(
    family: str, year: int, weekly: pd.DataFrame, now: datetime, alpha: float = DEFAULT_ALPHA
) -> list[CumulativeRow]:
    """The year-to-date lines of one family and year, from its released weekly values (no budget).

    Args:
        family: the family's name.
        year: the year the weeks start in.
        weekly: :func:`analytics.store.tree.weekly_values` of that family and year: ``window_start``,
            ``window_end``, ``category``, ``noisy`` (unclamped) and ``scale``.
        now: when the lines are computed.
        alpha: 1 - the interval's coverage.

    Returns:
        For every released week and category, the running sum of ``noisy`` (weeks in the order they
        start), its standard deviation √Σσ² and OpenDP's (1 - alpha) interval at that scale, clamped
        at zero like the cells.
    """
    rows: list[CumulativeRow] = []
    if weekly.empty:
        return rows
    weeks = weekly.sort_values(["window_start", "category"])
    sums: dict[str, float] = {}
    variances: dict[str, float] = {}
    counts: dict[str, int] = {}
    for _, week in weeks.groupby("window_start", sort=True):
        start, end = week["window_start"].iloc[0], week["window_end"].iloc[0]
        for category, noisy, scale in zip(week["category"], week["noisy"], week["scale"], strict=True):
            sums[category] = sums.get(category, 0.0) + float(noisy)
            variances[category] = variances.get(category, 0.0) + float(scale) ** 2
            counts[category] = counts.get(category, 0) + 1
        for category in sorted(sums):
            value, sigma = sums[category], math.sqrt(variances[category])
            half = _half_width(sigma, alpha)
            rows.append(
                CumulativeRow(
                    family,
                    year,
                    pd.Timestamp(start).to_pydatetime(),
                    pd.Timestamp(end).to_pydatetime(),
                    category,
                    value,
                    max(value, 0.0),
                    max(value - half, 0.0),
                    max(value + half, 0.0),
                    value - half <= 0,
                    YEAR_TO_DATE_MECHANISM,
                    sigma,
                    counts[category],
                    now,
                )
            )
    return rows


@lru_cache(maxsize=1024)
def _half_width(sigma: float, alpha: float) -> float:
    return interval_half_width(sigma, alpha)
