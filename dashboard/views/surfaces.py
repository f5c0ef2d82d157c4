"""Open weights vs hosted: danger domains by surface (consumer app, API, enterprise, open-weights hosts)."""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data, stats
from dashboard.views import _common
from ingest.contract.taxonomy import Surface

FAMILY = "events_by_category_surface"
WINDOWS_SHOWN = 26
OPEN_WEIGHTS = Surface.OPEN_WEIGHTS_HOST.value
HOSTING_ORDER = ["hosted", "open weights"]


def render() -> None:
    """The open weights vs hosted page."""
    _common.live("Open weights vs hosted", _body)


def hosting_of(surface: str) -> str:
    """``open weights`` for open-weights hosts, ``hosted`` for every surface the provider runs the model on."""
    return "open weights" if surface == OPEN_WEIGHTS else "hosted"


def _body(store: Path) -> None:
    releases = _common.family_releases(store, FAMILY, "The surface comparison")
    if releases is None:
        return
    cells = stats.released_parts(data.load_cells(store, FAMILY, WINDOWS_SHOWN))
    cells = cells.assign(hosting=[hosting_of(s) for s in cells["surface"]])
    st.subheader("Over time")
    over_time = stats.with_text(stats.aggregate(cells, ["hosting"]))
    st.altair_chart(
        _common.band_lines(over_time, "hosting", "Surface", HOSTING_ORDER, value_title="Released events"),
        width="stretch",
    )
    st.subheader("By danger domain")
    window = _common.pick_window(_common.windows_of(releases), "surfaces_window")
    one = cells[cells["window_start"] == window["window_start"]]
    by_domain = stats.with_text(stats.aggregate(one, ["category", "hosting"]))
    st.altair_chart(domain_bars(by_domain), width="stretch")
    st.caption(
        f"Window {window['label']}. Hosted: consumer apps, APIs and enterprise deployments; open weights: "
        "hosts of open-weights models. Whiskers: 95% intervals. " + _common.ZERO_NOTE
    )
    _common.table(surface_table(stats.with_text(one)), f"{FAMILY}-{window['label']}", "surfaces")


def domain_bars(frame: pd.DataFrame) -> alt.LayerChart:
    """Grouped bars per danger domain (hosted beside open weights), with 95% interval whiskers."""
    base = alt.Chart(frame).encode(
        y=alt.Y("category:N", title="Danger domain"),
        yOffset=alt.YOffset("hosting:N", sort=HOSTING_ORDER),
        color=alt.Color("hosting:N", title="Surface", scale=alt.Scale(domain=HOSTING_ORDER)),
        tooltip=[
            alt.Tooltip("category:N", title="Domain"),
            alt.Tooltip("hosting:N", title="Surface"),
            alt.Tooltip("released:N", title="Released"),
            alt.Tooltip("interval:N", title="95% interval"),
        ],
    )
    bars = base.mark_bar().encode(x=alt.X("value:Q", title="Released events"))
    whiskers = base.mark_rule(color="#333").encode(x="ci_low:Q", x2="ci_high:Q")
    return (bars + whiskers).properties(height=520)


def surface_table(cells: pd.DataFrame) -> pd.DataFrame:
    """One window's cells as shown: domain, surface, hosted or open weights, released text and interval."""
    rows = cells.sort_values(["category", "surface"])
    return pd.DataFrame(
        {
            "Domain": rows["category"],
            "Surface": rows["surface"],
            "Hosted or open weights": [hosting_of(s) for s in rows["surface"]],
            "Released events": rows["released"],
            "95% interval": rows["interval"],
        }
    )
