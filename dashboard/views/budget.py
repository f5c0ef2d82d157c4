"""Privacy budget: the ledger, spend per week and per year against the caps, and what it means in words.

Budgets are zero-concentrated DP (ρ); spends within a period and across a year add up. The (ε, δ)
equivalents come from OpenDP's conversion (:meth:`analytics.privacy.gaussian.RhoBudget.epsilon`).
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from analytics.privacy.budget import DEFAULT_DELTA, RhoBudget
from dashboard import data
from dashboard.views import _common

LEDGER_ROWS_SHOWN = 500


def render() -> None:
    """The privacy budget page."""
    _common.live("Privacy budget", _body)


def _epsilon(rho: float, delta: float) -> str:
    return f"{RhoBudget(rho).epsilon(delta):.4g}" if rho > 0 else "0"


def _cap(ledger: pd.DataFrame, column: str) -> float | None:
    if column not in ledger or ledger[column].dropna().empty:
        return None
    return float(ledger[column].dropna().iloc[-1])


def per_period(ledger: pd.DataFrame) -> pd.DataFrame:
    """ρ spent per privacy period (user-week) and family, oldest first."""
    start = "period_start" if "period_start" in ledger else "window_start"
    frame = ledger.assign(period_start=ledger[start])
    return frame.groupby(["period_start", "period", "family"], as_index=False)["rho"].sum()


def per_year(ledger: pd.DataFrame, delta: float) -> pd.DataFrame:
    """ρ spent per calendar year, its ε at ``delta``, the yearly cap in force and what remains."""
    cap = _cap(ledger, "cap_year")
    rows = []
    for year, group in ledger.groupby("year", sort=True):
        spent = float(group["rho"].sum())
        rows.append(
            {
                "Year": int(year),
                "ρ spent": round(spent, 6),
                f"ε at δ = {delta:g}": _epsilon(spent, delta),
                "Yearly cap ρ": cap if cap is not None else "not recorded",
                "ρ remaining": round(cap - spent, 6) if cap is not None else "–",
            }
        )
    return pd.DataFrame(rows)


def _body(store: Path) -> None:
    ledger = data.load_ledger(store)
    if ledger.empty:
        st.info("**Nothing spent yet:** the ledger has no entry in this store.")
        return
    delta = float(ledger["delta"].iloc[-1]) if "delta" in ledger else DEFAULT_DELTA
    periods = per_period(ledger)
    latest = periods[periods["period_start"] == periods["period_start"].max()]
    spent_week, cap_week = float(latest["rho"].sum()), _cap(ledger, "cap_period")
    years = per_year(ledger, delta)
    this_year = years.iloc[-1]
    a, b, c = st.columns(3)
    a.metric(
        f"ρ spent, period {latest['period'].iloc[0]}",
        f"{spent_week:.4g}",
        help=f"ε = {_epsilon(spent_week, delta)} at δ = {delta:g}",
    )
    b.metric(
        f"ρ spent, {this_year['Year']}",
        f"{this_year['ρ spent']:.4g}",
        help=f"ε = {_epsilon(float(this_year['ρ spent']), delta)} at δ = {delta:g}",
    )
    b_remaining = this_year["ρ remaining"]
    c.metric(f"ρ remaining, {this_year['Year']}", b_remaining if isinstance(b_remaining, str) else f"{b_remaining:.4g}")
    st.markdown(statement(spent_week, cap_week, float(this_year["ρ spent"]), _cap(ledger, "cap_year"), delta))
    st.subheader("Spend per week")
    st.altair_chart(spend_chart(periods, cap_week), width="stretch")
    st.subheader("Spend per year")
    _common.table(years, "budget-per-year", "budget_years")
    st.subheader("Ledger")
    shown = ledger.sort_values(["window_start", "family"], ascending=[False, True]).head(LEDGER_ROWS_SHOWN)
    _common.table(shown.reset_index(drop=True), "ledger", "budget_ledger")
    st.caption(
        f"Latest {min(len(ledger), LEDGER_ROWS_SHOWN)} of {len(ledger)} ledger entries. Every release "
        "writes its entries in the same transaction as its figures; a window is never paid for twice."
    )


def spend_chart(periods: pd.DataFrame, cap_week: float | None) -> alt.LayerChart | alt.Chart:
    """Stacked bars of ρ per period by family, with the weekly cap as a rule."""
    bars = (
        alt.Chart(periods)
        .mark_bar()
        .encode(
            x=alt.X("period_start:T", title="Privacy period (week, UTC)", scale=alt.Scale(type="utc")),
            y=alt.Y("rho:Q", title="ρ spent", stack="zero"),
            color=alt.Color("family:N", title="Spent by"),
            tooltip=[
                alt.Tooltip("period:N", title="Period"),
                alt.Tooltip("family:N", title="Spent by"),
                alt.Tooltip("rho:Q", title="ρ", format=".4g"),
            ],
        )
        .properties(height=300)
    )
    if cap_week is None:
        return bars
    rule = (
        alt.Chart(pd.DataFrame({"cap": [cap_week]}))
        .mark_rule(color="#c0504d", strokeDash=[6, 3])
        .encode(y="cap:Q", tooltip=[alt.Tooltip("cap:Q", title="Weekly cap ρ", format=".4g")])
    )
    return bars + rule


def statement(
    spent_week: float, cap_week: float | None, spent_year: float, cap_year: float | None, delta: float
) -> str:
    """The privacy guarantee in plain words, with the figures of the latest week and the year."""
    week_cap = f" (cap {cap_week:.4g})" if cap_week is not None else ""
    year_cap = f" (cap {cap_year:.4g})" if cap_year is not None else ""
    return (
        "**What this protects.** The unit of privacy is one actor of one provider over one week: everything a "
        "single pseudonymous account did in a week, across every report. Whether that actor's events are in the "
        "data or not changes what anyone can learn from the released figures only a little, and by a known "
        f"amount: in the latest week, ρ = {spent_week:.4g}{week_cap}, which is ε = {_epsilon(spent_week, delta)} "
        f"at δ = {delta:g}; over the year so far, for an actor present every week, ρ = {spent_year:.4g}{year_cap}, "
        f"ε = {_epsilon(spent_year, delta)}. Smaller is more private. The noise that buys this comes from OpenDP; "
        "nobody, including the operators of this dashboard, sees the exact counts."
    )
