"""Overview: released counts over time per danger domain, with their 95% intervals.

Every figure on this page is a released, noisy count. A count whose interval includes zero is only
ever shown as an upper bound, never as a precise small number.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from analytics.errors import StoreError
from analytics.report import change_text, interval_text, value_text
from analytics.windows import Window
from dashboard import data
from dashboard.settings import DashboardSettings
from ingest.taxonomy import EXTRAORDINARILY_DANGEROUS, Category

FAMILY = "events_by_category"
WINDOWS_SHOWN = 52
TOP_OTHER_DOMAINS = 3
SELECTION_KEY = "overview_domains"
DOMAIN_ORDER = [c.value for c in Category]
DANGEROUS = [c for c in DOMAIN_ORDER if Category(c) in EXTRAORDINARILY_DANGEROUS]
FIRST_RUN_TITLE = "No released data yet"


def render() -> None:
    """The overview page; its body re-runs every ``refresh_seconds`` to pick up new releases."""
    settings = DashboardSettings()
    st.title("Flagged events by danger domain")

    @st.fragment(run_every=settings.refresh_seconds)
    def live() -> None:
        _body(settings.store, settings.refresh_seconds)

    live()


def _body(store: Path, refresh_seconds: int) -> None:
    try:
        releases = data.load_releases(store)
        family_releases = releases[releases["family"] == FAMILY] if not releases.empty else releases
        if family_releases.empty:
            _first_run(store, refresh_seconds, store_has_releases=not releases.empty)
            return
        cells = data.load_cells(store, FAMILY, WINDOWS_SHOWN)
        ledger = data.load_ledger(store)
    except StoreError as exc:
        st.error(f"Cannot read the store: {exc}")
        return
    cells = _with_labels(cells)
    latest = cells[cells["window_start"] == cells["window_start"].max()]
    _chart_section(cells, latest)
    _latest_table_section(cells, latest)
    _privacy_caption(family_releases.iloc[-1], ledger)


def _first_run(store: Path, refresh_seconds: int, *, store_has_releases: bool) -> None:
    st.subheader(FIRST_RUN_TITLE)
    where = (f"The store `{store}` holds releases, but none of `{FAMILY}` yet." if store_has_releases else
             f"The store `{store}` does not exist yet." if not store.exists() else
             f"The store `{store}` holds no release yet.")
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


def _with_labels(cells: pd.DataFrame) -> pd.DataFrame:
    cells = cells.copy()
    cells["window"] = [Window(s.to_pydatetime(), e.to_pydatetime()).label()
                       for s, e in zip(cells["window_start"], cells["window_end"], strict=True)]
    cells["released"] = [value_text(v, h, z) for v, h, z in
                         zip(cells["value"], cells["ci_high"], cells["includes_zero"], strict=True)]
    cells["interval"] = [interval_text(lo, hi) for lo, hi in zip(cells["ci_low"], cells["ci_high"], strict=True)]
    return cells


def _default_domains(latest: pd.DataFrame) -> list[str]:
    """The extraordinarily dangerous domains, then the few largest others in the latest window."""
    others = latest[~latest["category"].isin(DANGEROUS)].sort_values("value", ascending=False)
    return DANGEROUS + [str(c) for c in others["category"].head(TOP_OTHER_DOMAINS)]


def _chart_section(cells: pd.DataFrame, latest: pd.DataFrame) -> None:
    st.subheader("Released counts over time")
    if SELECTION_KEY not in st.session_state:
        st.session_state[SELECTION_KEY] = _default_domains(latest)
    chosen = st.multiselect("Danger domains", options=DOMAIN_ORDER, key=SELECTION_KEY)
    if not chosen:
        st.info("Pick at least one danger domain to draw.")
        return
    st.altair_chart(overview_chart(cells, chosen), width="stretch")
    st.caption(f"Lines: released (noisy) counts per window; bands: their 95% intervals. "
               f"Last {cells['window'].nunique()} released window(s), up to {WINDOWS_SHOWN}; times in UTC.")


def overview_chart(cells: pd.DataFrame, domains: list[str]) -> alt.LayerChart:
    """Line per domain over window start, with an area band from ``ci_low`` to ``ci_high``.

    Args:
        cells: Released cells of ``events_by_category`` with ``window``, ``released`` and ``interval`` labels.
        domains: The categories to draw, in legend order.
    """
    columns = ["window_start", "category", "value", "ci_low", "ci_high", "window", "released", "interval"]
    frame = cells.loc[cells["category"].isin(domains), columns]
    base = alt.Chart(frame).encode(
        x=alt.X("window_start:T", title="Window start (UTC)", scale=alt.Scale(type="utc")),
        color=alt.Color("category:N", title="Domain", scale=alt.Scale(domain=domains)),
    )
    band = base.mark_area(opacity=0.2).encode(
        y=alt.Y("ci_low:Q", title="Released events (95% interval)"), y2="ci_high:Q")
    tooltip = [alt.Tooltip("category:N", title="Domain"), alt.Tooltip("window:N", title="Window"),
               alt.Tooltip("released:N", title="Released events"), alt.Tooltip("interval:N", title="95% interval")]
    line = base.mark_line(point=True).encode(y="value:Q", tooltip=tooltip)
    return (band + line).properties(height=380)


def latest_table(cells: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """The latest window per domain: released value (a bound when the interval includes zero) and interval.

    Rows run extraordinarily dangerous domains first, then by released value, largest first (ties in
    taxonomy order).
    """
    starts = sorted(cells["window_start"].unique())
    previous = cells[cells["window_start"] == starts[-2]] if len(starts) > 1 else cells.iloc[0:0]
    previous = previous.set_index("category")
    rows = []
    for _, row in latest.iterrows():
        prev = previous.loc[row["category"]] if row["category"] in previous.index else None
        rows.append({"Domain": row["category"], "Extraordinarily dangerous": row["category"] in DANGEROUS,
                     "Released events": row["released"], "95% interval": row["interval"],
                     "Against previous window": change_text(row, prev), "_value": row["value"],
                     "_order": DOMAIN_ORDER.index(row["category"])})
    table = pd.DataFrame(rows).sort_values(["Extraordinarily dangerous", "_value", "_order"],
                                           ascending=[False, False, True])
    return table.drop(columns=["_value", "_order"]).reset_index(drop=True)


def _latest_table_section(cells: pd.DataFrame, latest: pd.DataFrame) -> None:
    st.subheader(f"Latest window: {latest['window'].iloc[0]}")
    st.dataframe(latest_table(cells, latest), hide_index=True)
    st.caption("A count whose 95% interval includes zero is shown only as an upper bound: it cannot be told "
               "apart from zero. A change is called only when the two windows' intervals do not overlap.")


def _privacy_caption(release: pd.Series, ledger: pd.DataFrame) -> None:
    window = Window(release["window_start"].to_pydatetime(), release["window_end"].to_pydatetime())
    year = window.start.year
    ytd = ledger[(ledger["year"] == year) & (ledger["window_start"] <= release["window_start"])]["rho"].sum()
    st.caption(
        f"Privacy of the latest release ({FAMILY}, window {window.label()}, released "
        f"{release['released_at']:%Y-%m-%d %H:%M:%S} UTC): mechanism {release['mechanism']}, "
        f"ρ = {release['rho']:.6g}, equivalent to ε = {release['epsilon']:.6g} at δ = {release['delta']:.3g}; "
        f"bounds K = {release['bound_k']} cells and L = {release['bound_l']} events per actor; "
        f"noise scale {release['scale']:.6g}; privacy unit: {release['privacy_unit']}. "
        f"Ledger, {year} to date over all families: ρ = {ytd:.6g}."
    )
