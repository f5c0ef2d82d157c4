"""Escalations: distinct actors reaching each stage of warn → rate limit → suspension or ban, over time."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, stats
from dashboard.views import _common

FAMILY = "escalation_funnel"
WINDOWS_SHOWN = 26
STAGES = ["warn", "rate_limit", "suspend_ban"]
STAGE_NAMES = {"warn": "warned", "rate_limit": "rate-limited", "suspend_ban": "suspended or banned"}


def render() -> None:
    """The escalations page."""
    _common.live("Escalations", _body)


def _body(store: Path) -> None:
    releases = _common.family_releases(store, FAMILY, "The escalation funnel")
    if releases is None:
        return
    cells = stats.with_text(stats.released_parts(data.load_cells(store, FAMILY, WINDOWS_SHOWN)))
    cells["stage"] = [STAGE_NAMES.get(s, s) for s in cells["escalation_stage"]]
    st.subheader("Actors per stage over time")
    st.altair_chart(
        _common.band_lines(cells, "stage", "Stage", [STAGE_NAMES[s] for s in STAGES], value_title="Released actors"),
        width="stretch",
    )
    window = _common.pick_window(_common.windows_of(releases), "escalations_window")
    one = cells[cells["window_start"] == window["window_start"]]
    st.subheader(f"Funnel, window {window['label']}")
    st.altair_chart(funnel(one), width="stretch")
    st.caption(
        "Distinct actors (pseudonymous, per provider) who reached each stage in the window; an actor "
        "suspended or banned also counts as warned and rate-limited. Each count is released with its own "
        "noise, so a later stage can come out above an earlier one when both are small. " + _common.ZERO_NOTE
    )
    _common.table(funnel_table(one), f"{FAMILY}-{window['label']}", "escalations")


def funnel(cells: pd.DataFrame) -> alt.LayerChart:
    """Horizontal bars in funnel order with 95% interval whiskers."""
    names = [STAGE_NAMES[s] for s in STAGES]
    base = alt.Chart(cells).encode(
        y=alt.Y("stage:N", title=None, sort=names),
        tooltip=[
            alt.Tooltip("stage:N", title="Stage"),
            alt.Tooltip("released:N", title="Released actors"),
            alt.Tooltip("interval:N", title="95% interval"),
        ],
    )
    bars = base.mark_bar(color="#c0504d").encode(x=alt.X("value:Q", title="Released actors"))
    whiskers = base.mark_rule(color="#333").encode(x="ci_low:Q", x2="ci_high:Q")
    return (bars + whiskers).properties(height=180)


def funnel_table(cells: pd.DataFrame) -> pd.DataFrame:
    """The funnel as shown: stage, released actors (a bound when the interval includes zero), interval."""
    rows = cells.set_index("escalation_stage").reindex([s for s in STAGES if s in set(cells["escalation_stage"])])
    return pd.DataFrame(
        {
            "Stage": [STAGE_NAMES[s] for s in rows.index],
            "Released actors": rows["released"].to_numpy(),
            "95% interval": rows["interval"].to_numpy(),
        }
    )
