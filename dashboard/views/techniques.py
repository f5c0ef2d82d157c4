"""Jailbreak techniques: the mix over time, and techniques by danger domain in one window."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, stats
from dashboard.views import _common
from ingest.contract.taxonomy import TECHNIQUE_ATLAS, Technique

FAMILY = "techniques_by_category"
WINDOWS_SHOWN = 26
CHANCE_NOTE = (
    "With 95% intervals, about one in forty cells whose true count is zero still comes out clear of "
    "zero by chance: read a lone pale square with care."
)


def render() -> None:
    """The jailbreak techniques page."""
    _common.live("Jailbreak techniques", _body)


def _body(store: Path) -> None:
    releases = _common.family_releases(store, FAMILY, "The technique mix")
    if releases is None:
        return
    cells = stats.released_parts(data.load_cells(store, FAMILY, WINDOWS_SHOWN))
    st.subheader("Technique mix over time")
    mix = stats.with_text(stats.aggregate(cells, ["technique"]))
    mix["window"] = [_common.window_label(s, e) for s, e in zip(mix["window_start"], mix["window_end"], strict=True)]
    st.altair_chart(mix_chart(mix), width="stretch")
    st.caption(
        "Released events per technique, all domains summed; each bar stacks the techniques of one window. "
        "Hover for the 95% interval. " + _common.ZERO_NOTE
    )
    st.subheader("Techniques by danger domain")
    window = _common.pick_window(_common.windows_of(releases), "techniques_window")
    one = stats.with_text(cells[cells["window_start"] == window["window_start"]])
    st.altair_chart(heatmap(one), width="stretch")
    st.caption(
        f"Window {window['label']}. Grey squares: the interval includes zero, so the count cannot be told "
        f"apart from zero. {CHANCE_NOTE}"
    )
    _common.table(technique_table(one), f"{FAMILY}-{window['label']}", "techniques")


def mix_chart(mix: pd.DataFrame) -> alt.Chart:
    """Stacked bars of released events per technique and window."""
    return (
        alt.Chart(mix)
        .mark_bar()
        .encode(
            x=alt.X("window:O", title="Window", sort=alt.EncodingSortField("window_start")),
            y=alt.Y("value:Q", title="Released events", stack="zero"),
            color=alt.Color("technique:N", title="Technique", sort=[t.value for t in Technique]),
            tooltip=[
                alt.Tooltip("technique:N", title="Technique"),
                alt.Tooltip("released:N", title="Released"),
                alt.Tooltip("interval:N", title="95% interval"),
            ],
        )
        .properties(height=320)
    )


def heatmap(cells: pd.DataFrame) -> alt.LayerChart:
    """Technique × domain squares coloured by released count; grey where the interval includes zero."""
    base = alt.Chart(cells).encode(
        x=alt.X("technique:N", title="Technique", sort=[t.value for t in Technique]),
        y=alt.Y("category:N", title="Danger domain", axis=alt.Axis(labelOverlap=False)),
        tooltip=[
            alt.Tooltip("category:N", title="Domain"),
            alt.Tooltip("technique:N", title="Technique"),
            alt.Tooltip("released:N", title="Released"),
            alt.Tooltip("interval:N", title="95% interval"),
        ],
    )
    unclear = base.transform_filter("datum.includes_zero").mark_rect(color="#e4e4e4")
    clear = (
        base.transform_filter("!datum.includes_zero")
        .mark_rect()
        .encode(color=alt.Color("value:Q", title="Released events", scale=alt.Scale(scheme="oranges")))
    )
    return (unclear + clear).properties(height=28 * max(cells["category"].nunique(), 1))


def technique_table(cells: pd.DataFrame) -> pd.DataFrame:
    """One window's cells as shown: domain, technique, its MITRE ATLAS mapping, released text, interval."""
    atlas = {t.value: TECHNIQUE_ATLAS.get(t, "") for t in Technique}
    rows = cells.sort_values(["includes_zero", "value"], ascending=[True, False])
    return pd.DataFrame(
        {
            "Domain": rows["category"],
            "Technique": rows["technique"],
            "MITRE ATLAS": [atlas.get(t, "") for t in rows["technique"]],
            "Released events": rows["released"],
            "95% interval": rows["interval"],
        }
    )
