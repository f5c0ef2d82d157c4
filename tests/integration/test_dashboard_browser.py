"""The real dashboard in a real browser: `streamlit run` on a free port, driven by Playwright in Chromium.

Uses Debian's chromium (``bash deploy/system-deps.sh`` installs it); Playwright's own browser download
is never used. Screenshots of every view land in ``test-artifacts/dashboard/``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.families import ReportFamily

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
]
# url path -> the page title every view draws
VIEWS = {
    "overview": "Flagged events by danger domain",
    "explore": "Explore released reports",
    "techniques": "Jailbreak techniques",
    "jurisdictions": "Jurisdictions",
    "surfaces": "Open weights vs hosted",
    "escalations": "Escalations",
    "alerts": "Alerts",
    "budget": "Privacy budget",
    "health": "Data health",
}
HOT = {
    "cbrn.bio",
    "fraud.phishing",
    "DE",
    "US",
    "EU",
    "roleplay",
    "open_weights_host",
    "api",
    "warn",
    "rate_limit",
    "suspend_ban",
}
ERROR_TEXT = ("Traceback", "Cannot read the store", "Invalid FLOCKVIEW_DASHBOARD_", "Page not found")


def _counts(family: ReportFamily, i: int) -> list[int]:
    # Thousands in every cell made only of "hot" keys, zero elsewhere: clear patterns and clear zeros.
    return [2000 + 500 * i if set(key) <= HOT else 0 for key in family.keys]


@pytest.fixture(scope="module")
def populated_store(tmp_path_factory: pytest.TempPathFactory, store_populator) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path_factory.mktemp("browser") / "flockview.duckdb"
    store_populator(path, timedelta(days=7), datetime(2026, 10, 28, tzinfo=UTC), _counts).release(4)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"streamlit did not answer on {url} within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def dashboard_url(populated_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    log = tmp_path_factory.mktemp("streamlit") / "streamlit.log"
    env = {
        **os.environ,
        "FLOCKVIEW_DASHBOARD_STORE": str(populated_store),
        "FLOCKVIEW_DASHBOARD_REFRESH_SECONDS": "3600",
    }
    command = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(ROOT / "dashboard" / "app.py"),
        "--server.headless=true",
        f"--server.port={port}",
        "--server.address=127.0.0.1",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
    ]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `bash deploy/system-deps.sh` (it installs Debian's chromium); "
            "Playwright's own browser download is not used"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


SETTLED = """() => {
    if (document.querySelector('[data-testid="stStatusWidget"]')) return false;
    if (document.querySelector('[data-testid="stSkeleton"]')) return false;
    if (document.querySelector('[data-stale="true"]')) return false;
    const charts = [...document.querySelectorAll('[data-testid="stVegaLiteChart"]')];
    return charts.every(c => c.querySelector('canvas, svg'));
}"""


def _settle(page: object, title: str) -> None:
    """Wait for the view's title, then for Streamlit to finish the script and every chart to be drawn."""
    page.get_by_role("heading", name=title).first.wait_for(timeout=60_000)  # type: ignore[attr-defined]
    page.wait_for_function(SETTLED, timeout=90_000)  # type: ignore[attr-defined]
    page.wait_for_timeout(1000)  # type: ignore[attr-defined]  # let vega-embed finish its first paint
    page.wait_for_function(SETTLED, timeout=90_000)  # type: ignore[attr-defined]


@pytest.mark.parametrize("view", list(VIEWS))
def test_every_view_renders_in_chromium_without_errors(browser: object, dashboard_url: str, view: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page = context.new_page()
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    try:
        # The default page (overview) lives at the root; its url_path does not address it.
        path = "" if view == "overview" else view
        page.goto(f"{dashboard_url}/{path}", wait_until="domcontentloaded", timeout=60_000)
        _settle(page, VIEWS[view])
        page.screenshot(path=str(ARTIFACTS / f"{view}.png"), full_page=True)
        exceptions = page.locator('[data-testid="stException"]')
        assert exceptions.count() == 0, exceptions.first.inner_text()
        body = page.locator("body").inner_text()
        assert not [t for t in ERROR_TEXT if t in body], body[:2000]
        assert "No released data yet" not in body
        assert not console_errors, console_errors
        if view not in {"budget", "health", "alerts"}:
            assert page.locator('[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg').count()
        assert "No authentication" in page.locator('[data-testid="stSidebar"]').inner_text()
    finally:
        context.close()


def test_navigation_lists_every_view(browser: object, dashboard_url: str) -> None:
    context = browser.new_context()  # type: ignore[attr-defined]
    page = context.new_page()
    try:
        page.goto(dashboard_url, wait_until="domcontentloaded", timeout=60_000)
        _settle(page, VIEWS["overview"])
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        for name in (
            "Overview",
            "Explore",
            "Jailbreak techniques",
            "Jurisdictions",
            "Open weights vs hosted",
            "Escalations",
            "Alerts",
            "Privacy budget",
            "Data health",
        ):
            assert name in nav
        page.get_by_role("link", name="Privacy budget").click()
        _settle(page, VIEWS["budget"])
        assert page.url.endswith("/budget")
    finally:
        context.close()
