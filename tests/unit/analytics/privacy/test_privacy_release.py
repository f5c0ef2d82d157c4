"""OpenDP calibration, the noise it draws, and the release step's ledger rules, on a real DuckDB file."""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from analytics.errors import BudgetExceededError
from analytics.families import ReportFamily
from analytics.privacy.budget import RhoBudget
from analytics.privacy.gaussian import consistent_total, draw, non_negative_with_total, plan_gaussian
from analytics.privacy.release import BudgetPolicy, Releaser
from analytics.store import ReadOnlyStore, Store
from analytics.windows import ClosedWindow, window_of

FAMILY = ReportFamily(name="by_category", title="t", dimensions=("category",), bound_k=2, bound_l=5, weight=1)


def test_budget_is_validated() -> None:
    for bad in (-1.0, float("nan"), float("inf"), "0.1", True):
        with pytest.raises(ValueError, match="rho must be a non-negative finite number"):
            RhoBudget(bad)  # type: ignore[arg-type]
    # Zero is a budget (nothing spent, nothing left), but nothing can be spent from it: no cap, no plan.
    assert RhoBudget(0) == RhoBudget.ZERO
    with pytest.raises(ValueError, match=r"per-period cap .* must be a positive rho"):
        BudgetPolicy(rho_week=RhoBudget(0))
    with pytest.raises(ValueError, match="must be a positive rho"):
        plan_gaussian(FAMILY.sensitivity_l2, RhoBudget(0))


def test_plan_spends_no_more_than_its_budget() -> None:
    plan = plan_gaussian(FAMILY.sensitivity_l2, RhoBudget(0.01))
    assert plan.rho <= 0.01 and plan.rho > 0.0099
    # rho = Δ² / (2σ²) for the Gaussian mechanism
    assert plan.scale == pytest.approx(FAMILY.sensitivity_l2 / (2 * 0.01) ** 0.5, rel=1e-3)
    assert 0 < plan.epsilon < 1 and plan.delta == 1e-6
    assert plan.half_width == pytest.approx(1.96 * plan.scale, rel=0.02)


def test_empirical_noise_matches_declared_scale_and_coverage() -> None:
    # 20,000 draws: the sample sd of a Gaussian is within 3% of sigma with overwhelming probability.
    plan = plan_gaussian(FAMILY.sensitivity_l2, RhoBudget(0.01))
    truth = [1000] * 20_000
    noise = [v - 1000 for v in draw(plan, truth)]
    assert statistics.pstdev(noise) == pytest.approx(plan.scale, rel=0.03)
    assert abs(statistics.fmean(noise)) < 3 * plan.scale / len(noise) ** 0.5 * 2
    coverage = sum(abs(n) <= plan.half_width for n in noise) / len(noise)
    assert 0.94 <= coverage <= 0.96


def closed(window_start: datetime, value: int = 500) -> ClosedWindow:
    return ClosedWindow(window_of(window_start, timedelta(days=7)), {FAMILY.name: dict.fromkeys(FAMILY.keys, value)})


