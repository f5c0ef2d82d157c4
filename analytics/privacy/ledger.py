"""The privacy-budget ledger: the caps, the cap check before every release, and the one accounting of spend.

The rule that must hold: every release asks the ledger first, inside the store transaction that
writes the release. The requested ρ is compared with what the same privacy period (user-week) and
the same year have already spent; a request over either cap raises
:class:`BudgetExceededError` before anything is written, so a refused release leaves the ledger
untouched. Each ledger row stores the caps in force when it was written.

The year of a charge is the calendar year its privacy period *starts* in (:func:`year_of`), for
every family, day families included: one user-week is never split between two years. So the yearly
cap bounds the user-year "every privacy period starting in year Y" (at most 53 weeks), and the
week that straddles 1 January belongs wholly to the year of its Monday. A calendar year's own
events meet at most :func:`periods_meeting_a_year` periods (54 weeks), from two such years: their
loss is at most that many periods' spend (:meth:`BudgetPolicy.calendar_year_bound`).

:func:`account` is the only place spend is added up: the CLI (:func:`budget_summary`), the weekly
report and the dashboard's budget page all show its figures. ρ composes by addition; the (ε, δ)
statement of a sum converts the summed ρ at :data:`DEFAULT_DELTA` and adds the δ of every
partition-selection charge (approximate zCDP).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pandas as pd

from analytics.errors import BudgetExceededError, EmptyStoreError
from analytics.privacy.budget import DEFAULT_DELTA, ApproxDPBudget, RhoBudget
from analytics.store import Connection, ReadOnlyStore
from analytics.store import ledger as ledger_table
from analytics.windows import Window

__all__ = [
    "BudgetAccount",
    "BudgetPolicy",
    "LedgerEntry",
    "PeriodSpend",
    "Spend",
    "YearSpend",
    "account",
    "budget_summary",
    "charge",
    "periods_meeting_a_year",
    "periods_starting_in_a_year",
    "year_of",
]


_YEAR = timedelta(days=366)  # the longest calendar year


def year_of(period_start: datetime) -> int:
    """The year a charge counts against: the UTC calendar year its privacy period starts in."""
    return period_start.astimezone(UTC).year


def periods_starting_in_a_year(period: timedelta) -> int:
    """Most privacy periods that can start in one calendar year (53 for weeks)."""
    return math.ceil(_YEAR / period)


def periods_meeting_a_year(period: timedelta) -> int:
    """Most privacy periods one calendar year's events can fall in (54 for weeks).

    Periods are aligned to midnight and last whole days (else treat them as one-day periods), so a
    year starting up to one day before a period boundary meets ``ceil((366 days + period - 1 day) / period)``.
    """
    return math.ceil((_YEAR + period - timedelta(days=1)) / period)


@dataclass(frozen=True)
class BudgetPolicy:
    """Caps per privacy period (one week in production: the user-week) and per calendar year."""

    rho_week: RhoBudget = RhoBudget(0.02)
    rho_year: RhoBudget = RhoBudget(1.0)

    def __post_init__(self) -> None:
        self.rho_week.require_positive("the per-period cap (rho_week)")
        self.rho_year.require_positive("the yearly cap (rho_year)")

    def period_spend(self, period: timedelta) -> RhoBudget:
        """What each period spends: its cap, or less so that every period of a year fits the yearly cap.

        A calendar year holds up to ``ceil(366 days / period)`` period starts (53 weeks), so the spend is
        ``min(rho_week, rho_year / that)``: with the defaults 1.0 / 53 = 0.018868 per week. Periods
        shorter than a day (the demo's seconds-long windows) spend the full ``rho_week``: spreading a
        yearly cap over millions of windows would drown them in noise; the yearly cap then simply ends
        releases after ``rho_year / rho_week`` windows, as ``flockview up`` says.
        """
        if period < timedelta(days=1):
            return self.rho_week
        return min(self.rho_week, self.rho_year / periods_starting_in_a_year(period), key=lambda b: b.rho)

    def calendar_year_bound(self, period: timedelta) -> RhoBudget:
        """What one actor's events of a single calendar year can cost at most (periods of a day or more).

        They fall in at most :func:`periods_meeting_a_year` periods, each spending at most
        :meth:`period_spend`; and in at most two ledger years, so never more than twice ``rho_year``.
        """
        worst = self.period_spend(period) * periods_meeting_a_year(period)
        return min(worst, self.rho_year * 2, key=lambda b: b.rho)


@dataclass(frozen=True)
class LedgerEntry:
    """One charge to be written: ``key`` is the family.

    ``cost`` is what is charged against the caps; ``stated`` is the (ε, δ) the row records beside it
    (for a selection charge, δ is the selection's own δ). It counts against the period starting at
    ``period_start`` and against that start's year (:func:`year_of`), whatever ``window`` is.
    """

    key: str
    component: str  # "cells" or "selection"
    window: Window
    period_start: datetime
    cost: RhoBudget
    stated: ApproxDPBudget


def charge(con: Connection, entries: Sequence[LedgerEntry], policy: BudgetPolicy, what: str, now: datetime) -> None:
    """Check ``entries`` against the caps and write them, in the caller's transaction.

    Raises:
        BudgetExceededError: together they would pass the period or the yearly cap; nothing is written.
    """
    check_caps(con, entries, policy, what)
    record(con, entries, policy, now)


def check_caps(con: Connection, entries: Sequence[LedgerEntry], policy: BudgetPolicy, what: str) -> None:
    """Raise :class:`BudgetExceededError` if ``entries`` together would pass the period or yearly cap."""
    if not entries:
        return
    requested = RhoBudget.total(e.cost for e in entries)
    period_start = entries[0].period_start
    if any(e.period_start != period_start for e in entries):
        raise RuntimeError(f"one charge spans several privacy periods ({what}): this is a bug")
    year = year_of(period_start)
    for name, cap, spent in (
        ("per-period", policy.rho_week, RhoBudget(ledger_table.spent_in_period(con, period_start))),
        (f"{year} yearly", policy.rho_year, RhoBudget(ledger_table.spent_in_year(con, year))),
    ):
        if not spent + requested <= cap:  # <= has a relative tolerance: weight shares fit exactly
            raise BudgetExceededError(name, requested.rho, cap.remaining_after(spent).rho, cap.rho, what)


def record(con: Connection, entries: Sequence[LedgerEntry], policy: BudgetPolicy, now: datetime) -> None:
    """Write ``entries`` to the ledger, each with the caps in force."""
    ledger_table.insert(
        con,
        [
            ledger_table.LedgerRow(
                family=e.key,
                window_start=e.window.start,
                window_end=e.window.end,
                period=e.window.label(),
                year=year_of(e.period_start),
                rho=e.cost.rho,
                epsilon=e.stated.epsilon,
                delta=e.stated.delta,
                recorded_at=now,
                component=e.component,
                period_start=e.period_start,
                cap_period=policy.rho_week.rho,
                cap_year=policy.rho_year.rho,
            )
            for e in entries
        ],
    )


@dataclass(frozen=True)
class Spend:
    """The budget some ledger rows charged, the cap they count against, and the (ε, δ) statement of their sum.

    Attributes:
        spent: ρ of the rows, added up (zCDP composition).
        entries: how many rows.
        selection_delta: the δ's of their partition-selection charges, added up.
        epsilon_sum: the rows' own ε's added up (basic composition: a looser, familiar bound).
        delta_sum: the rows' own δ's added up, likewise.
        cap: the cap in force (the latest stored with the rows, else the policy's), None if unknown.
    """

    spent: RhoBudget = RhoBudget.ZERO
    entries: int = 0
    selection_delta: float = 0.0
    epsilon_sum: float = 0.0
    delta_sum: float = 0.0
    cap: RhoBudget | None = None

    @property
    def rho(self) -> float:
        """``spent`` as a number, for display."""
        return self.spent.rho

    @property
    def statement(self) -> ApproxDPBudget:
        """The (ε, δ)-DP statement of the sum: ε of ``spent`` at DEFAULT_DELTA, δ that plus the selections' δ."""
        if not self.entries:
            return ApproxDPBudget(0.0, 0.0)
        return ApproxDPBudget(self.spent.epsilon(DEFAULT_DELTA), DEFAULT_DELTA + self.selection_delta)

    @property
    def epsilon(self) -> float:
        """ε of :attr:`statement`."""
        return self.statement.epsilon

    @property
    def delta(self) -> float:
        """δ of :attr:`statement`."""
        return self.statement.delta

    @property
    def remaining(self) -> RhoBudget | None:
        """What the cap leaves (zero when it was passed, after caps were lowered); None if the cap is unknown."""
        return None if self.cap is None else self.cap.remaining_after(self.spent)

    def __add__(self, other: Spend) -> Spend:
        return Spend(
            self.spent + other.spent,
            self.entries + other.entries,
            self.selection_delta + other.selection_delta,
            self.epsilon_sum + other.epsilon_sum,
            self.delta_sum + other.delta_sum,
            other.cap if other.cap is not None else self.cap,
        )


@dataclass(frozen=True)
class PeriodSpend:
    """One privacy period: what it spent, and the year to date through it (for an actor present in every period)."""

    start: datetime
    label: str
    spend: Spend
    year: int
    year_to_date: Spend


@dataclass(frozen=True)
class YearSpend:
    """One calendar year's spend against the yearly cap."""

    year: int
    spend: Spend


@dataclass(frozen=True)
class BudgetAccount:
    """The whole ledger added up: every privacy period and every calendar year, oldest first."""

    periods: tuple[PeriodSpend, ...] = ()
    years: tuple[YearSpend, ...] = ()
    conversion_delta: float = DEFAULT_DELTA
    _by_start: dict[datetime, PeriodSpend] = field(default_factory=dict, repr=False, compare=False)

    @property
    def empty(self) -> bool:
        """Whether nothing was charged."""
        return not self.periods

    def period(self, start: datetime) -> PeriodSpend | None:
        """The period starting at ``start`` (None if nothing was charged against it)."""
        return self._by_start.get(pd.Timestamp(start).to_pydatetime())

    def year(self, year: int) -> YearSpend | None:
        """Calendar year ``year`` (None if nothing was charged against it)."""
        return next((y for y in self.years if y.year == year), None)


def _latest_cap(rows: pd.DataFrame, column: str, fallback: RhoBudget | None) -> RhoBudget | None:
    known = rows[column].dropna() if column in rows else pd.Series(dtype=float)
    return RhoBudget(float(known.iloc[-1])) if len(known) else fallback


def _spend(rows: pd.DataFrame, cap: RhoBudget | None) -> Spend:
    if rows.empty:
        return Spend(cap=cap)
    selection = rows["component"] == "selection" if "component" in rows else pd.Series(False, index=rows.index)
    return Spend(
        RhoBudget(float(rows["rho"].sum())),
        len(rows),
        float(rows.loc[selection, "delta"].sum()),
        float(rows["epsilon"].sum()),
        float(rows["delta"].sum()),
        cap,
    )


def account(ledger: pd.DataFrame, policy: BudgetPolicy | None = None) -> BudgetAccount:
    """Add up a ledger: spend per privacy period and per calendar year, against the caps, with (ε, δ).

    This is the one accounting of the privacy budget; every figure the CLI, the report and the
    dashboard state about spend comes from here.

    Args:
        ledger: the store's ledger rows (:meth:`analytics.store.ReadOnlyStore.ledger`), in its order.
        policy: caps for rows written before caps were stored with them; without it such caps are unknown.

    Returns:
        The account; empty for an empty ledger.
    """
    if ledger.empty:
        return BudgetAccount()
    rows = ledger.copy()
    start = "period_start" if "period_start" in rows and not rows["period_start"].isna().all() else "window_start"
    rows["_period"] = pd.to_datetime(rows[start].fillna(rows["window_start"]), utc=True)
    week_cap = policy.rho_week if policy else None
    year_cap = policy.rho_year if policy else None
    years = tuple(
        YearSpend(int(cast(int, year)), _spend(group, _latest_cap(group, "cap_year", year_cap)))
        for year, group in rows.groupby("year", sort=True)
    )
    year_caps = {y.year: y.spend.cap for y in years}
    periods = []
    for period_start, group in rows.groupby("_period", sort=True):
        stamp = pd.Timestamp(cast(datetime, period_start)).to_pydatetime()
        year = stamp.year
        ytd_rows = rows[(rows["year"] == year) & (rows["_period"] <= period_start)]
        periods.append(
            PeriodSpend(
                stamp,
                str(group["period"].iloc[0]),
                _spend(group, _latest_cap(group, "cap_period", week_cap)),
                year,
                _spend(ytd_rows, year_caps.get(year, year_cap)),
            )
        )
    return BudgetAccount(tuple(periods), years, DEFAULT_DELTA, {p.start: p for p in periods})


def _num(budget: RhoBudget | None, width: int) -> str:
    return f"{'–' if budget is None else format(budget.rho, '.4g'):<{width}}"


def budget_summary(store_path: Path, policy: BudgetPolicy | None = None) -> str:
    """Spend and remaining per year and per privacy period, against the caps stored with the ledger rows.

    Args:
        store_path: the DuckDB store, read-only.
        policy: caps for rows written before caps were stored (and shown for reference).

    Raises:
        EmptyStoreError: nothing has been charged yet.
    """
    policy = policy or BudgetPolicy()
    summary = account(ReadOnlyStore(store_path).ledger(), policy)
    if summary.empty:
        raise EmptyStoreError(f"no budget has been spent yet in {store_path} (no release recorded)")
    lines = [
        f"privacy budget in {store_path} (zCDP rho; caps given: {policy.rho_week.rho:g} per period, "
        f"{policy.rho_year.rho:g} per year; caps in force are stored with each ledger row)",
        "",
        "year  spent      remaining  cap        ledger rows",
    ]
    for year in summary.years:
        s = year.spend
        lines.append(f"{year.year}  {s.rho:<9.4g}  {_num(s.remaining, 9)}  {_num(s.cap, 9)}  {s.entries}")
    lines += [
        "",
        "latest periods (rho composes by addition; epsilon is that of the summed rho):",
        "period                     rows  spent      remaining  cap        epsilon at delta",
    ]
    for period in summary.periods[-10:]:
        s = period.spend
        lines.append(
            f"{period.label:<26} {s.entries:<5} {s.rho:<10.4g} {_num(s.remaining, 10)} {_num(s.cap, 10)} "
            f"{s.epsilon:.3g} at {s.delta:.3g}"
        )
    return "\n".join(lines)
