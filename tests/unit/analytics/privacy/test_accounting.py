"""One accounting: the CLI's ``flockview budget``, the weekly report and the dashboard's budget page state the same spend."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from analytics.families import ReportFamily
from analytics.privacy.budget import DEFAULT_DELTA, RhoBudget
from analytics.privacy.ledger import BudgetPolicy, account, budget_summary
from analytics.reporting.model import gather
from analytics.store import ReadOnlyStore
from analytics.windows import WEEK


def _counts(family: ReportFamily, i: int) -> list[int]:
    return [200 + 50 * i] * len(family.keys)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, store_populator: Any) -> Path:
    """Two released weeks of every shipped family, open-vocabulary selection included."""
    path = tmp_path_factory.mktemp("accounting") / "flockview.duckdb"
    store_populator(path, WEEK, datetime(2026, 11, 9, tzinfo=UTC), _counts).release(2)
    return path


def test_the_cli_the_report_and_the_dashboard_show_one_account(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    summary = account(ReadOnlyStore(store).ledger())
    latest, year = summary.periods[-1], summary.year(2026)
    assert year is not None and latest.label == "2026-W47"
    # A selection charge adds its δ: the figure the budget page once disagreed on.
    assert latest.spend.selection_delta > 0 and latest.spend.delta == DEFAULT_DELTA + latest.spend.selection_delta
    assert latest.year_to_date == year.spend  # the latest period's year to date is the whole year so far

    cli = budget_summary(store, BudgetPolicy(rho_year=RhoBudget(100.0))).splitlines()
    [year_line] = [line for line in cli if line.startswith("2026 ")]
    remaining = year.spend.remaining
    assert remaining is not None
    assert year_line.split() == [
        "2026",
        f"{year.spend.rho:.4g}",
        f"{remaining.rho:.4g}",
        "100",
        str(year.spend.entries),
    ]
    [period_line] = [line for line in cli if line.startswith("2026-W47")]
    assert period_line.split()[2] == f"{latest.spend.rho:.4g}"
    assert period_line.endswith(f"{latest.spend.epsilon:.3g} at {latest.spend.delta:.3g}")

    report = gather(store).privacy
    assert report.week == latest.spend and report.year_to_date == latest.year_to_date
    assert (report.cap_period, report.cap_year) == (0.02, 100.0)

    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_STORE", str(store))
    at = AppTest.from_string("from dashboard.views import budget\nbudget.render()\n", default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    metrics = {m.label: m for m in at.metric}
    week_metric = metrics["ρ spent, period 2026-W47"]
    assert week_metric.value == f"{latest.spend.rho:.4g}"
    assert week_metric.proto.help == f"ε = {latest.spend.epsilon:.4g} at δ = {latest.spend.delta:g}"
    assert metrics["ρ remaining, 2026"].value == f"{remaining.rho:.4g}"
    years = at.dataframe[0].value.set_index("Year")
    assert years.loc[2026, "ρ spent"] == round(year.spend.rho, 6)
    assert years.loc[2026, "ε"] == round(year.spend.epsilon, 6)
    assert years.loc[2026, "δ"] == year.spend.delta
    words = "\n".join(str(m.value) for m in at.markdown)
    assert f"ε = {year.spend.epsilon:.4g} at δ = {year.spend.delta:g}" in words