def test_release_stores_noisy_cells_with_intervals_and_is_idempotent(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    releaser = Releaser(store, [FAMILY], BudgetPolicy())
    week = closed(datetime(2026, 11, 18, tzinfo=UTC))
    assert [o.status for o in releaser.release(week)] == ["released"]
    assert [o.status for o in releaser.release(week)] == ["already_released"]
    reader = ReadOnlyStore(store.path)
    cells = reader.cells(FAMILY.name)
    assert len(cells) == 17 and (cells["value"] >= 0).all()
    assert ((cells["ci_low"] <= cells["value"]) & (cells["value"] <= cells["ci_high"])).all()
    assert cells["value"].nunique() > 1  # noise was added: 17 equal true counts do not stay equal
    # A week spends min(rho_week, rho_year / 53) = 1/53 so that all 53 weeks of a year fit the yearly cap.
    ledger = reader.ledger()
    assert len(ledger) == 1 and ledger["rho"].iloc[0] == pytest.approx(1 / 53, rel=1e-3)
    assert (ledger["cap_period"].iloc[0], ledger["cap_year"].iloc[0]) == (0.02, 1.0)
    releases = reader.releases()
    assert len(releases) == 1 and releases["window_kind"].iloc[0] == "week"


def test_refused_release_names_the_numbers_and_changes_nothing(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    releaser = Releaser(store, [FAMILY], BudgetPolicy(rho_week=RhoBudget(0.02), rho_year=RhoBudget(1.06)))
    # A releaser with a larger weekly cap spends 0.02 per week; a second one then finds the cap nearly used.
    start = datetime(2026, 1, 7, tzinfo=UTC)
    for week in range(2):
        assert releaser.release(closed(start + timedelta(weeks=week)))[0].status == "released"
    tight = Releaser(store, [FAMILY], BudgetPolicy(rho_week=RhoBudget(0.02), rho_year=RhoBudget(0.0405)))
    before = ReadOnlyStore(store.path).query("SELECT (SELECT count(*) FROM ledger), (SELECT count(*) FROM cells)")
    outcome = tight.release(closed(start + timedelta(weeks=2)))[0]
    assert outcome.status == "refused"
    assert outcome.detail.endswith(
        f"requested rho={0.0405 / 53:.6g}, remaining rho=0.0005 of the 2026 yearly cap rho=0.0405"
    )
    after = ReadOnlyStore(store.path).query("SELECT (SELECT count(*) FROM ledger), (SELECT count(*) FROM cells)")
    assert before.equals(after)
    with duckdb.connect(str(store.path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM audit WHERE action = 'release_refused'").fetchone()[0] == 1


def test_second_family_in_a_full_period_is_refused_by_the_period_cap(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    policy = BudgetPolicy(rho_week=RhoBudget(0.02), rho_year=RhoBudget(2.0))
    week = closed(datetime(2026, 3, 4, tzinfo=UTC))
    assert Releaser(store, [FAMILY], policy).release(week)[0].status == "released"
    other = FAMILY.model_copy(update={"name": "by_category_again"})
    outcome = Releaser(store, [other], policy).release(
        ClosedWindow(week.window, {other.name: week.counts[FAMILY.name]})
    )[0]
    assert outcome.status == "refused"
    assert outcome.detail.endswith("requested rho=0.02, remaining rho=0 of the per-period cap rho=0.02")
    assert len(ReadOnlyStore(store.path).releases()) == 1


def test_budget_exceeded_error_message() -> None:
    err = BudgetExceededError("yearly", 0.02, 0.01, 1.0, "x")
    assert str(err) == "release of x refused: requested rho=0.02, remaining rho=0.01 of the yearly cap rho=1"


def test_least_squares_projection_spreads_the_discrepancy_evenly() -> None:
    parts, total = consistent_total([10.0, 20.0, 30.0], 66.0)
    assert parts == [11.5, 21.5, 31.5] and total == 64.5 and sum(parts) == total
    clamped, clamped_total = non_negative_with_total([-40.0, 5.0, 100.0], 60.0)
    assert min(clamped) == 0.0 and clamped_total == sum(clamped)


def test_family_total_is_released_consistent_with_its_parts(tmp_path: Path) -> None:
    family = ReportFamily(
        name="by_surface", title="t", dimensions=("surface",), bound_k=2, bound_l=2, weight=1, total=True
    )
    store = Store(tmp_path / "s.duckdb")
    releaser = Releaser(store, [family], BudgetPolicy())
    counts = {("api",): 5000, ("consumer_app",): 3000, ("enterprise",): 0, ("open_weights_host",): 12}
    start = datetime(2026, 6, 1, tzinfo=UTC)
    for week in range(3):
        window = window_of(start + timedelta(weeks=week), timedelta(days=7))
        assert releaser.release(ClosedWindow(window, {family.name: counts}))[0].status == "released"
    cells = ReadOnlyStore(store.path).cells(family.name)
    for _, group in cells.groupby("window_start"):
        total = group[group["is_total"]]
        assert len(total) == 1 and total["surface"].isna().all()
        assert total["value"].iloc[0] == pytest.approx(group.loc[~group["is_total"], "value"].sum())
    # The projected entries' sd is sigma * sqrt(n/(n+1)): 3,000 projections of OpenDP draws put the
    # sample sd within 5% of it (its relative standard error is 1.3%).
    plan = releaser.plan(family, timedelta(days=7)).gaussian
    assert plan is not None
    truth = [5000, 3000, 0, 12]
    noisy = draw(plan, ([*truth, sum(truth)]) * 3000)
    totals = [consistent_total(noisy[i : i + 4], noisy[i + 4])[1] - 8012 for i in range(0, len(noisy), 5)]
    assert statistics.pstdev(totals) == pytest.approx(plan.scale * (4 / 5) ** 0.5, rel=0.05)
