"""Noise-aware arithmetic on released cells: sums with their intervals, and changes against the noise.

Pure pandas, no Streamlit. Every input is a released (noisy, post-processed) cell carrying its noise
``scale`` (the standard deviation of the discrete Gaussian it was released with). Adding released
cells is post-processing, so it spends no budget; the noise of a sum has variance ``Σ scale²``, and
its 95% interval uses the normal approximation of that sum, made conservative for the clamping of
released cells at zero (see :func:`aggregate`).

Changes are flagged only when they exceed the combined noise of the two figures compared: the
difference of two independent releases has standard deviation ``sqrt(s₁² + s₀²)``; a change is
flagged when ``|difference| > z · sqrt(s₁² + s₀²)``, where ``z`` is chosen so that, if nothing
changed, the chance of any false alarm across all the comparisons on the page is at most the stated
rate (Bonferroni, :func:`analytics.reporting.stats.z_for`, the function the weekly report's scans use).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analytics.reporting.document import interval_text, value_text
from analytics.reporting.stats import sum_interval, z_for

WINDOW_COLUMNS = ["window_start", "window_end"]


def released_parts(cells: pd.DataFrame) -> pd.DataFrame:
    """The cells without released totals (rows with ``is_total``), so sums never count a total twice."""
    if "is_total" in cells and not cells.empty:
        return cells[~cells["is_total"].fillna(False).astype(bool)]
    return cells


def aggregate(cells: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Sum released cells per window and ``by`` columns, with the sum's noise and a conservative 95% interval.

    A group of one cell keeps the interval it was released with. For a larger group the interval is
    :func:`analytics.reporting.stats.sum_interval`, the one the weekly report's sums use: its lower end
    from the parts clear of zero only (``Σ clear values − 1.96 · sqrt(Σ scale²)``, cut at 0), its upper
    end from all parts (``Σ values + 1.96 · sqrt(Σ scale²)``). ``sd`` is ``sqrt(Σ scale²)``, the noise
    of the unclamped sum.

    Args:
        cells: Released cells with ``value``, ``ci_low``, ``ci_high``, ``includes_zero`` and ``scale``.
        by: Dimension columns to keep (others are summed over); may be empty.

    Returns:
        One row per window and group: ``value``, ``sd``, ``ci_low``, ``ci_high``, ``includes_zero``, ``n_cells``.
    """
    keys = WINDOW_COLUMNS + by
    columns = [*keys, "value", "sd", "ci_low", "ci_high", "includes_zero", "n_cells"]
    cells = released_parts(cells)
    if cells.empty:
        return pd.DataFrame(columns=columns)
    work = cells[[*keys, "value", "ci_low", "ci_high", "includes_zero"]].copy()
    clear = ~work["includes_zero"].astype(bool)
    work["var"] = cells["scale"].astype(float) ** 2
    work["clear_value"] = work["value"].where(clear, 0.0)
    grouped = work.groupby(keys, dropna=False, sort=True)
    out = grouped.agg(
        value=("value", "sum"),
        var=("var", "sum"),
        n_cells=("value", "size"),
        clear_value=("clear_value", "sum"),
        ci_low=("ci_low", "first"),
        ci_high=("ci_high", "first"),
        includes_zero=("includes_zero", "first"),
    ).reset_index()
    out["sd"] = np.sqrt(out["var"])
    many = (out["n_cells"] > 1).to_numpy()
    low, high = sum_interval(out["value"], out["clear_value"], out["sd"])  # the report's sums use it too
    out.loc[many, "ci_low"] = low[many]
    out.loc[many, "ci_high"] = high[many]
    out.loc[many, "includes_zero"] = low[many] <= 0
    out["includes_zero"] = out["includes_zero"].astype(bool)
    return out[columns]


def with_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Add ``released`` (an upper bound when the interval includes zero) and ``interval`` text columns."""
    frame = frame.copy()
    frame["released"] = [
        value_text(v, h, bool(z))
        for v, h, z in zip(frame["value"], frame["ci_high"], frame["includes_zero"], strict=True)
    ]
    frame["interval"] = [interval_text(lo, hi) for lo, hi in zip(frame["ci_low"], frame["ci_high"], strict=True)]
    return frame


def compare(current: pd.DataFrame, previous: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Pair two windows' figures by ``by`` and measure each change in units of the combined noise.

    Args:
        current: :func:`aggregate` output for the later window.
        previous: :func:`aggregate` output for the earlier window.
        by: The group columns shared by both (at least one).

    Returns:
        One row per group present in both windows: the ``by`` columns, the current ``value``,
        ``ci_high`` and ``includes_zero``, ``previous``, ``change``, ``noise_sd`` and ``z`` (the change
        divided by ``noise_sd``).

    Raises:
        ValueError: ``by`` is empty.
    """
    if not by:
        raise ValueError("compare() needs at least one group column in `by`")
    joined = current.set_index(by)[["value", "sd", "ci_high", "includes_zero"]].join(
        previous.set_index(by)[["value", "sd"]], rsuffix="_prev", how="inner"
    )
    out = pd.DataFrame(
        {
            "value": joined["value"],
            "ci_high": joined["ci_high"],
            "includes_zero": joined["includes_zero"].astype(bool),
            "previous": joined["value_prev"],
        }
    )
    out["change"] = out["value"] - out["previous"]
    out["noise_sd"] = np.sqrt(joined["sd"] ** 2 + joined["sd_prev"] ** 2)
    out["z"] = out["change"] / out["noise_sd"].where(out["noise_sd"] > 0)
    return out.reset_index()


def flag(compared: pd.DataFrame, false_alarm_rate: float) -> pd.DataFrame:
    """Flag the rows of :func:`compare` output whose ``|z|`` exceeds the Bonferroni threshold for all of them.

    Returns:
        The rows, largest ``|z|`` first, with ``flagged`` and ``direction``; ``attrs["threshold"]`` holds
        the z a change had to exceed and ``attrs["compared"]`` the number of comparisons.

    Raises:
        ValueError: ``false_alarm_rate`` is not strictly between 0 and 1.
    """
    threshold = z_for(max(len(compared), 1), false_alarm_rate)
    out = compared.copy()
    out["flagged"] = out["z"].abs() > threshold
    out["direction"] = np.where(~out["flagged"], "within noise", np.where(out["change"] > 0, "increase", "decrease"))
    out = out.iloc[np.argsort(-out["z"].abs().fillna(0).to_numpy(), kind="stable")].reset_index(drop=True)
    out.attrs.update(threshold=threshold, compared=len(compared))
    return out


def changes(
    current: pd.DataFrame, previous: pd.DataFrame, by: list[str], false_alarm_rate: float = 0.05
) -> pd.DataFrame:
    """:func:`compare` then :func:`flag`: changes beyond the combined noise, largest first."""
    return flag(compare(current, previous, by), false_alarm_rate)


def significant_digits(x: float) -> str:
    """A z or threshold for a caption: two decimals, or ``–`` when undefined."""
    return "–" if x is None or not math.isfinite(x) else f"{x:.2f}"
