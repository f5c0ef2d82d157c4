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
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from analytics.families import ReportFamily
from analytics.privacy.gaussian import GaussianPlan, interval_half_width, non_negative_with_total
from analytics.privacy.selection import ThresholdPlan
from analytics.store import DIMENSION_COLUMNS
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
    if not family.total:
        return _frame(
            family,
            release_id,
            window,
            keys,
            [float(v) for v in noisy],
            [plan.half_width] * len(keys),
            plan.mechanism,
            plan.scale,
            plan.rho,
        )
    n = len(keys)
    parts, total = non_negative_with_total([float(v) for v in noisy[:n]], float(noisy[n]))
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
    )


def selected_frame(
    family: ReportFamily, release_id: str, window: Window, plan: ThresholdPlan, released: Mapping[Cell, int]
) -> pd.DataFrame:
    """Rows of a partition-selection release: only the keys the thresholded mechanism let through."""
    keys = sorted(released)
    return _frame(
        family,
        release_id,
        window,
        keys,
        [float(released[k]) for k in keys],
        [plan.half_width] * len(keys),
        plan.mechanism,
        plan.scale,
        plan.rho,
    )
