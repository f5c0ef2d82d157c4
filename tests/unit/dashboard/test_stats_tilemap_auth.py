"""Noise-aware sums and change flags, the offline tile map, and the optional login gate."""

from __future__ import annotations

import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics.reporting.stats import Z95, z_for
from dashboard import stats, tilemap

APP = Path(__file__).resolve().parents[3] / "dashboard" / "app.py"


def _cells(values: list[float], scale: float = 10.0, window: int = 0) -> pd.DataFrame:
    start = pd.Timestamp("2026-11-02", tz="UTC") + pd.Timedelta(days=7 * window)
    half = 1.96 * scale
    return pd.DataFrame(
        {
            "window_start": start,
            "window_end": start + pd.Timedelta(days=7),
            "category": [f"c{i}" for i in range(len(values))],
            "value": values,
            "ci_low": [max(v - half, 0) for v in values],
            "ci_high": [v + half for v in values],
            "includes_zero": [v - half <= 0 for v in values],
            "scale": scale,
        }
    )


def test_aggregate_keeps_a_single_cells_interval_and_widens_sums() -> None:
    cells = _cells([100.0, 50.0, 5.0])
    one = stats.aggregate(cells, ["category"]).set_index("category")
    assert one.loc["c0", ["ci_low", "ci_high"]].tolist() == cells.loc[0, ["ci_low", "ci_high"]].tolist()
    assert bool(one.loc["c2", "includes_zero"])
    total = stats.aggregate(cells, []).iloc[0]
    sd = math.sqrt(3) * 10
    assert total["value"] == 155 and total["sd"] == pytest.approx(sd) and total["n_cells"] == 3
    # The lower end counts only the parts clear of zero (c2 = 5 is not), with all parts' noise.
    assert total["ci_low"] == pytest.approx(150 - Z95 * sd)
    assert total["ci_high"] == pytest.approx(155 + Z95 * sd)
    assert not total["includes_zero"]


def test_a_sum_of_clamped_zero_cells_is_never_called_clear() -> None:
    # Thirty cells whose true count is zero, released clamped at zero: each lifted to about 0.4 sigma.
    rng = np.random.default_rng(3)
    cells = _cells(list(np.maximum(rng.normal(0, 10, 30), 0)))
    total = stats.aggregate(cells, []).iloc[0]
    assert total["value"] > Z95 * total["sd"]  # the naive interval would have excluded zero
    assert total["includes_zero"] and total["ci_low"] == 0


def test_aggregate_never_counts_a_released_total_twice() -> None:
    cells = pd.concat([_cells([10.0, 20.0]), _cells([30.0])], ignore_index=True)
    cells["is_total"] = [False, False, True]
    assert stats.aggregate(cells, []).iloc[0]["value"] == 30.0


def test_a_sum_near_zero_is_marked_as_including_zero() -> None:
    total = stats.aggregate(_cells([3.0, 2.0, 0.0]), []).iloc[0]
    assert total["includes_zero"] and total["ci_low"] == 0.0
    assert stats.with_text(stats.aggregate(_cells([3.0, 2.0, 0.0]), []))["released"].iloc[0].startswith("≤ ")


def test_the_alarm_threshold_is_bonferroni_and_bad_rates_are_refused() -> None:
    """The dashboard flags with the report's z (``z_for``): one definition of the multiple-comparison z."""
    assert z_for(1, 0.05) == pytest.approx(1.959964, abs=1e-6)
    assert z_for(10, 0.05) == pytest.approx(NormalDist().inv_cdf(1 - 0.0025))
    one = stats.aggregate(_cells([100.0]), ["category"])
    ten = stats.aggregate(_cells([100.0] * 10), ["category"])
    assert stats.changes(one, one, ["category"], 0.05).attrs["threshold"] == z_for(1, 0.05)
    assert stats.changes(ten, ten, ["category"], 0.05).attrs["threshold"] == z_for(10, 0.05)
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError, match="false_alarm_rate must be between 0 and 1"):
            stats.changes(ten, ten, ["category"], bad)
    with pytest.raises(ValueError, match="comparisons must be at least 1"):
        z_for(0, 0.05)


