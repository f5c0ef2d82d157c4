"""Budgets as values: validation, arithmetic, and comparisons with a relative tolerance (hypothesis)."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analytics.privacy.budget import DEFAULT_DELTA, REL_TOL, ApproxDPBudget, RhoBudget

rhos = st.floats(min_value=1e-9, max_value=1e3, allow_nan=False, allow_infinity=False)
budgets = rhos.map(RhoBudget)
weights = st.lists(st.floats(min_value=1e-3, max_value=1e3), min_size=1, max_size=60)
factors = st.floats(min_value=1e-6, max_value=1e6)


@given(budgets, weights)
def test_shares_by_weight_add_back_to_exactly_the_budget(budget: RhoBudget, ws: list[float]) -> None:
    parts = budget.split(ws)
    total = RhoBudget.total(parts)
    assert total <= budget and total >= budget and total.isclose(budget)
    assert all(p <= budget for p in parts)
    spent = RhoBudget.ZERO  # spending the shares one by one never leaves the budget short
    for part in parts:
        assert spent + part <= budget
        spent = spent + part
    assert budget.remaining_after(spent) == RhoBudget.ZERO or budget.remaining_after(spent).rho < REL_TOL * budget.rho


@given(budgets, budgets)
def test_addition_and_subtraction_are_inverse(a: RhoBudget, b: RhoBudget) -> None:
    assert a + b == b + a
    # exact up to the tolerance, relative to the larger operand (a tiny a is lost next to a huge b)
    assert abs(((a + b) - b).rho - a.rho) <= REL_TOL * (a + b).rho
    assert (a + b) >= a and (a + b) >= b


@given(budgets, budgets)
def test_taking_more_than_there_is_raises_and_remaining_never_goes_negative(a: RhoBudget, b: RhoBudget) -> None:
    if b > a:
        with pytest.raises(ValueError, match="more than there is"):
            _ = a - b
        assert a.remaining_after(b) == RhoBudget.ZERO
    else:
        assert (a - b).rho >= 0
        assert abs((a.remaining_after(b) + b).rho - a.rho) <= REL_TOL * a.rho


@given(budgets, factors)
def test_scalar_multiplication_and_division(a: RhoBudget, k: float) -> None:
    assert ((a * k) / k).isclose(a)
    assert (k * a) == (a * k)
    assert (a / k).rho == a.rho / k
    with pytest.raises(ValueError, match="positive number"):
        _ = a / 0


@given(budgets, budgets)
def test_ordering_is_total_and_consistent_with_the_tolerance(a: RhoBudget, b: RhoBudget) -> None:
    assert [a < b, a.isclose(b), a > b].count(True) == 1
    assert (a <= b) == (a < b or a.isclose(b))
    assert (a >= b) == (a > b or a.isclose(b))
    assert (a < b) == (b > a)


@given(budgets)
def test_a_float_slip_below_the_tolerance_is_equal_and_above_it_is_not(a: RhoBudget) -> None:
    assert RhoBudget(a.rho * (1 + REL_TOL / 10)) <= a
    assert not RhoBudget(a.rho * (1 + 1e3 * REL_TOL)) <= a


@pytest.mark.parametrize("bad", [-1e-12, float("nan"), float("inf"), "0.1", None, True])
def test_invalid_budgets_name_the_value(bad: object) -> None:
    with pytest.raises(ValueError, match="rho must be a non-negative finite number"):
        RhoBudget(bad)  # type: ignore[arg-type]


def test_budgets_are_frozen_and_hashable() -> None:
    b = RhoBudget(0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.rho = 1.0  # type: ignore[misc]
    assert len({b, RhoBudget(0.5), RhoBudget(1)}) == 2
    assert RhoBudget(1).rho == 1.0 and isinstance(RhoBudget(1).rho, float)


@given(budgets, budgets)
def test_epsilon_grows_with_rho_and_composition_is_tighter_than_adding_epsilons(a: RhoBudget, b: RhoBudget) -> None:
    lo, hi = sorted([a, b], key=lambda x: x.rho)
    assert lo.epsilon() <= hi.epsilon() + 1e-9
    assert (a + b).epsilon() <= a.epsilon() + b.epsilon() + 1e-9


def test_epsilon_of_zero_and_the_known_conversion() -> None:
    assert RhoBudget.ZERO.epsilon() == 0.0
    # The standard bound eps = rho + 2 sqrt(rho ln(1/delta)) is an upper bound of OpenDP's tighter conversion.
    rho = 0.02
    assert RhoBudget(rho).epsilon(DEFAULT_DELTA) <= rho + 2 * math.sqrt(rho * math.log(1 / DEFAULT_DELTA))
    assert RhoBudget(rho).approx_dp().delta == DEFAULT_DELTA
    with pytest.raises(ValueError, match="delta must be in"):
        RhoBudget(rho).epsilon(0.0)


def test_approx_dp_budgets_compose_by_adding() -> None:
    total = ApproxDPBudget(0.5, 1e-6) + ApproxDPBudget(0.25, 1e-7)
    assert total == ApproxDPBudget(0.75, 1.1e-6)
    for epsilon, delta in ((-0.1, 1e-6), (0.1, 1.0), (float("inf"), 0.0)):
        with pytest.raises(ValueError, match="must be"):
            ApproxDPBudget(epsilon, delta)
