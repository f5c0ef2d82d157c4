"""Jurisdictions: released events per country on a tile-grid world map, and as a table.

The map is drawn offline (:mod:`dashboard.tilemap`): one square per country. Region buckets (EU for
events attributed to the Union as a whole, ZZ for unknown) are shown beside it and in the table.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import pycountry
import streamlit as st

from dashboard import data, stats, tilemap
from dashboard.views import _common
from ingest.contract.taxonomy import REGION_BUCKETS, Category, jurisdiction_name

FAMILY = "events_by_category_jurisdiction"


def render() -> None:
    """The jurisdictions page."""
    _common.live("Jurisdictions", _body)


def _body(store: Path) -> None:
    releases = _common.family_releases(store, FAMILY, "The jurisdiction view")
    if releases is None:
        return
    window = _common.pick_window(_common.windows_of(releases), "jurisdictions_window")
    cells = stats.released_parts(data.load_window_cells(store, FAMILY, (window["window_start"],)))
    domains = st.multiselect(
        "Danger domains", [c.value for c in Category], placeholder="all domains", key="jurisdictions_domains"
    )
    if domains:
        cells = cells[cells["category"].isin(domains)]
    if cells.empty:
        st.info("No released cell matches these domains.")
        return
    totals = stats.with_text(stats.aggregate(cells, ["jurisdiction"]))
    _buckets(totals)
    st.altair_chart(tile_map(totals), width="stretch")
    st.caption(
        f"Window {window['label']}, {', '.join(domains) if domains else 'all danger domains'}. One square "
        "per country, placed near its capital; grey squares: the interval includes zero, so the count "
        "cannot be told apart from zero. With 95% intervals, up to about one in forty jurisdictions with no events still "
        "comes out clear of zero by chance: read a lone pale square with care."
    )
    _common.table(jurisdiction_table(totals), f"{FAMILY}-{window['label']}", "jurisdictions")


def _buckets(totals: pd.DataFrame) -> None:
    by_code = totals.set_index("jurisdiction")
    columns = st.columns(len(REGION_BUCKETS))
    for column, (code, name) in zip(columns, sorted(REGION_BUCKETS.items()), strict=True):
        text = str(by_code.loc[code, "released"]) if code in by_code.index else "not released"
        interval = str(by_code.loc[code, "interval"]) if code in by_code.index else ""
        column.metric(f"{name} ({code}), not on the map", text, help=f"95% interval: {interval}", delta=None)


def alpha_3(code: str) -> str:
    """The ISO 3166-1 alpha-3 code of an alpha-2 code; the code itself for region buckets."""
    country = pycountry.countries.get(alpha_2=code)
    return country.alpha_3 if country else code


def tile_map(totals: pd.DataFrame) -> alt.LayerChart:
    """The tile-grid map: every country a square, coloured by its released count when it is clear of zero."""
    frame = tilemap.layout().merge(totals, on="jurisdiction", how="left")
    frame["name"] = [jurisdiction_name(c) for c in frame["jurisdiction"]]
    frame["released"] = frame["released"].fillna("not released")
    frame["interval"] = frame["interval"].fillna("–")
    frame["includes_zero"] = frame["includes_zero"].fillna(True).astype(bool)
    base = alt.Chart(frame).encode(
        x=alt.X("col:O", axis=None),
        y=alt.Y("row:O", axis=None),
        tooltip=[
            alt.Tooltip("name:N", title="Jurisdiction"),
            alt.Tooltip("jurisdiction:N", title="Code"),
            alt.Tooltip("released:N", title="Released events"),
            alt.Tooltip("interval:N", title="95% interval"),
        ],
    )
    unclear = base.transform_filter("datum.includes_zero").mark_rect(color="#e4e4e4", stroke="white")
    clear = (
        base.transform_filter("!datum.includes_zero")
        .mark_rect(stroke="white")
        .encode(
            color=alt.Color("value:Q", title="Released events", scale=alt.Scale(scheme="blues", type="sqrt", zero=True))
        )
    )
    dark = float(frame.loc[~frame["includes_zero"], "value"].max()) / 2 if (~frame["includes_zero"]).any() else 0.0
    labels = base.mark_text(fontSize=7).encode(
        text="jurisdiction:N",
        color=alt.condition(f"!datum.includes_zero && datum.value > {dark}", alt.value("white"), alt.value("#333")),
    )
    return (unclear + clear + labels).properties(height=430).configure_view(strokeWidth=0)


def jurisdiction_table(totals: pd.DataFrame) -> pd.DataFrame:
    """Every jurisdiction as shown: code, alpha-3, name, released text and interval; clear counts first."""
    rows = totals.sort_values(["includes_zero", "value", "jurisdiction"], ascending=[True, False, True])
    return pd.DataFrame(
        {
            "Code": rows["jurisdiction"],
            "ISO alpha-3": [alpha_3(c) for c in rows["jurisdiction"]],
            "Jurisdiction": [jurisdiction_name(c) for c in rows["jurisdiction"]],
            "Released events": rows["released"],
            "95% interval": rows["interval"],
        }
    )
