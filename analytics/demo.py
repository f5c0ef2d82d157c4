"""``flockview up``: the embedded stack on one machine — broker, worker, simulated providers, dashboard.

Every part runs as its own process with its output in ``DATA_DIR/logs``; Ctrl-C (or SIGTERM, or the
end of ``--duration``) stops them in reverse order, with a kill after a grace period, so nothing is
left running.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from analytics.store import ReadOnlyStore
from ingest.config import config_environment
from ingest.devtools.broker import EmbeddedBroker, free_port, terminate, wait_for_port
from ingest.devtools.simulate import demo_providers, provider_credentials, registry_toml
from ingest.errors import FlockviewError
from ingest.sdk.admin import ensure_topics

Echo = Callable[[str], None]


class StackError(FlockviewError, RuntimeError):
    """A part of the demo stack failed to start or died."""


def dashboard_command(
    settings_env: Mapping[str, str], port: int, address: str = "127.0.0.1"
) -> tuple[list[str], dict[str, str]]:
    """The argv and environment that serve the Streamlit dashboard on ``address:port``.

    Args:
        settings_env: The dashboard's settings as ``FLOCKVIEW_DASHBOARD_*`` variables (its
            ``as_environment()``); variables beat the config file, so the app resolves exactly these.
        port: The port to serve on.
        address: The address to listen on.
    """
    spec = importlib.util.find_spec("dashboard")  # locate, not import: the dashboard is its own process
    if spec is None or spec.origin is None:
        raise StackError("the 'dashboard' package is not installed")
    app_path = Path(spec.origin).parent / "app.py"
    argv = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(app_path),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
    ]
    env = {**os.environ, **config_environment(), **settings_env}
    return argv, env


@dataclass(frozen=True)
class DemoConfig:
    data_dir: Path = Path("flockview-demo")
    window_seconds: float = 10.0
    lateness_seconds: float = 2.0
    rate: float = 300.0
    dashboard_port: int = 8501
    metrics_port: int = 9464  # the worker's Prometheus endpoint; a free port if this one is taken
    campaign: str | None = "cbrn-bio-lrl"
    seed: int = 7
    # Demo windows are seconds long, yet each stands for a user-week; a year of them would pass the
    # real yearly cap (rho 1.0) within minutes, so the demo raises it and says so.
    rho_year: float = 1000.0

    @property
    def store(self) -> Path:
        return self.data_dir / "flockview.duckdb"

    @property
    def reports(self) -> Path:
        return self.data_dir / "reports"


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path


@dataclass
class Stack:
    config: DemoConfig
    echo: Echo
    broker: EmbeddedBroker | None = None
    children: list[_Child] = field(default_factory=list)
    metrics_port: int = 0  # where the worker serves its operational metrics, once started

    @property
    def logs(self) -> Path:
        return self.config.data_dir / "logs"

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        self.children.append(_Child(name, proc, log))

    def start(self) -> None:
        cfg = self.config
        self.logs.mkdir(parents=True, exist_ok=True)
        self.broker = EmbeddedBroker(log_path=self.logs / "broker.log").start()
        bootstrap = self.broker.bootstrap_servers
        ensure_topics(bootstrap)
        providers = demo_providers()
        registry = cfg.data_dir / "providers.toml"
        registry.write_text(registry_toml(provider_credentials([p.name for p in providers], seed=cfg.seed)))
        cli = [sys.executable, "-m", "analytics.cli"]
        worker_dir = cfg.data_dir / "worker"
        self.metrics_port = cfg.metrics_port if _port_free(cfg.metrics_port) else free_port()
        # Options the demo types win over the environment and any flockview.toml (the demo's own
        # data stays in DATA_DIR); settings it does not type come from them as for any worker.
        self._spawn(
            "worker",
            [
                *cli,
                "worker",
                "--bootstrap-servers",
                bootstrap,
                "--store",
                str(cfg.store),
                "--registry",
                str(registry),
                "--window-seconds",
                str(cfg.window_seconds),
                "--lateness-seconds",
                str(cfg.lateness_seconds),
                "--rho-year",
                str(cfg.rho_year),
                "--app-id",
                "flockview-demo-worker",
                "--datadir",
                str(worker_dir),
                "--state-dir",
                str(worker_dir / "state"),
                "--reports-dir",
                str(cfg.reports),
                "--metrics-address",
                "127.0.0.1",
                "--metrics-port",
                str(self.metrics_port),
            ],
        )
        campaign = ["--campaign", cfg.campaign] if cfg.campaign else []
        self._spawn(
            "simulator",
            [
                *cli,
                "simulate",
                "--bootstrap-servers",
                bootstrap,
                "--rate",
                str(cfg.rate),
                "--seed",
                str(cfg.seed),
                "--bad-events",
                "0.002",
                *campaign,
            ],
        )
        dashboard_env = {
            "FLOCKVIEW_DASHBOARD_STORE": str(cfg.store),
            "FLOCKVIEW_DASHBOARD_REPORTS_DIR": str(cfg.reports),
            "FLOCKVIEW_DASHBOARD_PORT": str(cfg.dashboard_port),
        }
        argv, env = dashboard_command(dashboard_env, cfg.dashboard_port)
        self._spawn("dashboard", argv, env)
        wait_for_port(cfg.dashboard_port, timeout=60, proc=self.children[-1].proc)

    def check(self) -> None:
        for child in self.children:
            code = child.proc.poll()
            if code is not None:
                raise StackError(f"the {child.name} exited with code {code}; see {child.log}")

    def stop(self, grace: float = 15.0) -> None:
        """Stop children newest first (SIGTERM, then SIGKILL after ``grace``), then the broker."""
        for child in reversed(self.children):
            if not terminate(child.proc, grace):
                self.echo(f"{child.name} did not stop within {grace:.0f} s; killed it")
        if self.broker is not None:
            self.broker.stop()


def _status(store: Path) -> str:
    try:
        releases = ReadOnlyStore(store).releases()
    except FlockviewError:
        return "store busy"
    if releases.empty:
        return "no window released yet"
    windows = releases["window_start"].nunique()
    return f"{windows} window(s) released, latest {releases['window_start'].max():%H:%M:%S} UTC"


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def run_up(config: DemoConfig, echo: Echo, duration: float | None = None, status_every: float = 15.0) -> None:
    """Start the stack, print where to look, and keep it up until Ctrl-C, SIGTERM or ``duration``."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(config, echo)
    stopping = False

    def on_term(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        echo("starting the embedded broker, a worker, the simulated providers and the dashboard…")
        stack.start()
        echo(
            f"Flockview is up.\n  dashboard:  http://127.0.0.1:{config.dashboard_port}\n"
            f"  broker:     {stack.broker.bootstrap_servers if stack.broker else '?'} (memory storage)\n"
            f"  store:      {config.store}\n  logs:       {stack.logs}\n"
            f"  metrics:    http://127.0.0.1:{stack.metrics_port}/metrics (the worker's exact operational "
            "totals, for operators only; never in the store)\n"
            f"  windows:    {config.window_seconds:g} s (each stands in for a week)\n"
            "Press Ctrl-C to stop everything."
        )
        deadline = time.monotonic() + duration if duration else None
        next_status = time.monotonic() + status_every
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.5)
            stack.check()
            if time.monotonic() >= next_status:
                echo(f"[{time.strftime('%H:%M:%S')}] {_status(config.store)}")
                next_status += status_every
    except KeyboardInterrupt:
        stopping = True
    finally:
        echo("stopping…" if stopping or duration else "stopping after an error…")
        stack.stop()
        signal.signal(signal.SIGTERM, previous)
        echo("all stopped.")
