"""Privacy budget: the ledger, spend per week and per year against the caps, and what it means in words.

The rule that must hold: every spend figure on this page comes from
:func:`analytics.privacy.ledger.account`, the one accounting the CLI (``flockview budget``) and the
weekly report show too. Budgets are zero-concentrated DP (ρ); spends within a period and across a
year add up; the (ε, δ) statement converts the summed ρ at one δ and adds any partition-selection δ.
"""

from __future__ import annotations

from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from analytics.privacy.ledger import BudgetAccount, Spend, account
from dashboard import data
from dashboard.views import _common

LEDGER_ROWS_SHOWN = 500


def render() -> None:
    """The privacy budget page."""
    _common.live("Privacy budget", _body)


def _guarantee(spend: Spend) -> str:
    """The (ε, δ) statement of ``spend`` in words, e.g. ``ε = 0.91 at δ = 1.1e-06``."""
    return f"ε = {spend.epsilon:.4g} at δ = {spend.delta:g}"


def per_period(ledger: pd.DataFrame) -> pd.DataFrame:
    """ρ charged per privacy period (user-week) and family, oldest first: the chart's bars."""
    start = "period_start" if "period_start" in ledger else "window_start"
    frame = ledger.assign(period_start=ledger[start].fillna(ledger["window_start"]))
    return frame.groupby(["period_start", "period", "family"])["rho"].sum().reset_index()


def per_year(summary: BudgetAccount) -> pd.DataFrame:
    """ρ spent per calendar year, its (ε, δ) statement, the yearly cap in force and what remains."""
    rows = []
    for year in summary.years:
        s = year.spend
        rows.append(
            {
                "Year": year.year,
                "ρ spent": round(s.rho, 6),
                "ε": round(s.epsilon, 6),
                "δ": s.delta,
                "Yearly cap ρ": s.cap.rho if s.cap is not None else "not recorded",
                "ρ remaining": round(s.remaining.rho, 6) if s.remaining is not None else "–",
            }
        )
    return pd.DataFrame(rows)


def _body(store: Path) -> None:
    ledger = data.load_ledger(store)
    summary = account(ledger)
    if summary.empty:
        st.info("**Nothing spent yet:** the ledger has no entry in this store.")
        return
    latest, this_year = summary.periods[-1], summary.years[-1]
    a, b, c = st.columns(3)
    a.metric(f"ρ spent, period {latest.label}", f"{latest.spend.rho:.4g}", help=_guarantee(latest.spend))
    b.metric(f"ρ spent, {this_year.year}", f"{this_year.spend.rho:.4g}", help=_guarantee(this_year.spend))
    remaining = this_year.spend.remaining
    c.metric(f"ρ remaining, {this_year.year}", f"{remaining.rho:.4g}" if remaining is not None else "–")
    st.markdown(statement(latest.spend, latest.year_to_date))
    st.subheader("Spend per week")
    cap_week = latest.spend.cap.rho if latest.spend.cap is not None else None
    st.altair_chart(spend_chart(per_period(ledger), cap_week), width="stretch")
    st.subheader("Spend per year")
    _common.table(per_year(summary), "budget-per-year", "budget_years")
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


def statement(week: Spend, year_to_date: Spend) -> str:
    """The privacy guarantee in plain words, with the figures of the latest period and the year to date."""
    week_cap = f" (cap {week.cap.rho:.4g})" if week.cap is not None else ""
    year_cap = f" (cap {year_to_date.cap.rho:.4g})" if year_to_date.cap is not None else ""
    return (
        "**What this protects.** The unit of privacy is one actor of one provider over one week: everything a "
        "single pseudonymous account did in a week, across every report. Whether that actor's events are in the "
        "data or not changes what anyone can learn from the released figures only a little, and by a known "
        f"amount: in the latest week, ρ = {week.rho:.4g}{week_cap}, which is {_guarantee(week)}; over the year "
        f"so far, for an actor present every week, ρ = {year_to_date.rho:.4g}{year_cap}, "
        f"{_guarantee(year_to_date)}. Smaller is more private. The noise that buys this comes from OpenDP; "
        "nobody, including the operators of this dashboard, sees the exact counts."
    )