def test_changes_flag_only_beyond_the_combined_noise() -> None:
    before = stats.aggregate(_cells([100.0, 100.0, 100.0]), ["category"])
    now = stats.aggregate(
        _cells([100.0 + 10 * math.sqrt(2) * 2.5, 100.0 + 10 * math.sqrt(2) * 2.3, 40.0], window=1), ["category"]
    )
    out = stats.changes(now, before, ["category"], false_alarm_rate=0.05).set_index("category")
    threshold = out.attrs["threshold"]
    assert threshold == pytest.approx(NormalDist().inv_cdf(1 - 0.05 / 6))  # 2.39
    assert out.loc["c0", "z"] == pytest.approx(2.5) and out.loc["c0", "direction"] == "increase"
    assert out.loc["c1", "z"] == pytest.approx(2.3) and not out.loc["c1", "flagged"]
    assert out.loc["c2", "direction"] == "decrease"
    assert list(out.index) == ["c2", "c0", "c1"]  # largest |z| first
    with pytest.raises(ValueError, match="at least one group column"):
        stats.compare(now, before, [])


def test_false_alarm_rate_holds_on_pure_noise() -> None:
    rng = np.random.default_rng(7)
    trials, cells, flagged_pages = 400, 50, 0
    for _ in range(trials):
        before = stats.aggregate(_cells(list(1000 + rng.normal(0, 10, cells))), ["category"])
        now = stats.aggregate(_cells(list(1000 + rng.normal(0, 10, cells)), window=1), ["category"])
        flagged_pages += bool(stats.changes(now, before, ["category"], 0.05)["flagged"].any())
    # At most 5% of pages may raise any flag; allow three binomial standard deviations (≈ 3.3 points).
    assert flagged_pages / trials <= 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)


def test_zone_tab_coordinates_parse() -> None:
    assert tilemap.parse_coordinates("+5230+01322") == pytest.approx((52.5, 13.3667), abs=1e-3)
    assert tilemap.parse_coordinates("-3352+15113") == pytest.approx((-33.8667, 151.2167), abs=1e-3)
    assert tilemap.parse_coordinates("+404251-0740023") == pytest.approx((40.7142, -74.0064), abs=1e-3)
    with pytest.raises(ValueError, match=r"not a zone\.tab coordinate"):
        tilemap.parse_coordinates("52.5,13.3")


def test_tile_layout_places_every_country_once_near_its_neighbours() -> None:
    layout = tilemap.layout().set_index("jurisdiction")
    assert len(layout) >= 245 and {"DE", "US", "NZ", "KI", "JP"} <= set(layout.index)
    assert not layout.duplicated(["col", "row"]).any()
    assert "EU" not in layout.index and "ZZ" not in layout.index

    def distance(a: str, b: str) -> float:
        return math.dist(layout.loc[a, ["col", "row"]], layout.loc[b, ["col", "row"]])

    assert distance("DE", "FR") < 4
    assert distance("NZ", "AU") < 8 < distance("NZ", "ZA")  # NZ spans the antimeridian: it stays in the Pacific
    assert layout.loc["NO", "row"] < layout.loc["ZA", "row"] and layout.loc["BR", "col"] < layout.loc["IN", "col"]


def _app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secrets: dict | None = None) -> AppTest:
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_STORE", str(tmp_path / "none.duckdb"))
    at = AppTest.from_file(str(APP), default_timeout=60)
    if secrets:
        for key, value in secrets.items():
            at.secrets[key] = value
    return at.run()


def test_without_login_the_app_says_it_runs_without_authentication(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    at = _app(monkeypatch, tmp_path)
    assert not at.exception
    assert "No authentication" in "\n".join(w.value for w in at.sidebar.warning)
    assert "No released data yet" in "\n".join(s.value for s in at.subheader)


def test_required_login_without_configuration_refuses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_REQUIRE_LOGIN", "true")
    at = _app(monkeypatch, tmp_path)
    assert not at.exception
    assert "no OIDC login is configured" in "\n".join(e.value for e in at.error)
    assert not at.subheader  # no page ran


def test_configured_login_shows_only_a_sign_in_button(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    auth = {
        "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "flockview",
        "client_secret": "s",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    }
    at = _app(monkeypatch, tmp_path, {"auth": auth})
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert "Sign in to see the released figures" in "\n".join(i.value for i in at.info)
    assert not at.sidebar.warning and not at.subheader  # no data page, no "no authentication" notice
