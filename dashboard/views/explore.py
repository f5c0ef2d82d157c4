"""Explore: any released report family by its dimensions, filtered and grouped, over a range of windows.

Grouping sums released cells (post-processing, no budget); a sum's interval comes from the summed
noise variance (:func:`dashboard.stats.aggregate`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from analytics.store import DIMENSION_COLUMNS
from dashboard import data, stats
from dashboard.views import _common

DEFAULT_WINDOWS = 12
MAX_LINES = 10


def render() -> None:
    """The explore page."""
    _common.live("Explore released reports", _body)


def _title(name: str) -> str:
    family = data.family_catalog().get(name)
    return f"{family.title} ({name})" if family else name


def _body(store: Path) -> None:
    releases = data.load_releases(store)
    family = st.selectbox(
        "Report family", sorted(releases["family"].unique()), format_func=_title, key="explore_family"
    )
    windows = _common.windows_of(releases[releases["family"] == family])
    chosen = _window_range(windows)
    cells = stats.released_parts(data.load_window_cells(store, family, tuple(chosen["window_start"])))
    dimensions = dimensions_of(cells)
    filtered = _filters(cells, dimensions, family)
    group = st.multiselect("Group by", dimensions, default=dimensions[:1], key=f"explore_group_{family}")
    if filtered.empty:
        st.info("No released cell matches these filters.")
        return
    grouped = stats.with_text(stats.aggregate(filtered, group))
    _chart(grouped, group)
    _table(grouped, group, family)


def dimensions_of(cells: pd.DataFrame) -> list[str]:
    """The dimension columns the family's cells use (non-null somewhere), in the store's column order."""
    return [c for c in DIMENSION_COLUMNS if c in cells and cells[c].notna().any()]


def _window_range(windows: pd.DataFrame) -> pd.DataFrame:
    labels = list(windows["label"])
    if len(labels) == 1:
        st.caption(f"Window: {labels[0]} (the only released window)")
        return windows
    first, last = st.select_slider(
        "Windows",
        options=labels,
        value=(labels[max(0, len(labels) - DEFAULT_WINDOWS)], labels[-1]),
        key="explore_windows",
    )
    return windows.iloc[labels.index(first) : labels.index(last) + 1]


def _filters(cells: pd.DataFrame, dimensions: list[str], family: str) -> pd.DataFrame:
    columns = st.columns(max(len(dimensions), 1))
    keep = pd.Series(True, index=cells.index)
    for column, dimension in zip(columns, dimensions, strict=False):
        options = sorted(cells[dimension].dropna().unique())
        picked = column.multiselect(
            dimension.replace("_", " ").capitalize(),
            options,
            placeholder="all",
            key=f"explore_filter_{family}_{dimension}",
        )
        if picked:
            keep &= cells[dimension].isin(picked)
    return cells[keep]


def _chart(grouped: pd.DataFrame, group: list[str]) -> None:
    frame = grouped.copy()
    frame["series"] = frame[group].astype(str).agg(" · ".join, axis=1) if group else "all cells"
    latest = frame[frame["window_start"] == frame["window_start"].max()]
    top = list(latest.sort_values("value", ascending=False)["series"].head(MAX_LINES))
    frame = frame[frame["series"].isin(top)]
    st.altair_chart(
        _common.band_lines(frame, "series", " · ".join(group) or "Group", top, value_title="Released", height=340),
        width="stretch",
    )
    shown = f"the {len(top)} largest groups in the latest window" if len(top) == MAX_LINES else "every group"
    st.caption(f"Lines: released sums; bands: 95% intervals. Drawn: {shown}. {_common.ZERO_NOTE}")


def export_frame(grouped: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """The table as shown and exported: window, groups, released text, interval ends, clear values only."""
    out = pd.DataFrame(
        {
            "window": [
                _common.window_label(s, e) for s, e in zip(grouped["window_start"], grouped["window_end"], strict=True)
            ]
        }
    )
    for column in group:
        out[column] = grouped[column].to_numpy()
    out["released"] = grouped["released"].to_numpy()
    out["ci_low"] = grouped["ci_low"].round(1).to_numpy()
    out["ci_high"] = grouped["ci_high"].round(1).to_numpy()
    out["includes_zero"] = grouped["includes_zero"].to_numpy()
    # A figure indistinguishable from zero keeps no precise value, in the table or in the files.
    out["value_if_clear"] = grouped["value"].round().where(~grouped["includes_zero"]).to_numpy()
    out["cells_summed"] = grouped["n_cells"].to_numpy()
    return out


def _table(grouped: pd.DataFrame, group: list[str], family: str) -> None:
    st.subheader("Released figures")
    frame = export_frame(grouped.sort_values(["window_start", "value"], ascending=[False, False]), group)
    _common.table(frame, f"{family}-explore", "explore")
    st.caption(
        "Sums of several cells carry the summed noise: their intervals are wider than a single cell's. "
        "Cells are released clamped at zero, so sums of many near-zero cells lean high."
    )
