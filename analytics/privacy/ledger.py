"""The privacy-budget ledger: caps as frozen values, the cap check, the ledger rows, and its summary.

Every release asks the ledger first, inside the DuckDB transaction that writes the release: the
requested ρ is compared with what the same privacy period (user-week) and the same calendar year
have already spent. A request over either cap raises :class:`BudgetExceededError` before anything
is written, so a refused release leaves the ledger untouched. Each ledger row stores the caps that
were in force when it was written. No Kafka, no Faust.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

from analytics.errors import BudgetExceededError, EmptyStoreError
from analytics.privacy.budget import DEFAULT_DELTA, RhoBudget
from analytics.store import ReadOnlyStore
from analytics.windows import Window

WEEK = timedelta(days=7)
_CAP_SLACK = 1e-12  # float sums of weight shares must not refuse an exact fit


@dataclass(frozen=True)
class BudgetPolicy:
    """Caps per privacy period (one week in production: the user-week) and per calendar year."""

    rho_week: RhoBudget = RhoBudget(0.02)
    rho_year: RhoBudget = RhoBudget(1.0)

    def period_spend(self, period: timedelta) -> RhoBudget:
        """What each period spends: its cap, or less so that every period of a year fits the yearly cap.

        A calendar year holds up to ``ceil(366 days / period)`` period starts (53 weeks), so the spend is
        ``min(rho_week, rho_year / that)``: with the defaults 1.0 / 53 = 0.018868 per week. Periods
        shorter than a day (the demo's seconds-long windows) spend the full ``rho_week``: spreading a
        yearly cap over millions of windows would drown them in noise; the yearly cap then simply ends
        releases after ``rho_year / rho_week`` windows, as ``flockview up`` says.
        """
        periods = math.ceil(timedelta(days=366) / period)
        if period < timedelta(days=1):
            return self.rho_week
        return RhoBudget(min(self.rho_week.rho, self.rho_year.rho / periods))


@dataclass(frozen=True)
class LedgerEntry:
    """One ledger row to be written: ``key`` is the family, or ``family:ytd:L<level>`` for a tree level."""

    key: str
    component: str  # "cells", "selection" or "ytd_level"
    window: Window
    period_start: datetime
    rho: float
    epsilon: float
    delta: float


def check_caps(con: duckdb.DuckDBPyConnection, entries: Sequence[LedgerEntry], policy: BudgetPolicy, what: str) -> None:
    """Raise :class:`BudgetExceededError` if ``entries`` together would pass the period or yearly cap."""
    if not entries:
        return
    requested = sum(e.rho for e in entries)
    period_start, year = entries[0].period_start, entries[0].window.start.year
    spent_period = con.execute(
        "SELECT coalesce(sum(rho), 0) FROM ledger WHERE period_start = ?", [period_start]
    ).fetchall()[0][0]
    spent_year = con.execute("SELECT coalesce(sum(rho), 0) FROM ledger WHERE year = ?", [year]).fetchall()[0][0]
    for name, cap, spent in (
        ("per-period", policy.rho_week.rho, spent_period),
        (f"{year} yearly", policy.rho_year.rho, spent_year),
    ):
        if spent + requested > cap + _CAP_SLACK:
            raise BudgetExceededError(name, requested, max(cap - spent, 0.0), cap, what)


def record(con: duckdb.DuckDBPyConnection, entries: Sequence[LedgerEntry], policy: BudgetPolicy, now: datetime) -> None:
    """Write ``entries`` to the ledger, each with the caps in force."""
    con.executemany(
        "INSERT INTO ledger (family, window_start, window_end, period, year, rho, epsilon, delta, recorded_at, "
        "component, period_start, cap_period, cap_year) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            [
                e.key,
                e.window.start,
                e.window.end,
                e.window.label(),
                e.window.start.year,
                e.rho,
                e.epsilon,
                e.delta,
                now,
                e.component,
                e.period_start,
                policy.rho_week.rho,
                policy.rho_year.rho,
            ]
            for e in entries
        ],
    )


def _caps(group: pd.DataFrame, column: str, fallback: float) -> float:
    known = group[column].dropna() if column in group else pd.Series(dtype=float)
    return float(known.iloc[-1]) if len(known) else fallback


def budget_summary(store_path: Path, policy: BudgetPolicy | None = None) -> str:
    """Spend and remaining per year and per privacy period, against the caps stored with the ledger rows.

    ``policy`` supplies the caps for rows written before caps were stored (and is shown for reference).
    """
    policy = policy or BudgetPolicy()
    ledger = ReadOnlyStore(store_path).ledger()
    if ledger.empty:
        raise EmptyStoreError(f"no budget has been spent yet in {store_path} (no release recorded)")
    if "period_start" not in ledger or ledger["period_start"].isna().all():
        ledger["period_start"] = ledger["window_start"]
    lines = [
        f"privacy budget in {store_path} (zCDP rho; caps given: {policy.rho_week.rho:g} per period, "
        f"{policy.rho_year.rho:g} per year; caps in force are stored with each ledger row)",
        "",
        "year  spent      remaining  cap        ledger rows",
    ]
    for year, group in ledger.groupby("year"):
        spent, cap = float(group["rho"].sum()), _caps(group, "cap_year", policy.rho_year.rho)
        lines.append(f"{year}  {spent:<9.4g}  {max(cap - spent, 0):<9.4g}  {cap:<9.4g}  {len(group)}")
    lines += [
        "",
        "latest periods (rho composes by addition; epsilon is that of the summed rho):",
        "period                     rows  spent      remaining  cap        epsilon at delta",
    ]
    for _, group in list(ledger.groupby("period_start", sort=True))[-10:]:
        rho = float(group["rho"].sum())
        # Partition selection adds its own delta (the chance a rare key slips through) to the conversion's.
        selection = group["component"] == "selection" if "component" in group else pd.Series(False, group.index)
        delta = DEFAULT_DELTA + float(group.loc[selection, "delta"].sum())
        cap = _caps(group, "cap_period", policy.rho_week.rho)
        label = str(group["period"].iloc[0])
        lines.append(
            f"{label:<26} {len(group):<5} {rho:<10.4g} {max(cap - rho, 0):<10.4g} {cap:<10.4g} "
            f"{RhoBudget(rho).epsilon(DEFAULT_DELTA):.3g} at {delta:.3g}"
        )
    return "\n".join(lines)
