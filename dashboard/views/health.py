"""Data health: what the workers took in, rejected, dropped and lag behind: operational totals only.

These figures come from the store's ``health`` table, written by the workers. They are system totals
per interval (events in by provider, rejects by reason, duplicates, late events, events dropped by
contribution bounding per report family) and current gauges (consumer lag, open windows). None is
kept per actor or broken down by what an event was about, so none describes an individual; they
are exact, not noisy, because they are about the pipeline, not about people.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.views import _common

TABLE = "health"
COUNTERS = {
    "events_in": "Events in, by provider",
    "rejected": "Rejected, by reason",
    "dropped_by_bounding": "Dropped by contribution bounding, by report family",
}
TOTALS = {
    "duplicates": "Duplicates",
    "late": "Late events",
    "replayed_records_skipped": "Replayed records skipped",
    "batch_failures": "Batch failures",
}
GAUGES = {
    "consumer_lag": "Consumer lag (records)",
    "open_windows": "Open windows",
    "state_bytes": "Window state in memory (bytes)",
}
PERIODS = {
    "Last hour": pd.Timedelta(hours=1),
    "Last day": pd.Timedelta(days=1),
    "Last week": pd.Timedelta(days=7),
    "Everything recorded": None,
}


def render() -> None:
    """The data health page."""
    _common.live("Data health", _body)


def _body(store: Path) -> None:
    rows = data.load_health(store)
    if rows is None or rows.empty:
        st.info(
            "**No health metrics yet:** the workers write operational totals to this store as they run "
            "(events in, rejects, late and dropped events, lag). Start a worker, or wait for its next write."
        )
        return
    period = st.radio("Period", list(PERIODS), index=1, horizontal=True, key="health_period")
    span = PERIODS[period]
    if span is not None:
        rows = rows[rows["recorded_at"] >= rows["recorded_at"].max() - span]
    st.caption(
        f"Recorded {rows['recorded_at'].min():%Y-%m-%d %H:%M} – {rows['recorded_at'].max():%Y-%m-%d %H:%M} "
        f"UTC by {rows['worker'].nunique()} worker(s). Operational totals, exact, never per actor."
    )
    _totals(rows)
    for metric, title in COUNTERS.items():
        _counter(rows, metric, title)
    _gauges(rows)


def _totals(rows: pd.DataFrame) -> None:
    columns = st.columns(len(TOTALS) + 1)
    columns[0].metric("Events in", f"{rows.loc[rows['metric'] == 'events_in', 'value'].sum():,.0f}")
    for column, (metric, title) in zip(columns[1:], TOTALS.items(), strict=True):
        column.metric(title, f"{rows.loc[rows['metric'] == metric, 'value'].sum():,.0f}")


def bucket(rows: pd.DataFrame) -> str:
    """A time bucket that gives a readable number of bars for the recorded span."""
    span = rows["recorded_at"].max() - rows["recorded_at"].min()
    return "1min" if span <= pd.Timedelta(hours=2) else "1h" if span <= pd.Timedelta(days=3) else "1D"


def counter_series(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Sum of one counter per time bucket and label."""
    mine = rows[rows["metric"] == metric]
    if mine.empty:
        return pd.DataFrame(columns=["time", "label", "value"])
    mine = mine.assign(time=mine["recorded_at"].dt.floor(bucket(rows)), label=mine["label"].replace("", "all"))
    return mine.groupby(["time", "label"])["value"].sum().reset_index()


def _counter(rows: pd.DataFrame, metric: str, title: str) -> None:
    st.subheader(title)
    series = counter_series(rows, metric)
    if series.empty:
        st.caption("None recorded in this period.")
        return
    st.altair_chart(
        alt.Chart(series)
        .mark_bar()
        .encode(
            x=alt.X("time:T", title="Time (UTC)", scale=alt.Scale(type="utc")),
            y=alt.Y("value:Q", title="Count"),
            color=alt.Color("label:N", title=None),
            tooltip=["label:N", alt.Tooltip("time:T", format="%Y-%m-%d %H:%M"), alt.Tooltip("value:Q", format=",.0f")],
        )
        .properties(height=220),
        width="stretch",
    )
    totals = series.groupby("label")["value"].sum().reset_index().sort_values("value", ascending=False)
    _common.table(
        totals.rename(columns={"label": title.split(", by ")[-1].capitalize(), "value": "Total"}),
        f"health-{metric}",
        f"health_{metric}",
    )


def _gauges(rows: pd.DataFrame) -> None:
    st.subheader("Lag and open windows")
    gauges = rows[rows["metric"].isin(GAUGES)]
    if gauges.empty:
        st.caption("No gauge recorded in this period.")
        return
    latest = gauges.sort_values("recorded_at").groupby(["worker", "metric"], as_index=False).last()
    latest["metric"] = latest["metric"].map(GAUGES)
    _common.table(
        latest[["worker", "metric", "value", "recorded_at"]].rename(
            columns={"worker": "Worker", "metric": "Gauge", "value": "Latest", "recorded_at": "Recorded at"}
        ),
        "health-gauges",
        "health_gauges",
    )
    st.altair_chart(
        alt.Chart(gauges.assign(gauge=gauges["metric"].map(GAUGES)))
        .mark_line()
        .encode(
            x=alt.X("recorded_at:T", title="Time (UTC)", scale=alt.Scale(type="utc")),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("worker:N", title="Worker"),
            row=alt.Row("gauge:N", title=None),
        )
        .properties(height=120),
        width="stretch",
    )
