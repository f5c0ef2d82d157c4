"""The ledger's cap check and accounting, as properties over random charges (hypothesis, real DuckDB file)."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.errors import BudgetExceededError
from analytics.privacy.budget import ApproxDPBudget, RhoBudget
from analytics.privacy.ledger import BudgetPolicy, LedgerEntry, account, charge
from analytics.store import ReadOnlyStore, Store
from analytics.windows import WEEK, Window

FIRST = datetime(2026, 12, 21, tzinfo=UTC)  # weeks 0 and 1 fall in 2026, week 2 on in 2027
POLICY = BudgetPolicy(RhoBudget(0.02), RhoBudget(0.05))
NOW = datetime(2027, 2, 1, tzinfo=UTC)


def _entry(week: int, rho: RhoBudget, n: int) -> LedgerEntry:
    window = Window(FIRST + week * WEEK, FIRST + (week + 1) * WEEK)
    return LedgerEntry(f"f{n}", "cells", window, window.start, rho, ApproxDPBudget(rho.epsilon(), 1e-6))


charges = st.lists(
    st.tuples(st.integers(0, 3), st.sampled_from([1, 2, 3, 4, 5, 8]), st.booleans()), min_size=1, max_size=12
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(charges)
def test_admitted_charges_never_pass_a_cap_and_the_account_adds_them_up(
    schedule: list[tuple[int, int, bool]],
) -> None:
    # rho = cap_week / parts: several parts of one week fit the weekly cap exactly, in float arithmetic.
    admitted: list[LedgerEntry] = []
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.duckdb")
        for n, (week, parts, _) in enumerate(schedule):
            entry = _entry(week, POLICY.rho_week / parts, n)
            try:
                with store.transaction() as con:
                    charge(con, [entry], POLICY, entry.key, NOW)
            except BudgetExceededError as exc:
                assert "requested rho=" in str(exc) and "remaining rho=" in str(exc) and "cap rho=" in str(exc)
                assert len(ReadOnlyStore(store.path).ledger()) == len(admitted)  # a refusal writes nothing
                in_period = RhoBudget.total(e.cost for e in admitted if e.period_start == entry.period_start)
                in_year = RhoBudget.total(e.cost for e in admitted if e.window.start.year == entry.window.start.year)
                assert in_period + entry.cost > POLICY.rho_week or in_year + entry.cost > POLICY.rho_year
            else:
                admitted.append(entry)
        ledger = ReadOnlyStore(store.path).ledger()
    summary = account(ledger, POLICY)
    assert sum(p.spend.entries for p in summary.periods) == len(admitted) == len(ledger)
    for period in summary.periods:
        mine = RhoBudget.total(e.cost for e in admitted if e.period_start == period.start)
        assert period.spend.spent.isclose(mine) and period.spend.spent <= POLICY.rho_week
        assert period.spend.remaining is not None
        assert (period.spend.remaining + period.spend.spent).isclose(POLICY.rho_week)
        assert period.year_to_date.spent >= period.spend.spent
    for year in summary.years:
        assert year.spend.spent <= POLICY.rho_year
        assert year.spend.spent.isclose(RhoBudget.total(e.cost for e in admitted if e.window.start.year == year.year))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.floats(min_value=0.01, max_value=100.0), min_size=1, max_size=25))
def test_weight_shares_of_a_cap_fit_exactly_and_nothing_more_does(weights: list[float]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "s.duckdb")
        for n, share in enumerate(POLICY.rho_week.split(weights)):
            with store.transaction() as con:
                charge(con, [_entry(0, share, n)], POLICY, f"share {n}", NOW)
        extra = _entry(0, POLICY.rho_week * 1e-6, len(weights))
        refused = pytest.raises(BudgetExceededError, match=r"remaining rho=0 of the per-period cap rho=0\.02$")
        with refused, store.transaction() as con:
            charge(con, [extra], POLICY, "one more", NOW)
        assert len(ReadOnlyStore(store.path).ledger()) == len(weights)
