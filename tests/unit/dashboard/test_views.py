"""Every dashboard view through AppTest: a populated store, filters, absent families and empty stores."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics.store import ReadOnlyStore, Store
from dashboard import data, stats
from dashboard.views import alerts

Run = Callable[[Path, str], AppTest]
VIEWS = ["overview", "explore", "techniques", "jurisdictions", "surfaces", "escalations", "alerts", "budget", "health"]


def _text(elements: object) -> str:
    return "\n".join(str(e.value) for e in elements)  # type: ignore[attr-defined]


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]


def _downloads(at: AppTest) -> list[str]:
    return [b.proto.label for b in at.download_button]


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, _text(at.error)
    return at


@pytest.fixture
def store_without(tmp_path: Path, rich_store: Path) -> Callable[..., Path]:
    """A copy of the rich store with the given families' releases (or whole tables) removed."""

    def make(*families: str, drop_tables: tuple[str, ...] = ()) -> Path:
        path = tmp_path / "partial.duckdb"
        shutil.copy(rich_store, path)
        with Store(path).transaction() as con:
            for family in families:
                con.execute("DELETE FROM releases WHERE family = ?", [family])
                con.execute("DELETE FROM cells WHERE family = ?", [family])
            for table in drop_tables:
                con.execute(f"DROP TABLE {table}")
        return path

    return make


@pytest.mark.parametrize("kind", ["missing", "empty"])
@pytest.mark.parametrize("view", VIEWS)
def test_every_view_shows_the_first_run_page_on_an_empty_store(
    run_view: Run, tmp_path: Path, view: str, kind: str
) -> None:
    store = tmp_path / "flockview.duckdb"
    if kind == "empty":
        Store(store)
    at = _ok(run_view(store, view))
    assert "No released data yet" in _text(at.subheader)
    assert "flockview up" in _text(at.markdown)
    assert not _charts(at) and not at.dataframe
    assert store.exists() == (kind == "empty")


@pytest.mark.parametrize("view", VIEWS)
def test_every_view_renders_a_populated_store_with_exports(run_view: Run, rich_store: Path, view: str) -> None:
    at = _ok(run_view(rich_store, view))
    assert at.title
    assert at.dataframe, f"{view} shows no table"
    assert {"Download CSV", "Download Parquet"} <= set(_downloads(at))


def test_overview_lists_changes_beyond_the_noise_and_year_to_date(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "overview"))
    changes = at.dataframe[1].value.set_index("Domain")
    assert {"cbrn.bio", "cyber.malware"} <= set(changes.index)
    assert changes.loc["cbrn.bio", "Change"].startswith("increase of ")
    assert changes.loc["cyber.malware", "Change"].startswith("decrease of ")
    assert "false alarm" in _text(at.caption)
    ytd = at.dataframe[2].value
    assert ytd.columns.tolist() == ["Domain", "Released events, year to date", "95% interval"]
    assert ytd["Domain"].iloc[0] in {"cbrn.bio", "fraud.phishing"}  # the two largest over three weeks
    assert "Through window 2026-W47" in _text(at.caption)


def test_overview_says_when_year_to_date_is_not_released(run_view: Run, store_without: Callable[..., Path]) -> None:
    at = _ok(run_view(store_without(drop_tables=("cumulative",)), "overview"))
    assert "Not released yet" in _text(at.info) and "year-to-date" in _text(at.info)
    assert len(at.dataframe) == 2  # latest window and changes still shown


