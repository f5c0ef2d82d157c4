"""The overview page, run through Streamlit's AppTest against stores written by the real release path."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analytics.families import ReportFamily
from analytics.store import ReadOnlyStore, Store
from ingest.contract.taxonomy import EXTRAORDINARILY_DANGEROUS, Category

ROOT = Path(__file__).resolve().parents[3]
APP = ROOT / "dashboard" / "app.py"
DANGEROUS = [c.value for c in Category if c in EXTRAORDINARILY_DANGEROUS]
# Bounded exact counts per window index; every other domain is zero, so it shows as a bound.
LEVELS = {
    "cbrn.bio": lambda i: 400 + 2000 * i,
    "fraud.phishing": lambda i: 3000,
    "cyber.malware": lambda i: 3000 - 1200 * i,
}


def _counts(family: ReportFamily, i: int) -> list[int]:
    return [LEVELS.get(key[0], lambda _: 0)(i) for key in family.keys]


@pytest.fixture(scope="module")
def week_store(tmp_path_factory: pytest.TempPathFactory, store_populator) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("dashboard") / "flockview.duckdb"
    latest = store_populator(path, timedelta(days=7), datetime(2026, 11, 4, tzinfo=UTC), _counts).release(3)[-1]
    assert latest.label() == "2026-W47"
    return path


def run_app(monkeypatch: pytest.MonkeyPatch, store: Path) -> AppTest:
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_STORE", str(store))
    at = AppTest.from_file(str(APP), default_timeout=60)
    return at.run()


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def _text(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def test_populated_store_shows_chart_with_interval_bands(monkeypatch: pytest.MonkeyPatch, week_store: Path) -> None:
    at = run_app(monkeypatch, week_store)
    assert not at.exception
    assert at.title[0].value == "Flagged events by danger domain"
    [chart] = _charts(at)
    band, line = chart["layer"]
    assert band["mark"]["type"] == "area" and line["mark"]["type"] == "line"
    assert (band["encoding"]["y"]["field"], band["encoding"]["y2"]["field"]) == ("ci_low", "ci_high")
    assert line["encoding"]["y"]["field"] == "value"
    assert line["encoding"]["color"]["field"] == "category"
    chosen = at.multiselect[0].value
    assert chosen[: len(DANGEROUS)] == DANGEROUS and len(chosen) == len(DANGEROUS) + 3
    assert {"fraud.phishing", "cyber.malware"} <= set(chosen)
    assert line["encoding"]["color"]["scale"]["domain"] == chosen


def test_latest_window_table_words_zero_intervals_as_bounds(monkeypatch: pytest.MonkeyPatch, week_store: Path) -> None:
    at = run_app(monkeypatch, week_store)
    assert not at.exception
    assert "Latest window: 2026-W47" in _text(at.subheader)
    table = at.dataframe[0].value.set_index("Domain")
    cells = ReadOnlyStore(week_store).cells("events_by_category")
    latest = cells[cells["window_start"] == cells["window_start"].max()]
    assert sorted(table.index) == sorted(c.value for c in Category)
    by_value = latest.set_index("category")["value"]
    assert list(table.index[: len(DANGEROUS)]) == sorted(DANGEROUS, key=lambda c: (-by_value[c], DANGEROUS.index(c)))
    for _, cell in latest.iterrows():
        row = table.loc[cell["category"]]
        assert row["95% interval"] == f"{math.floor(cell['ci_low']):,} – {math.ceil(cell['ci_high']):,}"
        if cell["includes_zero"]:
            assert row["Released events"] == f"≤ {math.ceil(cell['ci_high']):,} (interval includes 0)"
        else:
            assert row["Released events"] == f"{round(cell['value']):,}"
    assert table.loc["cbrn.bio", "Against previous window"] == "clear increase"
    assert table.loc["cyber.malware", "Against previous window"] == "clear decrease"
    assert latest["includes_zero"].sum() >= 10  # most domains are zero: the wording above was exercised


def test_captions_state_the_latest_release_privacy_facts(monkeypatch: pytest.MonkeyPatch, week_store: Path) -> None:
    at = run_app(monkeypatch, week_store)
    assert not at.exception
    release = ReadOnlyStore(week_store).releases("events_by_category").iloc[-1]
    [caption] = [c.value for c in at.caption if c.value.startswith("Privacy of the latest release")]
    for fact in (
        "window 2026-W47",
        f"mechanism {release['mechanism']}",
        f"ρ = {release['rho']:.6g}",
        f"ε = {release['epsilon']:.6g}",
        f"δ = {release['delta']:.3g}",
        f"K = {release['bound_k']} cells",
        f"L = {release['bound_l']} events",
        release["privacy_unit"],
    ):
        assert fact in caption
    assert "ρ = 0.06." in caption  # year to date: 3 windows x rho_week 0.02, from the ledger
    assert "No authentication" in _text(at.sidebar.warning)


def test_deselecting_every_domain_asks_for_one(monkeypatch: pytest.MonkeyPatch, week_store: Path) -> None:
    at = run_app(monkeypatch, week_store)
    at.multiselect[0].set_value([]).run()
    assert not at.exception
    assert "Pick at least one danger domain" in _text(at.info)
    assert not _charts(at)


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_first_run_page_on_missing_or_empty_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str) -> None:
    store = tmp_path / "flockview.duckdb"
    if kind == "empty":
        Store(store)
    at = run_app(monkeypatch, store)
    assert not at.exception
    assert "No released data yet" in _text(at.subheader)
    guidance = _text(at.markdown)
    assert "flockview up" in guidance and "python -m analytics.stream" in guidance
    assert ("does not exist yet" if kind == "missing" else "holds no release yet") in _text(at.info)
    assert not _charts(at) and not at.dataframe
    assert "No authentication" in _text(at.sidebar.warning)
    assert store.exists() == (kind == "empty")  # the dashboard never creates the store


def test_new_release_appears_on_the_next_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store_populator) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "demo.duckdb"
    populator = store_populator(store, timedelta(seconds=10), datetime(2026, 11, 23, 9, 40, tzinfo=UTC), _counts)
    first = populator.release(2)[-1]
    at = run_app(monkeypatch, store)
    assert f"Latest window: {first.label()}" in _text(at.subheader)
    (second,) = populator.release()
    at.run()
    assert not at.exception
    assert f"Latest window: {second.label()}" in _text(at.subheader)


def test_unreadable_store_shows_an_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store = tmp_path / "broken.duckdb"
    store.write_bytes(b"not a duckdb file" * 100)
    at = run_app(monkeypatch, store)
    assert not at.exception
    assert "Cannot read the store" in _text(at.error)


def test_invalid_setting_is_reported(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_REFRESH_SECONDS", "0")
    at = run_app(monkeypatch, tmp_path / "flockview.duckdb")
    assert not at.exception
    assert "FLOCKVIEW_DASHBOARD_" in _text(at.error) and "refresh_seconds" in _text(at.error)


def test_dashboard_never_imports_kafka_or_faust() -> None:
    code = (
        "import sys, dashboard, dashboard.data, dashboard.settings, dashboard.views.overview\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'kafka', 'faust', 'aiokafka', 'mode'})\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "[]"
