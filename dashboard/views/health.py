"""Data health: which windows are released, pending or refused, and why, with released figures only.

Everything here comes from the release log (``releases``), the budget ``ledger`` and the ``audit``
trail. The workers' operational totals (events in, rejects, late and dropped events, lag) are exact
figures that one actor moves, so they are in neither the store nor this page: operators read them on
each worker's Prometheus endpoint and in its log.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from analytics.families import ReportFamily
from dashboard import data
from dashboard.views import _common

RELEASED, PENDING, REFUSED = "released", "pending", "refused"
OPERATORS_NOTE = (
    "Volumes, rejects, late and dropped events and consumer lag are exact operational totals that one "
    "actor moves: they are not kept where analysts read. Operators find them on each worker's metrics "
    "endpoint (Prometheus) and in its log."
)


def render() -> None:
    """The data health page."""
    _common.live("Data health", _body)


def _body(store: Path) -> None:
    refusals = data.load_refusals(store)
    states = window_states(data.load_releases(store), refusals, data.family_catalog())
    latest = states.iloc[-1]
    columns = st.columns(3)
    columns[0].metric("Windows fully released", f"{(states['Status'] == RELEASED).sum()} of {len(states)}")
    columns[1].metric("Latest window", f"{latest['Window']}: {latest['Status']}")
    columns[2].metric("Windows with a refused release", f"{int(states['Refused'].str.len().gt(0).sum())}")
    st.caption(OPERATORS_NOTE)

    st.subheader("Windows")
    st.caption(
        "A window is released once every partition has closed it (its end plus the allowed lateness), "
        "exactly once per report family. Pending: a family of the window is not released yet. Refused: "
        "releasing it would have exceeded a privacy-budget cap (the reason is below)."
    )
    shown = states.assign(
        Pending=states["Pending"].map(", ".join), Refused=states["Refused"].map(", ".join)
    ).sort_values("Starts (UTC)", ascending=False)
    _common.table(shown, "release-state", "health_windows")

    _refusals(refusals)
    st.subheader("Released volume per window")
    _volume(store)


def window_states(releases: pd.DataFrame, refusals: pd.DataFrame, catalog: dict[str, ReportFamily]) -> pd.DataFrame:
    """One row per released window, oldest first: families released, pending and refused, status and ρ spent.

    The families a window expects are the catalog's of its kind (week or day); with no catalog, those
    released in any window of that kind.
    """
    kinds = releases["window_kind"] if "window_kind" in releases else pd.Series("week", index=releases.index)
    releases = releases.assign(window_kind=kinds.fillna("week"))
    rows = []
    for _, mine in releases.groupby(["window_start", "window_end", "window_kind"], sort=True):
        start, end, kind = mine["window_start"].iloc[0], mine["window_end"].iloc[0], mine["window_kind"].iloc[0]
        label = _common.window_label(start, end)
        expected = {n for n, f in catalog.items() if f.window == kind} or set(
            releases.loc[releases["window_kind"] == kind, "family"]
        )
        released = set(mine["family"])
        details = refusals["detail"] if "detail" in refusals else pd.Series(dtype=str)
        refused = {f for f in expected - released if details.str.contains(f"{f} for window {label}", regex=False).any()}
        pending = expected - released - refused
        rows.append(
            {
                "Window": label,
                "Starts (UTC)": start,
                "Ends (UTC)": end,
                "Status": PENDING if pending else REFUSED if refused else RELEASED,
                "Families released": f"{len(released & expected) or len(released)} of {len(expected)}",
                "Pending": sorted(pending),
                "Refused": sorted(refused),
                "ρ spent": float(mine["rho"].sum()),
                "Last released at (UTC)": mine["released_at"].max(),
            }
        )
    return pd.DataFrame(rows)


def _refusals(refusals: pd.DataFrame) -> None:
    st.subheader("Refused releases")
    if refusals.empty:
        st.caption("No release has been refused: every request fitted the privacy-budget caps.")
        return
    shown = refusals.rename(columns={"logged_at": "Refused at (UTC)", "detail": "Why"})[["Refused at (UTC)", "Why"]]
    _common.table(shown, "refused-releases", "health_refusals")


def volume_family(catalog: dict[str, ReportFamily], released: set[str]) -> str | None:
    """The released event-count family with a total over public keys, if any (the first in the catalog)."""
    for name, family in catalog.items():
        if family.total and family.metric == "event_count" and not family.open_vocabulary and name in released:
            return name
    return None


def _volume(store: Path) -> None:
    releases = data.load_releases(store)
    family = volume_family(data.family_catalog(), set(releases["family"]))
    if family is None:
        st.caption("No released family with a total over its cells yet.")
        return
    cells = data.load_cells(store, family, last_windows=12)
    totals = cells[cells["is_total"].fillna(False).astype(bool)] if "is_total" in cells else cells.iloc[0:0]
    if totals.empty:
        st.caption(f"`{family}` has no released total yet.")
        return
    st.caption(
        f"The released (noisy) total of `{family}` per window, with its 95% interval: the pipeline's volume as "
        "analysts may see it, never the exact count."
    )
    shown = pd.DataFrame(
        {
            "Window": [
                _common.window_label(s, e) for s, e in zip(totals["window_start"], totals["window_end"], strict=True)
            ],
            "Released total": totals["value"].map(_common.number),
            "95% interval": [
                f"{_common.number(lo)} – {_common.number(hi)}"
                for lo, hi in zip(totals["ci_low"], totals["ci_high"], strict=True)
            ],
        }
    )
    _common.table(shown, f"released-volume-{family}", "health_volume")
