"""Pieces every view shares: live refresh, the first-run page, "not released yet" notes, exports.

Exports hold exactly the table a page shows: released (noisy) values, their intervals and labels.
Nothing here reads anything but the store's released tables.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from analytics.errors import StoreError
from analytics.windows import Window
from dashboard import data
from dashboard.settings import DashboardSettings

FIRST_RUN_TITLE = "No released data yet"
ZERO_NOTE = (
    'A figure whose 95% interval includes zero is shown only as an upper bound ("≤ n"): it cannot '
    "be told apart from zero."
)


def live(title: str, body: Callable[[Path], None]) -> None:
    """Draw ``title`` and run ``body(store)`` in a fragment that re-runs every ``refresh_seconds``.

    A store that cannot be read shows an error instead of a traceback; a store with no release at
    all shows the first-run page.
    """
    settings = DashboardSettings()
    st.title(title)

    @st.fragment(run_every=settings.refresh_seconds)
    def fragment() -> None:
        try:
            releases = data.load_releases(settings.store)
            if releases.empty:
                first_run(settings.store, settings.refresh_seconds, store_has_releases=False)
                return
            body(settings.store)
        except StoreError as exc:
            st.error(f"Cannot read the store: {exc}")

    fragment()


def first_run(store: Path, refresh_seconds: int, *, store_has_releases: bool, family: str = "") -> None:
    """The helpful page for a store with no release (or none of ``family``) yet."""
    st.subheader(FIRST_RUN_TITLE)
    where = (
        f"The store `{store}` holds releases, but none of `{family}` yet."
        if store_has_releases
        else f"The store `{store}` does not exist yet."
        if not store.exists()
        else f"The store `{store}` holds no release yet."
    )
    st.info(where)
    st.markdown(
        "**To see data here:**\n\n"
        "- On a laptop, run `flockview up`: it starts the embedded broker, a worker and this dashboard.\n"
        "- Or start a worker yourself, writing to the store this dashboard reads:\n\n"
        f"  `FLOCKVIEW_WORKER_STORE={store} python -m analytics.stream`\n\n"
        "- Or point this dashboard at an existing store: `FLOCKVIEW_DASHBOARD_STORE=/path/to/flockview.duckdb`.\n\n"
        "A window is released once it has closed (its end plus the allowed lateness). "
        f"This page looks again every {refresh_seconds} s."
    )


def family_releases(store: Path, family: str, what: str) -> pd.DataFrame | None:
    """The releases of ``family``, oldest first; None (after a "not released yet" note) when there are none."""
    releases = data.load_releases(store)
    mine = releases[releases["family"] == family]
    if mine.empty:
        st.info(
            f"**Not released yet:** {what} comes from the report family `{family}`, which has no release "
            "in this store. It appears here after the first window of that family closes and is released."
        )
        return None
    return mine


def window_label(start: pd.Timestamp, end: pd.Timestamp) -> str:
    """The window's label: ``2026-W47`` for a week, else its UTC start."""
    return Window(start.to_pydatetime(), end.to_pydatetime()).label()


def windows_of(releases: pd.DataFrame) -> pd.DataFrame:
    """Distinct windows of ``releases``, oldest first, with a ``label`` column."""
    windows = releases[["window_start", "window_end"]].drop_duplicates().sort_values("window_start")
    windows = windows.reset_index(drop=True)
    windows["label"] = [window_label(s, e) for s, e in zip(windows["window_start"], windows["window_end"], strict=True)]
    return windows


def pick_window(windows: pd.DataFrame, key: str, label: str = "Window") -> pd.Series:
    """A selector over released windows (latest by default); returns the chosen row of ``windows``."""
    labels = list(windows["label"])
    if len(labels) == 1:
        st.caption(f"{label}: {labels[0]} (the only released window)")
        return windows.iloc[0]
    chosen = st.select_slider(label, options=labels, value=labels[-1], key=key)
    return windows.iloc[labels.index(chosen)]


def export(frame: pd.DataFrame, name: str, key: str) -> None:
    """CSV and Parquet download buttons for exactly ``frame`` (released figures as shown)."""
    left, right = st.columns(2)
    left.download_button(
        "Download CSV",
        frame.to_csv(index=False).encode("utf-8"),
        file_name=f"{name}.csv",
        mime="text/csv",
        key=f"{key}_csv",
        width="stretch",
    )
    right.download_button(
        "Download Parquet",
        parquet_bytes(frame),
        file_name=f"{name}.parquet",
        mime="application/vnd.apache.parquet",
        key=f"{key}_parquet",
        width="stretch",
    )


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as a Parquet file (pyarrow), index dropped."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()


def number(value: float) -> str:
    """A released figure rounded to whole events, for tables where its interval is shown beside it."""
    return f"{round(value):,}"


def table(frame: pd.DataFrame, name: str, key: str) -> None:
    """Show ``frame`` and offer it for download as CSV and Parquet."""
    st.dataframe(frame, hide_index=True, width="stretch")
    export(frame, name, key)


def band_lines(
    frame: pd.DataFrame,
    series: str,
    series_title: str,
    domain: list[str],
    *,
    value_title: str,
    height: int = 300,
    extra_tooltips: tuple[alt.Tooltip, ...] = (),
) -> alt.LayerChart:
    """Released values over time, one line per ``series`` value, each over its 95% interval band.

    ``frame`` needs ``window_start``, ``value``, ``ci_low``, ``ci_high`` and the ``released`` and
    ``interval`` labels (:func:`dashboard.stats.with_text`).
    """
    base = alt.Chart(frame).encode(
        x=alt.X("window_start:T", title="Window start (UTC)", scale=alt.Scale(type="utc")),
        color=alt.Color(f"{series}:N", title=series_title, scale=alt.Scale(domain=domain)),
    )
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("ci_low:Q", title=f"{value_title} (95% interval)"), y2="ci_high:Q"
    )
    tooltip = [
        alt.Tooltip(f"{series}:N", title=series_title),
        *extra_tooltips,
        alt.Tooltip("released:N", title=value_title),
        alt.Tooltip("interval:N", title="95% interval"),
    ]
    line = base.mark_line(point=True).encode(y="value:Q", tooltip=tooltip)
    return (band + line).properties(height=height)