def test_overview_offers_day_windows_when_a_daily_family_is_released(
    run_view: Run, store_without: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from analytics.families import ReportFamily, load_families
    from dashboard import data

    daily = ReportFamily(
        name="events_by_category_daily",
        title="Flagged events by danger domain, per day",
        dimensions=("category",),
        bound_k=2,
        bound_l=5,
        weight=1.0,
        window="day",
    )
    monkeypatch.setattr(data, "family_catalog", lambda: {**{f.name: f for f in load_families()}, daily.name: daily})
    path = store_without()
    with Store(path).transaction() as con:  # three day windows made from the latest week's cells
        for d in range(3):
            shift = f"window_start + INTERVAL {d} DAY"
            moved = (
                f"REPLACE ('{daily.name}' AS family, {shift} AS window_start, {shift} + INTERVAL 1 DAY AS window_end"
            )
            con.execute(
                f"INSERT INTO releases SELECT * {moved}, release_id || '-d{d}' AS release_id, "
                "'day' AS window_kind) FROM releases WHERE family = 'events_by_category' AND "
                "window_start = (SELECT max(window_start) FROM releases WHERE family = 'events_by_category')"
            )
            con.execute(
                f"INSERT INTO cells SELECT * {moved}, release_id || '-d{d}' AS release_id) FROM cells "
                "WHERE family = 'events_by_category' AND window_start = "
                "(SELECT max(window_start) FROM cells WHERE family = 'events_by_category')"
            )
    at = _ok(run_view(path, "overview"))
    assert "Latest window: 2026-W47" in _text(at.subheader)
    at.radio(key="overview_window_kind").set_value("Days").run()
    assert "Latest window: 2026-11-18 00:00:00Z" in _text(_ok(at).subheader)
    assert any(c.value.startswith(f"Privacy of the latest release ({daily.name}") for c in at.caption)


@pytest.mark.parametrize(
    ("view", "family"),
    [
        ("techniques", "techniques_by_category"),
        ("jurisdictions", "events_by_category_jurisdiction"),
        ("surfaces", "events_by_category_surface"),
        ("escalations", "escalation_funnel"),
    ],
)
def test_a_view_without_its_family_says_not_released_yet(
    run_view: Run, store_without: Callable[..., Path], view: str, family: str
) -> None:
    at = _ok(run_view(store_without(family), view))
    assert "Not released yet" in _text(at.info) and family in _text(at.info)
    assert not at.dataframe and not _charts(at)


def test_explore_filters_and_groups_a_family(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "explore"))
    at.selectbox(key="explore_family").set_value("events_by_category_jurisdiction").run()
    at.multiselect(key="explore_filter_events_by_category_jurisdiction_category").set_value(["cbrn.bio"]).run()
    at.multiselect(key="explore_group_events_by_category_jurisdiction").set_value(["jurisdiction"]).run()
    table = _ok(at).dataframe[0].value
    assert table.columns.tolist() == [
        "window",
        "jurisdiction",
        "released",
        "ci_low",
        "ci_high",
        "includes_zero",
        "value_if_clear",
        "cells_summed",
    ]
    latest = table[table["window"] == "2026-W47"].set_index("jurisdiction")
    assert len(latest) == len(set(latest.index)) > 200  # one row per jurisdiction, cbrn.bio only
    assert (latest["cells_summed"] == 1).all()
    assert not latest.loc["DE", "includes_zero"] and 3000 < latest.loc["DE", "value_if_clear"] < 5000
    assert latest.loc["US", "includes_zero"]  # the US pattern is fraud.phishing, filtered out
    near_zero = table[table["includes_zero"]]
    assert near_zero["value_if_clear"].isna().all() and near_zero["released"].str.startswith("≤ ").all()
    assert set(table["window"]) == {"2026-W45", "2026-W46", "2026-W47"}


def test_explore_sums_cells_with_the_summed_noise(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "explore"))
    at.selectbox(key="explore_family").set_value("events_by_category_surface").run()
    at.multiselect(key="explore_group_events_by_category_surface").set_value([]).run()
    table = _ok(at).dataframe[0].value
    cells = ReadOnlyStore(rich_store).cells("events_by_category_surface")
    week = cells[cells["window_start"] == cells["window_start"].max()]
    row = table[table["window"] == "2026-W47"].iloc[0]
    assert row["cells_summed"] == len(week)
    half = 1.959964 * (week["scale"] ** 2).sum() ** 0.5
    assert row["value_if_clear"] == round(week["value"].sum())
    assert row["ci_high"] == pytest.approx(week["value"].sum() + half, abs=0.1)


def test_techniques_heatmap_and_table(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "techniques"))
    mix, heat = _charts(at)
    assert mix["mark"]["type"] == "bar" and mix["encoding"]["color"]["field"] == "technique"
    assert [layer["mark"]["type"] for layer in heat["layer"]] == ["rect", "rect"]
    table = at.dataframe[0].value
    assert table.iloc[0][["Domain", "Technique"]].tolist() == ["cbrn.bio", "roleplay"]
    assert table.iloc[0]["MITRE ATLAS"].startswith("AML.")
    assert table["Released events"].str.contains("interval includes 0").sum() > 100


