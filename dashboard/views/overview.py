"""Overview: released counts over time per danger domain, with their 95% intervals.

Every figure on this page is a released, noisy count. A count whose interval includes zero is only
ever shown as an upper bound, never as a precise small number.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from analytics.privacy.ledger import account
from analytics.reporting.document import interval_text, value_text
from analytics.reporting.stats import change_text
from analytics.windows import Window
from dashboard import data, stats
from dashboard.settings import DashboardSettings
from dashboard.views import _common
from ingest.contract.taxonomy import EXTRAORDINARILY_DANGEROUS, Category

FAMILY = "events_by_category"
YEAR_TO_DATE_TABLE = "cumulative"
WINDOWS_SHOWN = 52
TOP_OTHER_DOMAINS = 3
TOP_CHANGES = 8
FALSE_ALARM_RATE = 0.05
SELECTION_KEY = "overview_domains"
DOMAIN_ORDER = [c.value for c in Category]
DANGEROUS = [c for c in DOMAIN_ORDER if Category(c) in EXTRAORDINARILY_DANGEROUS]
FIRST_RUN_TITLE = _common.FIRST_RUN_TITLE


def render() -> None:
    """The overview page; its body re-runs every ``refresh_seconds`` to pick up new releases."""
    _common.live("Flagged events by danger domain", _body)


def _body(store: Path) -> None:
    releases = data.load_releases(store)
    family = _pick_family(releases)
    family_releases = releases[releases["family"] == family]
    if family_releases.empty:
        settings = DashboardSettings()
        _common.first_run(store, settings.refresh_seconds, store_has_releases=True, family=FAMILY)
        return
    cells = data.load_cells(store, family, WINDOWS_SHOWN)
    ledger = data.load_ledger(store)
    cells = _with_labels(stats.released_parts(cells))
    latest = cells[cells["window_start"] == cells["window_start"].max()]
    _chart_section(cells, latest)
    _latest_table_section(cells, latest)
    _changes_section(cells)
    _year_to_date_section(store, latest["window_start"].iloc[0])
    _privacy_caption(family_releases.iloc[-1], ledger, family)


def daily_families(releases: pd.DataFrame) -> list[str]:
    """Released families of day windows counting events per danger domain alone."""
    released = set(releases["family"])
    return [
        f.name
        for f in data.family_catalog().values()
        if f.name in released and f.window == "day" and f.dimensions == ("category",) and f.metric == "event_count"
    ]


def _pick_family(releases: pd.DataFrame) -> str:
    daily = daily_families(releases)
    if not daily:
        return FAMILY
    kind = st.radio("Windows", ["Weeks", "Days"], horizontal=True, key="overview_window_kind")
    return daily[0] if kind == "Days" else FAMILY


def _with_labels(cells: pd.DataFrame) -> pd.DataFrame:
    cells = cells.copy()
    cells["window"] = [
        Window(s.to_pydatetime(), e.to_pydatetime()).label()
        for s, e in zip(cells["window_start"], cells["window_end"], strict=True)
    ]
    cells["released"] = [
        value_text(v, h, z) for v, h, z in zip(cells["value"], cells["ci_high"], cells["includes_zero"], strict=True)
    ]
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
    st.caption(
        f"Lines: released (noisy) counts per window; bands: their 95% intervals. "
        f"Last {cells['window'].nunique()} released window(s), up to {WINDOWS_SHOWN}; times in UTC."
    )


def overview_chart(cells: pd.DataFrame, domains: list[str]) -> alt.LayerChart:
    """Line per domain over window start, with an area band from ``ci_low`` to ``ci_high``.

    Args:
        cells: Released cells of ``events_by_category`` with ``window``, ``released`` and ``interval`` labels.
        domains: The categories to draw, in legend order.
    """
    columns = ["window_start", "category", "value", "ci_low", "ci_high", "window", "released", "interval"]
    frame = cells.loc[cells["category"].isin(domains), columns]
    return _common.band_lines(
        frame,
        "category",
        "Domain",
        domains,
        value_title="Released events",
        height=380,
        extra_tooltips=(alt.Tooltip("window:N", title="Window"),),
    )


def latest_table(cells: pd.DataFrame, latest: pd.DataFrame) -> pd.DataFrame:
    """The latest window per domain: released value (a bound when the interval includes zero) and interval.

    Rows run extraordinarily dangerous domains first, then by released value, largest first (ties in
    taxonomy order).
    """
    starts = sorted(cells["window_start"].unique())
    previous = cells[cells["window_start"] == starts[-2]] if len(starts) > 1 else cells.iloc[0:0]
    # Plain records, not iterrows: a page of 17 rows must not cost a second of pandas overhead.
    columns = ["category", "value", "scale", "ci_low", "ci_high"]
    before = {r["category"]: r for r in previous[columns].to_dict("records")}
    rows = []
    for row in latest[[*columns, "released", "interval"]].to_dict("records"):
        rows.append(
            {
                "Domain": row["category"],
                "Extraordinarily dangerous": row["category"] in DANGEROUS,
                "Released events": row["released"],
                "95% interval": row["interval"],
                "Against previous window": change_text(row, before.get(row["category"])),
                "_value": row["value"],
                "_order": DOMAIN_ORDER.index(row["category"]),
            }
        )
    table = pd.DataFrame(rows).sort_values(
        ["Extraordinarily dangerous", "_value", "_order"], ascending=[False, False, True]
    )
    return table.drop(columns=["_value", "_order"]).reset_index(drop=True)


def _latest_table_section(cells: pd.DataFrame, latest: pd.DataFrame) -> None:
    st.subheader(f"Latest window: {latest['window'].iloc[0]}")
    _common.table(latest_table(cells, latest), f"{FAMILY}-latest", "overview_latest")
    st.caption(
        "A count whose 95% interval includes zero is shown only as an upper bound: it cannot be told "
        "apart from zero. "
        "Against previous window: a change is called only when it exceeds 1.96 times the combined noise "
        "of the two windows (one comparison at 95%)."
    )


def largest_changes(cells: pd.DataFrame, false_alarm_rate: float = FALSE_ALARM_RATE) -> pd.DataFrame:
    """Domains whose change from the previous window exceeds the combined noise, largest first.

    Returns:
        Columns ``Domain``, ``Change``, ``Released now``, ``Released before``, ``Change / noise``; the
        attribute ``attrs["compared"]`` holds how many domains were compared and ``attrs["threshold"]`` the z.
    """
    starts = sorted(cells["window_start"].unique())
    if len(starts) < 2:
        return pd.DataFrame()
    now, before = (stats.aggregate(cells[cells["window_start"] == s], ["category"]) for s in starts[-2:][::-1])
    compared = stats.changes(now, before, ["category"], false_alarm_rate)
    flagged = compared[compared["flagged"]].head(TOP_CHANGES)
    text = {c: r for c, r in zip(cells["category"], cells["released"], strict=True)}
    out = pd.DataFrame(
        {
            "Domain": flagged["category"],
            "Change": [f"{d} of {abs(c):,.0f}" for d, c in zip(flagged["direction"], flagged["change"], strict=True)],
            "Released now": [text.get(c, "") for c in flagged["category"]],
            "Released before": [_common.number(v) for v in flagged["previous"]],
            "Change / noise": [f"{z:+.1f}" for z in flagged["z"]],
        }
    )
    out.attrs.update(compared=len(compared), threshold=compared.attrs["threshold"])
    return out


def _changes_section(cells: pd.DataFrame) -> None:
    st.subheader("Largest changes beyond the noise")
    changes = largest_changes(cells)
    if not changes.attrs:
        st.info("One released window so far: changes appear once a second window is released.")
        return
    if changes.empty:
        st.info(f"No domain changed by more than the noise ({changes.attrs['compared']} compared).")
    else:
        _common.table(changes, f"{FAMILY}-changes", "overview_changes")
    st.caption(
        f"A change is listed only when it exceeds {changes.attrs['threshold']:.2f} times the combined "
        f"noise of the two windows, so that if nothing had changed, the chance of any false alarm among "
        f"the {changes.attrs['compared']} domains compared is at most {FALSE_ALARM_RATE:.0%}."
    )


def year_to_date(store: Path, latest_start: pd.Timestamp) -> pd.DataFrame | None:
    """The year-to-date line of :data:`FAMILY` through the latest window (sums of weekly releases); None if absent."""
    rows = data.load_year_to_date(store, FAMILY, latest_start.year)
    if rows is None or rows.empty:
        return None
    rows = stats.with_text(rows[rows["window_start"] == rows["window_start"].max()])
    rows["_order"] = [DOMAIN_ORDER.index(c) if c in DOMAIN_ORDER else len(DOMAIN_ORDER) for c in rows["category"]]
    rows = rows.sort_values(["value", "_order"], ascending=[False, True])
    rows.attrs["through"] = _common.window_label(rows["window_start"].iloc[0], rows["window_end"].iloc[0])
    return rows


def _year_to_date_section(store: Path, latest_start: pd.Timestamp) -> None:
    st.subheader(f"Year to date, {latest_start.year}")
    rows = year_to_date(store, latest_start)
    if rows is None:
        st.info(
            f"**Not released yet:** year-to-date totals are sums of the weekly releases of `{FAMILY}` "
            f"(table `{YEAR_TO_DATE_TABLE}`), which has no figures for {latest_start.year} in this store."
        )
        return
    shown = rows.rename(
        columns={"category": "Domain", "released": "Released events, year to date", "interval": "95% interval"}
    )[["Domain", "Released events, year to date", "95% interval"]]
    _common.table(shown, f"{FAMILY}-year-to-date-{latest_start.year}", "overview_ytd")
    st.caption(
        f"Through window {rows.attrs['through']}: the sum of the weekly released values (before clamping "
        "at zero) of every week of the year so far, with the interval of the summed noise. It is computed "
        "from released figures only, so it spends no privacy budget."
    )


def _privacy_caption(release: pd.Series, ledger: pd.DataFrame, family: str) -> None:
    window = Window(release["window_start"].to_pydatetime(), release["window_end"].to_pydatetime())
    year = window.start.year
    # The year to date through this window's privacy period, from the one ledger accounting.
    periods = [p for p in account(ledger).periods if p.year == year and p.start <= window.start]
    ytd = periods[-1].year_to_date.rho if periods else 0.0
    st.caption(
        f"Privacy of the latest release ({family}, window {window.label()}, released "
        f"{release['released_at']:%Y-%m-%d %H:%M:%S} UTC): mechanism {release['mechanism']}, "
        f"ρ = {release['rho']:.6g}, equivalent to ε = {release['epsilon']:.6g} at δ = {release['delta']:.3g}; "
        f"bounds K = {release['bound_k']} cells and L = {release['bound_l']} events per actor; "
        f"noise scale {release['scale']:.6g}; privacy unit: {release['privacy_unit']}. "
        f"Ledger, {year} to date over all families: ρ = {ytd:.6g}."
    )
