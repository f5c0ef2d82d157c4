"""`flockview up`, the README's main job, run for real: everything starts, releases land, everything stops."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from analytics.store import ReadOnlyStore
from ingest.devtools.broker import free_port

pytestmark = pytest.mark.integration


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_runs_the_stack_and_leaves_nothing_running(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "analytics.cli",
            "up",
            "--data-dir",
            str(tmp_path),
            "--port",
            str(port),
            "--window-seconds",
            "5",
            "--duration",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if "Press Ctrl-C" in line:
            break
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=10) as response:
        assert response.read() == b"ok"
    # The worker's operational metrics: printed, served on loopback to operators, never in the store.
    metrics = re.search(r"metrics:\s+(http://127\.0\.0\.1:(\d+)/metrics)", "".join(lines))
    assert metrics, "".join(lines)
    for _ in range(40):  # the worker starts its endpoint once it has loaded its settings and families
        try:
            with urllib.request.urlopen(metrics.group(1), timeout=5) as response:
                assert "flockview_events_in_total" in response.read().decode()
            break
        except OSError:
            time.sleep(0.5)
    else:
        raise AssertionError(f"nothing serves {metrics.group(1)}")
    output = "".join(lines) + proc.stdout.read()
    assert proc.wait(timeout=120) == 0, output
    assert "all stopped." in output
    broker_port = int(re.search(r"broker:\s+127\.0\.0\.1:(\d+)", output).group(1))  # type: ignore[union-attr]
    time.sleep(0.5)
    assert not listening(port) and not listening(broker_port) and not listening(int(metrics.group(2)))
    assert "health" not in ReadOnlyStore(tmp_path / "flockview.duckdb").tables()
    releases = ReadOnlyStore(tmp_path / "flockview.duckdb").releases()
    assert releases["window_start"].nunique() >= 2
    worker_log = (tmp_path / "logs" / "worker.log").read_text()
    assert "Traceback" not in worker_log and "released events_by_category" in worker_log
    reports = sorted((tmp_path / "reports").glob("*.html"))  # the worker writes one per released window
    assert reports, worker_log[-3000:]
    assert "Flockview weekly policy report" in reports[0].read_text()
