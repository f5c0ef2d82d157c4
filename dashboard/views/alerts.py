"""Alerts: cells whose change since the previous window exceeds the combined noise, at a stated false-alarm rate.

Each released cell is compared with the same cell in its family's previous window. The difference of
two releases has noise of standard deviation ``sqrt(s₁² + s₀²)``; a change is flagged only beyond
``z`` times that, with ``z`` set (Bonferroni) so that if no cell on the page truly changed, the chance
of one or more flags is at most the chosen false-alarm rate. The rule is :func:`dashboard.stats.compare`
then :func:`dashboard.stats.flag`; ``bench/utility.py`` measures it through :func:`dashboard.stats.changes`
(the two in one call), and docs/analyst-guide.md states its power and false-alarm rate.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from analytics.reporting.document import value_text
from dashboard import data, stats
from dashboard.views import _common
from dashboard.views.explore import dimensions_of

RATES = {"1%": 0.01, "5%": 0.05, "10%": 0.10}


def render() -> None:
    """The alerts page."""
    _common.live("Alerts", _body)


def family_comparisons(store: Path, family: str, releases: pd.DataFrame) -> pd.DataFrame:
    """Every cell of ``family``'s latest window against its previous window (unflagged), or empty."""
    windows = _common.windows_of(releases[releases["family"] == family])
    if len(windows) < 2:
        return pd.DataFrame()
    cells = stats.released_parts(data.load_window_cells(store, family, tuple(windows["window_start"].iloc[-2:])))
    dims = dimensions_of(cells)
    if cells.empty or not dims:
        return pd.DataFrame()
    latest, previous = windows["window_start"].iloc[-1], windows["window_start"].iloc[-2]
    now = stats.aggregate(cells[cells["window_start"] == latest], dims)
    before = stats.aggregate(cells[cells["window_start"] == previous], dims)
    compared = stats.compare(now, before, dims)
    compared["cell"] = compared[dims].astype(str).agg(" · ".join, axis=1)
    compared["family"] = family
    compared["window"] = windows["label"].iloc[-1]
    compared["against"] = windows["label"].iloc[-2]
    return compared[
        [
            "family",
            "cell",
            "window",
            "against",
            "value",
            "previous",
            "change",
            "noise_sd",
            "z",
            "includes_zero",
            "ci_high",
        ]
    ]


def alert_table(flagged: pd.DataFrame) -> pd.DataFrame:
    """Flagged changes as shown: family, cell, windows, released now (a bound if near zero), change, z."""
    now = [
        value_text(v, h, bool(z))
        for v, h, z in zip(flagged["value"], flagged["ci_high"], flagged["includes_zero"], strict=True)
    ]
    return pd.DataFrame(
        {
            "Report family": flagged["family"],
            "Cell": flagged["cell"],
            "Window": flagged["window"],
            "Against": flagged["against"],
            "Direction": flagged["direction"],
            "Released now": now,
            "Released before": [_common.number(v) for v in flagged["previous"]],
            "Change": [f"{c:+,.0f}" for c in flagged["change"]],
            "Change / noise": [f"{z:+.1f}" for z in flagged["z"]],
        }
    )


def _body(store: Path) -> None:
    releases = data.load_releases(store)
    families = sorted(releases["family"].unique())
    left, right = st.columns([3, 1])
    chosen = left.multiselect("Report families", families, default=families, key="alerts_families")
    rate_label = right.selectbox("False-alarm rate", list(RATES), index=1, key="alerts_rate")
    parts = [family_comparisons(store, f, releases) for f in chosen]
    parts = [p for p in parts if not p.empty]
    if not parts:
        st.info("Nothing to compare yet: alerts need two released windows of a chosen family.")
        return
    flagged_all = stats.flag(pd.concat(parts, ignore_index=True), RATES[rate_label])
    flagged = flagged_all[flagged_all["flagged"]]
    threshold, compared = flagged_all.attrs["threshold"], flagged_all.attrs["compared"]
    st.markdown(
        f"**{len(flagged)} change(s) flagged** among {compared:,} cells compared, each against its family's "
        f"previous window. A change is flagged only when it exceeds **{threshold:.2f}×** the combined noise of "
        f"the two figures. **False-alarm rate: {rate_label}** — if no cell truly changed, the chance that this "
        f"page flags one or more is at most {rate_label}. Changes smaller than that bar are not flagged even if "
        "real: a quiet page is not proof that nothing changed."
    )
    if flagged.empty:
        st.success("No change exceeds the noise.")
        return
    _common.table(alert_table(flagged), "alerts", "alerts")
    st.caption(
        "The test allows for the privacy noise only: its null hypothesis is that a cell's true count is the "
        "same in both windows, so ordinary week-to-week movement of a large cell is a real change and may be "
        "flagged. Cells are released clamped at zero; near zero the noise is smaller than its nominal size, "
        "which makes flags there rarer, never more frequent. " + _common.ZERO_NOTE
    )
