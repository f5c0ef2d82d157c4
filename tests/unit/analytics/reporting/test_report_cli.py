"""``flockview report weekly``, the worker's automatic generation hook, and the dashboard's reports page."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from analytics.cli import app
from analytics.families import ReportFamily
from analytics.reporting import generate_if_week_released
from analytics.store import Store
from analytics.windows import Window

WEEK = timedelta(days=7)


def _counts(family: ReportFamily, i: int) -> list[int]:
    return [2000 + 500 * i if key[0] == "cbrn.bio" else 0 for key in family.keys]


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory, store_populator) -> tuple[Path, list[Window]]:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("cli") / "flockview.duckdb"
    windows = store_populator(path, WEEK, datetime(2026, 11, 9, tzinfo=UTC), _counts).release(2)
    assert [w.label() for w in windows] == ["2026-W46", "2026-W47"]
    return path, windows


def test_cli_writes_html_and_markdown_by_default(released: tuple[Path, list[Window]], tmp_path: Path) -> None:
    store, _ = released
    result = CliRunner().invoke(app, ["report", "weekly", "--store", str(store), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"html report written to {tmp_path / 'flockview-report-2026-W47.html'}",
        f"md report written to {tmp_path / 'flockview-report-2026-W47.md'}",
    ]
    result = CliRunner().invoke(
        app, ["report", "weekly", "--store", str(store), "--out", str(tmp_path), "--week", "2026-W46", "--format", "md"]
    )
    assert result.exit_code == 0 and (tmp_path / "flockview-report-2026-W46.md").is_file()
    assert not (tmp_path / "flockview-report-2026-W46.html").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--format", "html,docx"],
            "error: report settings: --format: Input should be 'html', 'pdf' or 'md', got 'docx'",
        ),
        (["--week", "2026-W01"], "error: no released window labelled '2026-W01'"),
    ],
)
def test_cli_errors_are_one_line(
    released: tuple[Path, list[Window]], tmp_path: Path, args: list[str], message: str
) -> None:
    store, _ = released
    result = CliRunner().invoke(app, ["report", "weekly", "--store", str(store), "--out", str(tmp_path), *args])
    assert result.exit_code == 1
    assert result.output.startswith(message) and len(result.output.strip().splitlines()) == 1


def test_cli_on_an_empty_store(tmp_path: Path) -> None:
    Store(tmp_path / "empty.duckdb")
    result = CliRunner().invoke(app, ["report", "weekly", "--store", str(tmp_path / "empty.duckdb")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: no releases in {tmp_path / 'empty.duckdb'} yet: start a worker (or `flockview up`) and wait "
        "for a window to close"
    ]


def test_auto_generation_writes_once(
    released: tuple[Path, list[Window]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, windows = released
    caplog.set_level(logging.INFO, logger="analytics.reporting.auto")
    written = generate_if_week_released(store, windows[0], tmp_path, ["md"])
    assert written == {"md": tmp_path / "flockview-report-2026-W46.md"}
    assert "report of window 2026-W46 written" in caplog.text
    before = written["md"].stat().st_mtime_ns
    assert generate_if_week_released(store, windows[0], tmp_path, ["md"]) == {}
    assert written["md"].stat().st_mtime_ns == before


def test_auto_generation_never_raises(
    released: tuple[Path, list[Window]], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, windows = released
    caplog.set_level(logging.INFO, logger="analytics.reporting.auto")
    unreleased = Window(windows[-1].end, windows[-1].end + WEEK)
    assert generate_if_week_released(store, unreleased, tmp_path) == {}
    assert "report of window 2026-W48 not written: no released window labelled '2026-W48'" in caplog.text
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert generate_if_week_released(store, windows[1], blocked) == {}
    assert "report of window 2026-W47 failed; the release itself is unaffected" in caplog.text
    assert generate_if_week_released(store, windows[1], tmp_path, ["docx"]) == {}
    assert generate_if_week_released(tmp_path / "missing.duckdb", windows[1], tmp_path) == {}


def _reports_page() -> None:
    from dashboard.views import reports

    reports.render()


def test_dashboard_lists_reports_with_downloads(
    released: tuple[Path, list[Window]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, windows = released
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_REPORTS_DIR", str(tmp_path))
    empty = AppTest.from_function(_reports_page, default_timeout=60).run()
    assert not empty.exception
    assert "No reports in" in empty.info[0].value
    for window in windows:
        generate_if_week_released(store, window, tmp_path, ["html", "md"])
    at = AppTest.from_function(_reports_page, default_timeout=60).run()
    assert not at.exception
    assert at.title[0].value == "Weekly policy reports"
    labels = [e.label for e in at.expander]
    assert [label.split(" · ")[0] for label in labels] == ["2026-W47", "2026-W46"] or sorted(
        label.split(" · ")[0] for label in labels
    ) == ["2026-W46", "2026-W47"]
    assert "PDF: not written" in [c.value for c in at.caption]
