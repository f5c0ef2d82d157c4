"""Stores for the dashboard's view tests, written by the real release path (OpenDP noise).

The exact counts below are large where a pattern must show (thousands, against noise scales of tens
to a couple of hundred) and zero elsewhere, so every assertion on a pattern holds with overwhelming
probability while the zero cells exercise the "interval includes zero" wording.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.families import ReportFamily

# (family, key) -> count of window i; every other cell counts zero.
PATTERNS: dict[str, dict[tuple[str, ...], Callable[[int], int]]] = {
    "events_by_category": {
        ("cbrn.bio",): lambda i: 400 + 2000 * i,
        ("fraud.phishing",): lambda i: 3000,
        ("cyber.malware",): lambda i: 3000 - 1200 * i,
    },
    "techniques_by_category": {("cbrn.bio", "roleplay"): lambda i: 3000, ("cyber.malware", "encoding"): lambda i: 1500},
    "events_by_category_jurisdiction": {
        ("cbrn.bio", "DE"): lambda i: 4000,
        ("fraud.phishing", "US"): lambda i: 5000,
        ("cbrn.bio", "EU"): lambda i: 2500,
    },
    "events_by_category_surface": {
        ("cbrn.bio", "open_weights_host"): lambda i: 3000,
        ("cbrn.bio", "api"): lambda i: 800,
        ("fraud.phishing", "consumer_app"): lambda i: 2500,
    },
    "escalation_funnel": {("warn",): lambda i: 3000, ("rate_limit",): lambda i: 1500, ("suspend_ban",): lambda i: 600},
}
FIRST = datetime(2026, 11, 4, tzinfo=UTC)


def counts(family: ReportFamily, i: int) -> list[int]:
    """Exact counts of window ``i`` aligned to ``family.keys``, from :data:`PATTERNS`."""
    pattern = PATTERNS.get(family.name, {})
    return [pattern[key](i) if key in pattern else 0 for key in family.keys]


@pytest.fixture(scope="session")
def rich_store(tmp_path_factory: pytest.TempPathFactory, store_populator) -> Path:  # type: ignore[no-untyped-def]
    """Three released weeks (2026-W45 to W47) of every family."""
    path = tmp_path_factory.mktemp("dashboard-views") / "flockview.duckdb"
    latest = store_populator(path, timedelta(days=7), FIRST, counts).release(3)[-1]
    assert latest.label() == "2026-W47"
    return path


@pytest.fixture
def run_view(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path, str], AppTest]:
    """A function that runs one view's ``render()`` against a store in AppTest."""

    def run(store: Path, view: str) -> AppTest:
        monkeypatch.setenv("FLOCKVIEW_DASHBOARD_STORE", str(store))
        at = AppTest.from_string(f"from dashboard.views import {view}\n{view}.render()\n", default_timeout=120)
        return at.run()

    return run
