"""DP partition selection for the open model-family vocabulary: calibration and what may be released."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.families import load_families
from analytics.privacy.budget import RhoBudget
from analytics.privacy.release import BudgetPolicy, Releaser
from analytics.privacy.selection import _measurement, plan_threshold, select
from analytics.store import ReadOnlyStore, Store
from analytics.windows import ClosedWindow, window_of


def test_threshold_meets_the_stated_delta_and_budget() -> None:
    plan = plan_threshold(1, 3, RhoBudget(0.001), delta=1e-7)
    assert plan.rho <= 0.001 * (1 + 1e-6) and plan.delta <= 1e-7
    # the threshold is the smallest that meets delta, by OpenDP's own map: one less would not
    assert _measurement(plan.scale, plan.threshold - 1).map(plan.d_in)[1] > 1e-7
    assert plan.threshold > 3  # a key held up by one actor alone (count <= L) needs a large noise draw
    assert plan_threshold(1, 3, RhoBudget(0.001), delta=1e-9).threshold > plan.threshold


def test_absent_and_single_actor_keys_are_never_released() -> None:
    # Counts of at most L = 3 are what one actor alone can produce; the mechanism lets such a key through
    # with probability at most delta = 1e-7, so over 250 rounds of 400 keys (1e5 trials) we expect none.
    plan = plan_threshold(1, 3, RhoBudget(0.001), delta=1e-7)
    rare = {(f"solo-{i}",): 1 + i % 3 for i in range(400)}
    common = {("acme-large",): 20 * plan.threshold}
    for _ in range(250):
        released = select(plan, {**rare, **common, ("absent",): 0})
        assert set(released) == {("acme-large",)}


def test_model_family_release_stores_only_selected_keys(tmp_path: Path) -> None:
    family = next(f for f in load_families() if f.name == "events_by_model_family")
    store = Store(tmp_path / "s.duckdb")
    releaser = Releaser(store, [family], BudgetPolicy())
    plan = releaser.plan(family, timedelta(days=7)).threshold
    assert plan is not None
    counts = {("acme-large",): 50 * plan.threshold, ("tiny-model",): 2}
    window = window_of(datetime(2026, 5, 6, tzinfo=UTC), timedelta(days=7))
    assert releaser.release(ClosedWindow(window, {family.name: counts}))[0].status == "released"
    reader = ReadOnlyStore(store.path)
    cells = reader.cells(family.name)
    assert list(cells["model_family"]) == ["acme-large"]
    assert cells["value"].iloc[0] == pytest.approx(50 * plan.threshold, abs=8 * plan.scale)
    release = reader.releases(family.name).iloc[0]
    assert release["threshold"] == plan.threshold and release["mechanism"] == "gaussian_threshold_zcdp"
    ledger = reader.ledger()
    assert list(ledger["component"]) == ["selection"] and ledger["delta"].iloc[0] <= 1e-7


def test_empty_selection_is_a_release_with_no_cells(tmp_path: Path) -> None:
    family = next(f for f in load_families() if f.name == "events_by_model_family")
    store = Store(tmp_path / "s.duckdb")
    window = window_of(datetime(2026, 5, 6, tzinfo=UTC), timedelta(days=7))
    outcome = Releaser(store, [family], BudgetPolicy()).release(ClosedWindow(window, {}))
    assert outcome[0].status == "released"
    assert ReadOnlyStore(store.path).cells(family.name).empty
    assert ReadOnlyStore(store.path).releases()["n_cells"].iloc[0] == 0
