"""The privacy statement's figures: the window's releases, and its spend from the one ledger accounting.

The rule that must hold: every spend figure the report states comes from
:func:`analytics.privacy.ledger.account`, the same accounting the CLI's ``flockview budget`` and the
dashboard's budget page show. Charges compose by adding their ρ; the (ε, δ) statement of a sum is
OpenDP's conversion of the summed ρ at δ₀ = 10⁻⁶, plus the δ of any partition-selection charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from analytics.privacy.ledger import Spend, account
from analytics.windows import Window

__all__ = ["PrivacyFacts", "Spend", "privacy_facts", "released_at"]


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
    units = tuple(sorted(set(mine["privacy_unit"])))
    period = account(ledger).period(_period_start(ledger, start)) if not ledger.empty else None
    if period is None:
        return PrivacyFacts(units, mine, Spend(), window.start.year, Spend(), None, None)
    cap_period, cap_year = period.spend.cap, period.year_to_date.cap
    return PrivacyFacts(
        units,
        mine,
        period.spend,
        period.year,
        period.year_to_date,
        cap_period.rho if cap_period is not None else None,
        cap_year.rho if cap_year is not None else None,
    )


def _period_start(ledger: pd.DataFrame, start: pd.Timestamp) -> datetime:
    """The privacy period the window's own charges count against (the window's start if it has none)."""
    column = "period_start" if "period_start" in ledger and not ledger["period_start"].isna().all() else "window_start"
    periods = _utc_column(ledger, column).fillna(_utc_column(ledger, "window_start"))
    own = _utc_column(ledger, "window_start") == start
    return (periods[own].min() if own.any() else start).to_pydatetime()


def released_at(releases: pd.DataFrame, window: Window) -> datetime:
    """When the last family of ``window`` was released (UTC)."""
    mine = releases[_utc_column(releases, "window_start") == pd.Timestamp(window.start)]
    return pd.to_datetime(mine["released_at"], utc=True).max().to_pydatetime()
