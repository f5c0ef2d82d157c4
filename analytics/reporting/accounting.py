"""The privacy statement's figures, read from the store's releases and budget ledger.

Every ledger row is one charge in ρ (zCDP). Charges compose by adding their ρ; the (ε, δ) statement
of a sum is OpenDP's conversion of the summed ρ at δ₀ = 10⁻⁶, plus the δ of any partition-selection
charge (approximate zCDP), which adds on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from analytics.privacy.budget import DEFAULT_DELTA, RhoBudget
from analytics.windows import Window


@dataclass(frozen=True)
class Spend:
    """Budget spent over some ledger rows: ρ, its (ε, δ) equivalent, and the rows it sums."""

    rho: float
    epsilon: float
    delta: float
    entries: int
    epsilon_sum: float  # the per-family ε's simply added: a looser, familiar bound
    delta_sum: float

    @classmethod
    def of(cls, rows: pd.DataFrame) -> Spend:
        """The spend of ``rows`` (ledger rows); all zero when there are none."""
        if rows.empty:
            return cls(0.0, 0.0, 0.0, 0, 0.0, 0.0)
        rho = float(rows["rho"].sum())
        selection = rows[rows["component"] == "selection"] if "component" in rows else rows.iloc[0:0]
        delta = DEFAULT_DELTA + float(selection["delta"].sum())
        epsilon = RhoBudget(rho).epsilon(DEFAULT_DELTA) if rho > 0 else 0.0
        return cls(rho, epsilon, delta, len(rows), float(rows["epsilon"].sum()), float(rows["delta"].sum()))


@dataclass(frozen=True)
class PrivacyFacts:
    """What the methodology section states about one window."""

    units: tuple[str, ...]
    releases: pd.DataFrame  # the window's rows of ``releases``: per-family mechanism, bounds, scale, ρ, ε, δ
    week: Spend
    year: int
    year_to_date: Spend
    cap_period: float | None
    cap_year: float | None


def _utc_column(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_datetime(frame[column], utc=True)


def privacy_facts(releases: pd.DataFrame, ledger: pd.DataFrame, window: Window) -> PrivacyFacts:
    """Gather the privacy statement of ``window`` from all releases and ledger rows of a store.

    Args:
        releases: The store's ``releases`` table.
        ledger: The store's ``ledger`` table.
        window: The window the report is about.

    Returns:
        Its releases, the budget charged against its privacy period, and the year to date (every charge
        of the same year up to and including this period).
    """
    start = pd.Timestamp(window.start)
    mine = releases[_utc_column(releases, "window_start") == start].sort_values("family")
    if ledger.empty:
        return PrivacyFacts(
            tuple(sorted(set(mine["privacy_unit"]))),
            mine,
            Spend.of(ledger),
            window.start.year,
            Spend.of(ledger),
            None,
            None,
        )
    period = _utc_column(ledger, "period_start" if "period_start" in ledger else "window_start")
    own_window = _utc_column(ledger, "window_start") == start
    period_start = period[own_window].min() if own_window.any() else start
    week = ledger[period == period_start]
    year = ledger[(ledger["year"] == window.start.year) & (period <= period_start)]
    return PrivacyFacts(
        tuple(sorted(set(mine["privacy_unit"]))),
        mine,
        Spend.of(week),
        window.start.year,
        Spend.of(year),
        _last(ledger, "cap_period"),
        _last(ledger, "cap_year"),
    )


def _last(ledger: pd.DataFrame, column: str) -> float | None:
    if column not in ledger:
        return None
    values = ledger[column].dropna()
    return float(values.iloc[-1]) if not values.empty else None


def released_at(releases: pd.DataFrame, window: Window) -> datetime:
    """When the last family of ``window`` was released (UTC)."""
    mine = releases[_utc_column(releases, "window_start") == pd.Timestamp(window.start)]
    return pd.to_datetime(mine["released_at"], utc=True).max().to_pydatetime()
