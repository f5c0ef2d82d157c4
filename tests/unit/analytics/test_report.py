"""The weekly report, built against stores written by the real release path (OpenDP noise, ledger)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from analytics.errors import EmptyStoreError
from analytics.families import ReportFamily
from analytics.privacy import RhoBudget
from analytics.families import load_families
from analytics.report import weekly_report_markdown, write_weekly_report
from analytics.store import ReadOnlyStore, Store
from analytics.windows import Window
from ingest.taxonomy import Category

WEEK = timedelta(days=7)
# Bounded exact counts per window index i: cbrn.bio rises, cyber.malware falls, fraud.phishing holds.
# With the default per-window rho the noise scale is about 50, so these steps are far outside it.
LEVELS = {"cbrn.bio": lambda i: 400 + 2000 * i, "fraud.phishing": lambda i: 3000,
          "cyber.malware": lambda i: 3000 - 1200 * i}
TECHNIQUES = {"roleplay": 1500, "encoding": 800}


def _counts(family: ReportFamily, i: int) -> list[int]:
    counts = []
    for key in family.keys:
        level = LEVELS.get(key[0], lambda _: 0)(i)
        if family.name == "techniques_by_category":
            level = TECHNIQUES.get(key[1], 0) if key[0] == "cbrn.bio" else 0
        elif family.name == "events_by_category_stage_action" and key[1:] != ("input_filter", "block"):
            level = 0
        counts.append(level)
    return counts


@pytest.fixture(scope="module")
def week_store(tmp_path_factory: pytest.TempPathFactory, store_populator) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("report") / "flockview.duckdb"
    windows = store_populator(path, WEEK, datetime(2026, 11, 4, tzinfo=UTC), _counts).release(3)
    assert [w.label() for w in windows] == ["2026-W45", "2026-W46", "2026-W47"]
    return path


def _row(report: str, first_cell: str, after: str = "") -> list[str]:
    """The cells of the first table row that starts with ``first_cell`` (after the heading ``after``)."""
    text = report[report.index(after):] if after else report
    for line in text.splitlines():
        if line.startswith(f"| {first_cell} |"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no table row for {first_cell!r}")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def _interval(text: str) -> tuple[int, int]:
    low, high = text.split(" – ")
    return _int(low), _int(high)


def _cells(path: Path, family: str, window: str) -> pd.DataFrame:
    cells = ReadOnlyStore(path).cells(family)
    labels = [Window(s.to_pydatetime(), e.to_pydatetime()).label()
              for s, e in zip(cells["window_start"], cells["window_end"], strict=True)]
    return cells[[label == window for label in labels]]


def test_report_has_every_section(week_store: Path) -> None:
    report = weekly_report_markdown(week_store)
    assert report.startswith("# Flockview weekly policy report: 2026-W47\n")
    assert "Window 2026-11-16 00:00:00 to 2026-11-23 00:00:00 UTC" in report
    headings = [line for line in report.splitlines() if line.startswith("#")]
    assert headings[1:] == [
        "## Flagged events by danger domain",
        "### Extraordinarily dangerous domains",
        "### Other domains",
        "## Change against the previous released window",
        "## Top jailbreak techniques",
        "## Methodology and privacy",
    ]


def test_domain_figures_equal_released_values(week_store: Path) -> None:
    report = weekly_report_markdown(week_store)
    cells = _cells(week_store, "events_by_category", "2026-W47")
    assert len(cells) == len(Category)
    for _, cell in cells.iterrows():
        _, shown, interval, _ = _row(report, cell["category"])
        assert _interval(interval) == (math.floor(cell["ci_low"]), math.ceil(cell["ci_high"]))
        if cell["includes_zero"]:
            assert shown == f"≤ {math.ceil(cell['ci_high']):,} (interval includes 0)"
        else:
            assert _int(shown) == round(cell["value"])
    assert not cells.set_index("category").loc["cbrn.bio", "includes_zero"]


def test_change_is_called_only_when_intervals_do_not_overlap(week_store: Path) -> None:
    report = weekly_report_markdown(week_store)
    current = _cells(week_store, "events_by_category", "2026-W47").set_index("category")
    previous = _cells(week_store, "events_by_category", "2026-W46").set_index("category")
    for category in Category:
        cur, prev = current.loc[category.value], previous.loc[category.value]
        expected = ("clear increase" if cur["ci_low"] > prev["ci_high"] else
                    "clear decrease" if cur["ci_high"] < prev["ci_low"] else "no clear change")
        assert _row(report, category.value)[3] == expected
    assert _row(report, "cbrn.bio")[3] == "clear increase"
    assert _row(report, "cyber.malware")[3] == "clear decrease"
    changes = report[report.index("## Change against"):report.index("## Top jailbreak")]
    assert "Compared with 2026-W46" in changes
    assert "- **cbrn.bio**: clear increase, from" in changes


def test_top_techniques_are_released_cells_distinguishable_from_zero(week_store: Path) -> None:
    report = weekly_report_markdown(week_store)
    section = report[report.index("## Top jailbreak techniques"):report.index("## Methodology")]
    cells = _cells(week_store, "techniques_by_category", "2026-W47")
    bio = cells[cells["category"] == "cbrn.bio"].set_index("technique")
    listed = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| cbrn.bio |")]
    assert [row[1].strip() for row in listed][:2] == ["roleplay", "encoding"]
    for row in listed:
        cell = bio.loc[row[1].strip()]
        assert not cell["includes_zero"]
        assert _int(row[3].strip()) == round(cell["value"])
        assert _interval(row[4].strip()) == (math.floor(cell["ci_low"]), math.ceil(cell["ci_high"]))
    assert "AML.T0054 LLM Jailbreak" in listed[0][2]


def test_privacy_statement_states_the_ledger_spend(week_store: Path) -> None:
    report = weekly_report_markdown(week_store)
    section = report[report.index("## Methodology and privacy"):]
    ledger = ReadOnlyStore(week_store).ledger()
    latest = ledger[ledger["period"] == "2026-W47"]
    assert len(latest) == len(load_families())
    spent = next(line for line in section.splitlines() if line.startswith("- **Spent for this window**"))
    assert f"ρ = {latest['rho'].sum():.6g};" in spent
    assert f"ε = {latest['epsilon'].sum():.6g}, δ = {latest['delta'].sum():.6g}" in spent
    assert f"is (ε = {RhoBudget(float(latest['rho'].sum())).epsilon(1e-6):.6g}, δ = 1e-06)-DP" in spent
    ytd = next(line for line in section.splitlines() if line.startswith("- **Year to date**"))
    assert f"ρ = {ledger[ledger['year'] == 2026]['rho'].sum():.6g}," in ytd and f"{3 * len(load_families())} entries" in ytd
    releases = ReadOnlyStore(week_store).releases()
    for _, release in releases[releases["window_start"] == latest["window_start"].iloc[0]].iterrows():
        row = _row(section, release["family"])
        assert row[1:4] == [release["mechanism"], str(release["bound_k"]), str(release["bound_l"])]
        assert row[5:] == [f"{release['rho']:.6g}", f"{release['epsilon']:.6g}", f"{release['delta']:.6g}"]
    assert f"**Privacy unit:** {releases['privacy_unit'].iloc[0]}." in section


def test_week_selects_an_earlier_window(week_store: Path) -> None:
    first = weekly_report_markdown(week_store, "2026-W45")
    assert first.startswith("# Flockview weekly policy report: 2026-W45\n")
    assert "No earlier released window to compare with." in first
    assert _row(first, "cbrn.bio")[3] == "no earlier window"
    ytd = next(line for line in first.splitlines() if line.startswith("- **Year to date**"))
    assert f"{len(load_families())} entries" in ytd
    cells = _cells(week_store, "events_by_category", "2026-W45").set_index("category")
    assert _int(_row(first, "fraud.phishing")[1]) == round(cells.loc["fraud.phishing", "value"])


def test_write_weekly_report_writes_the_markdown(week_store: Path, tmp_path: Path) -> None:
    path = write_weekly_report(week_store, tmp_path / "reports", "2026-W46")
    assert path == tmp_path / "reports" / "flockview-report-2026-W46.md"
    assert path.read_text(encoding="utf-8") == weekly_report_markdown(week_store, "2026-W46")
    latest = write_weekly_report(week_store, tmp_path)
    assert latest.name == "flockview-report-2026-W47.md"


def test_short_demo_windows_are_labelled_by_their_start(tmp_path: Path, store_populator) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "demo.duckdb"
    windows = store_populator(store, timedelta(seconds=10), datetime(2026, 11, 23, 9, 40, 3, tzinfo=UTC),
                              _counts).release(2)
    assert windows[0].label() == "2026-11-23 09:40:00Z"
    report = weekly_report_markdown(store, "2026-11-23 09:40:00Z")
    assert report.startswith("# Flockview weekly policy report: 2026-11-23 09:40:00Z\n")
    assert "Compared with" not in report
    assert weekly_report_markdown(store).startswith("# Flockview weekly policy report: 2026-11-23 09:40:10Z\n")
    assert write_weekly_report(store, tmp_path).name == "flockview-report-2026-11-23T094010Z.md"


def test_empty_or_missing_store_raises(tmp_path: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    Store(empty)
    with pytest.raises(EmptyStoreError, match=r"no releases in .*empty\.duckdb yet"):
        weekly_report_markdown(empty)
    missing = tmp_path / "missing.duckdb"
    with pytest.raises(EmptyStoreError, match="no releases"):
        write_weekly_report(missing, tmp_path / "out")
    assert not missing.exists() and not (tmp_path / "out").exists()


def test_unknown_week_raises_naming_what_exists(week_store: Path) -> None:
    with pytest.raises(EmptyStoreError) as info:
        weekly_report_markdown(week_store, "2026-W30")
    assert "'2026-W30'" in str(info.value)
    assert "2026-W45, 2026-W46, 2026-W47" in str(info.value)
    assert isinstance(info.value, LookupError)