def test_jurisdictions_map_buckets_table_and_domain_filter(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "jurisdictions"))
    [chart] = _charts(at)
    assert [layer["mark"]["type"] for layer in chart["layer"]] == ["rect", "rect", "text"]
    table = at.dataframe[0].value
    assert table["Code"].iloc[:3].tolist() == ["US", "DE", "EU"]
    assert table.set_index("Code").loc["DE", "ISO alpha-3"] == "DEU"
    assert len(table) == 251  # every ISO 3166 country plus EU and ZZ
    eu = [m for m in at.metric if m.label.startswith("European Union")]
    assert eu and not eu[0].value.startswith("≤")
    at.multiselect(key="jurisdictions_domains").set_value(["cbrn.bio"]).run()
    table = _ok(at).dataframe[0].value.set_index("Code")
    assert table.index[0] == "DE" and "interval includes 0" in table.loc["US", "Released events"]


def test_surfaces_compare_open_weights_and_hosted(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "surfaces"))
    table = at.dataframe[0].value.set_index(["Domain", "Surface"])
    assert table.loc[("cbrn.bio", "open_weights_host"), "Hosted or open weights"] == "open weights"
    assert table.loc[("cbrn.bio", "api"), "Hosted or open weights"] == "hosted"
    assert "interval" not in table.loc[("cbrn.bio", "open_weights_host"), "Released events"]
    _, bars = _charts(at)
    assert bars["layer"][0]["encoding"]["yOffset"]["field"] == "hosting"


def test_escalations_funnel_in_stage_order(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "escalations"))
    table = at.dataframe[0].value
    assert table["Stage"].tolist() == ["warned", "rate-limited", "suspended or banned"]
    values = [int(v.replace(",", "")) for v in table["Released actors"]]
    assert values[0] > values[1] > values[2]
    at.select_slider(key="escalations_window").set_value("2026-W45").run()
    assert "Funnel, window 2026-W45" in _text(_ok(at).subheader)


def _expected_alerts(store: Path, families: list[str] | None, rate: float) -> pd.DataFrame:
    """What dashboard.stats flags over the store's releases (the same computation the page shows)."""
    releases = data.load_releases(store)
    chosen = families or sorted(releases["family"].unique())
    parts = [p for p in (alerts.family_comparisons(store, f, releases) for f in chosen) if not p.empty]
    return stats.flag(pd.concat(parts, ignore_index=True), rate)


def test_alerts_flag_changes_beyond_noise_and_state_the_false_alarm_rate(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "alerts"))
    at.selectbox(key="alerts_rate").set_value("1%").run()
    statement = _text(_ok(at).markdown)
    assert "False-alarm rate: 1%" in statement and "cells compared" in statement
    table = at.dataframe[0].value
    flagged = set(zip(table["Report family"], table["Cell"], table["Direction"], strict=True))
    assert {
        ("events_by_category", "cbrn.bio", "increase"),
        ("events_by_category", "cyber.malware", "decrease"),
    } <= flagged
    # The store's noise comes from OpenDP and cannot be seeded, so a steady cell may be flagged at the stated
    # rate: the page must show exactly what the statistics flag, and a steady cell must look like noise.
    expected = _expected_alerts(rich_store, None, 0.01)
    shown = expected[expected["flagged"]]
    assert flagged == set(zip(shown["family"], shown["cell"], shown["direction"], strict=True))
    steady = expected[(expected["family"] == "events_by_category") & (expected["cell"] == "fraud.phishing")]
    assert len(steady) == 1 and abs(steady["z"].iloc[0]) < 6  # steady at 3000: |z| >= 6 has odds below 1e-8
    at.multiselect(key="alerts_families").set_value(["escalation_funnel"]).run()
    funnel = _expected_alerts(rich_store, ["escalation_funnel"], 0.01)
    assert f"{int(funnel['flagged'].sum())} change(s) flagged" in _text(_ok(at).markdown)
    assert (funnel["z"].abs() < 6).all()  # a steady funnel
    if not funnel["flagged"].any():
        assert "No change exceeds the noise" in _text(at.success)


def test_budget_states_spend_caps_and_the_guarantee(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "budget"))
    ledger = ReadOnlyStore(rich_store).ledger()
    years = at.dataframe[0].value
    assert years["Year"].tolist() == [2026]
    assert years["ρ spent"].iloc[0] == pytest.approx(ledger["rho"].sum(), abs=1e-6)
    assert years["ρ remaining"].iloc[0] == pytest.approx(100.0 - ledger["rho"].sum(), abs=1e-6)
    words = _text(at.markdown)
    assert "one actor of one provider over one week" in words and "ε =" in words and "OpenDP" in words
    assert len(at.dataframe[1].value) == len(ledger)
    assert {m.label for m in at.metric} >= {"ρ spent, period 2026-W47", "ρ remaining, 2026"}


def test_health_shows_the_release_state_of_every_window(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "health"))
    windows = at.dataframe[0].value.set_index("Window")
    assert list(windows.index) == ["2026-W47", "2026-W46", "2026-W45"]
    assert (windows["Status"] == "released").all()
    families = len(ReadOnlyStore(rich_store).releases().query("window_start == window_start.max()"))
    assert (windows["Families released"] == f"{families} of {families}").all()
    ledger = ReadOnlyStore(rich_store).ledger()
    assert windows["ρ spent"].sum() == pytest.approx(ledger["rho"].sum())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Windows fully released"] == "3 of 3" and metrics["Latest window"] == "2026-W47: released"
    assert "No release has been refused" in _text(at.caption)
    assert "metrics endpoint" in _text(at.caption)


def test_health_shows_only_released_figures(run_view: Run, rich_store: Path) -> None:
    at = _ok(run_view(rich_store, "health"))
    volume = at.dataframe[-1].value
    assert volume.columns.tolist() == ["Window", "Released total", "95% interval"]
    totals = ReadOnlyStore(rich_store).query("SELECT value FROM cells WHERE is_total ORDER BY window_start")
    assert set(volume["Released total"]) <= {f"{round(v):,}" for v in totals["value"]}
    words = _text(at.markdown) + _text(at.caption) + "".join(str(t.value) for t in at.dataframe)
    for exact in ("events_in", "rejected", "consumer_lag", "dropped_by_bounding", "Events in"):
        assert exact not in words


def test_health_names_pending_and_refused_families(run_view: Run, store_without: Callable[..., Path]) -> None:
    path = store_without()
    latest = ReadOnlyStore(path).query("SELECT max(window_start) AS w FROM releases")["w"].iloc[0]
    with Store(path).transaction() as con:
        for family in ("events_by_surface", "escalation_funnel"):
            con.execute("DELETE FROM cells WHERE family = ? AND window_start = ?", [family, latest])
            con.execute("DELETE FROM releases WHERE family = ? AND window_start = ?", [family, latest])
        con.execute(
            "INSERT INTO audit VALUES (now(), 'worker', 'release_refused', ?)",
            [
                "release of escalation_funnel for window 2026-W47 refused: requested rho=0.002, "
                "remaining rho=0 of the yearly cap rho=1"
            ],
        )
    at = _ok(run_view(path, "health"))
    windows = at.dataframe[0].value.set_index("Window")
    assert windows.loc["2026-W47", "Status"] == "pending"
    assert windows.loc["2026-W47", "Pending"] == "events_by_surface"
    assert windows.loc["2026-W47", "Refused"] == "escalation_funnel"
    assert (windows.loc[["2026-W46", "2026-W45"], "Status"] == "released").all()
    refusals = at.dataframe[1].value
    assert refusals["Why"].str.contains("requested rho=0.002, remaining rho=0").all()
    assert {m.label: m.value for m in at.metric}["Windows with a refused release"] == "1"


def test_parquet_export_round_trips_the_shown_table() -> None:
    from dashboard.views._common import parquet_bytes

    frame = pd.DataFrame({"window": ["2026-W47"], "released": ["≤ 12 (interval includes 0)"], "ci_high": [12.0]})
    assert pd.read_parquet(io.BytesIO(parquet_bytes(frame))).equals(frame)
