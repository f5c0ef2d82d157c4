"""The CLI's options are the settings' own fields: an option's default never beats the environment or the file.

Each command that takes settings is run through typer's CliRunner with its last step replaced (no
Streamlit, no Faust, no broker), so what is checked is exactly which store, caps or servers the
command would have used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import analytics.stream
from analytics.cli import app
from analytics.settings import ReportSettings, WorkerSettings
from dashboard.settings import DashboardSettings
from ingest.cli import EMIT_SETTINGS
from ingest.config import DEFAULT_STORE, FlockviewSettings
from ingest.contract.keys import ProviderKeys
from ingest.sdk import client as client_module
from ingest.sdk.settings import SDKSettings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FLOCKVIEW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def run(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env=env)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """What `flockview dashboard` would exec: its argv and environment."""
    seen: dict[str, Any] = {}

    def fake_exec(file: str, argv: list[str], env: dict[str, str]) -> None:
        seen.update(argv=argv, env=env)

    monkeypatch.setattr(os, "execvpe", fake_exec)
    return seen


def test_dashboard_env_beats_the_option_default(served: dict[str, Any]) -> None:
    result = run("dashboard", env={"FLOCKVIEW_DASHBOARD_STORE": "/data/env.duckdb"})
    assert result.exit_code == 0, result.output
    assert "reading /data/env.duckdb" in result.output
    assert served["env"]["FLOCKVIEW_DASHBOARD_STORE"] == "/data/env.duckdb"


def test_dashboard_typed_option_beats_env_and_file(served: dict[str, Any]) -> None:
    Path("flockview.toml").write_text('[dashboard]\nstore = "file.duckdb"\nport = 9100\n')
    result = run("dashboard", "--store", "typed.duckdb", env={"FLOCKVIEW_DASHBOARD_STORE": "env.duckdb"})
    assert result.exit_code == 0, result.output
    assert "on http://127.0.0.1:9100 reading typed.duckdb" in result.output
    assert served["env"]["FLOCKVIEW_DASHBOARD_STORE"] == "typed.duckdb"  # the app resolves the same store
    assert served["argv"][served["argv"].index("--server.port") + 1] == "9100"


def test_dashboard_passes_the_config_file_to_its_app(served: dict[str, Any], tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.toml"
    config.write_text('[dashboard]\nreports_dir = "weekly"\nrefresh_seconds = 60\n')
    result = run("dashboard", "--config", str(config))
    assert result.exit_code == 0, result.output
    env = served["env"]
    assert env["FLOCKVIEW_CONFIG"] == str(config.resolve())
    assert env["FLOCKVIEW_DASHBOARD_REFRESH_SECONDS"] == "60" and env["FLOCKVIEW_DASHBOARD_REPORTS_DIR"] == "weekly"
    assert "reading flockview-data/flockview.duckdb" in result.output


@pytest.fixture
def worker_settings(monkeypatch: pytest.MonkeyPatch) -> list[WorkerSettings]:
    seen: list[WorkerSettings] = []
    monkeypatch.setattr(analytics.stream, "run_worker", seen.append)
    return seen


def test_worker_env_and_file_beat_defaults_typed_options_beat_both(worker_settings: list[WorkerSettings]) -> None:
    Path("flockview.toml").write_text('[worker]\nrho_week = 0.05\nstore = "file.duckdb"\napp_id = "from-file"\n')
    env = {"FLOCKVIEW_WORKER_STORE": "env.duckdb", "FLOCKVIEW_WORKER_DECODE_PROCESS": "false"}
    result = run("worker", "--app-id", "typed", "--batch-size", "7", env=env)
    assert result.exit_code == 0, result.output
    (settings,) = worker_settings
    assert settings.app_id == "typed" and settings.batch_size == 7  # typed
    assert settings.store == Path("env.duckdb") and settings.decode_process is False  # environment
    assert settings.rho_week == 0.05  # file
    assert settings.registry == Path("providers.toml")  # default


def test_worker_bool_option_beats_env(worker_settings: list[WorkerSettings]) -> None:
    result = run("worker", "--decode-process", env={"FLOCKVIEW_WORKER_DECODE_PROCESS": "0"})
    assert result.exit_code == 0, result.output
    assert worker_settings[0].decode_process is True


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--batch-size", "0"], {}, "error: worker settings: --batch-size: Input should be greater than or equal to 1"),
        ([], {"FLOCKVIEW_WORKER_RHO_YEAR": "-1"}, "rho_year (from FLOCKVIEW_WORKER_RHO_YEAR): Input should be greater"),
        ([], {"FLOCKVIEW_WORKER_RHO_YAER": "1"}, "FLOCKVIEW_WORKER_RHO_YAER names no worker setting"),
        (["--config", "missing.toml"], {}, "error: config file missing.toml (from --config) does not exist"),
        (["--log-level", "loud"], {}, "Invalid value for '--log-level'"),
    ],
)
def test_worker_setting_errors_are_one_line(
    worker_settings: list[WorkerSettings], args: list[str], env: dict[str, str], message: str
) -> None:
    result = run("worker", *args, env=env)
    assert result.exit_code != 0 and not worker_settings
    assert message in result.output and "Traceback" not in result.output


def test_a_bad_file_is_one_line_naming_file_table_and_key(worker_settings: list[WorkerSettings]) -> None:
    Path("flockview.toml").write_text("[worker]\nbatch_sise = 7\n")
    result = run("worker")
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "error: flockview.toml, table [worker]: unknown key 'batch_sise' (did you mean batch_size?); "
        "see docs/flockview.example.toml"
    ]


def test_budget_reads_the_workers_store_and_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    import analytics.privacy.ledger as ledger

    calls: list[tuple[Path, Any]] = []
    monkeypatch.setattr(ledger, "budget_summary", lambda store, policy: calls.append((store, policy)) or "summary")
    Path("flockview.toml").write_text("[worker]\nrho_year = 1000.0\n")
    result = run("budget", env={"FLOCKVIEW_WORKER_STORE": "env.duckdb"})
    assert result.exit_code == 0, result.output
    assert result.output == "summary\n"
    store, policy = calls[-1]
    assert store == Path("env.duckdb") and policy.rho_year.rho == 1000.0 and policy.rho_week.rho == 0.02
    run("budget", "--store", "typed.duckdb", "--rho-week", "0.5", env={"FLOCKVIEW_WORKER_STORE": "env.duckdb"})
    store, policy = calls[-1]
    assert store == Path("typed.duckdb") and policy.rho_week.rho == 0.5


def test_report_env_beats_the_option_default_and_typed_beats_env(tmp_path: Path) -> None:
    result = run("report", "weekly", env={"FLOCKVIEW_REPORT_STORE": str(tmp_path / "env.duckdb")})
    assert result.exit_code == 1
    assert str(tmp_path / "env.duckdb") in result.output and str(DEFAULT_STORE) not in result.output
    env = {"FLOCKVIEW_REPORT_STORE": str(tmp_path / "env.duckdb")}
    result = run("report", "weekly", "--store", str(tmp_path / "typed.duckdb"), env=env)
    assert str(tmp_path / "typed.duckdb") in result.output and "env.duckdb" not in result.output


@pytest.fixture
def credentials(tmp_path: Path) -> Path:
    path = tmp_path / "acme.credentials.toml"
    ProviderKeys.generate("acme-ai").write(path)
    return path


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[SDKSettings]:
    """The settings of each Client that `flockview emit` creates (records stay in memory)."""
    seen: list[SDKSettings] = []

    class Recording(client_module.Client):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            seen.append(self.settings)

    monkeypatch.setattr(client_module, "Client", Recording)
    return seen


def test_emit_honours_sdk_variables_and_typed_options_beat_them(
    clients: list[SDKSettings], credentials: Path, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("")
    env = {
        "FLOCKVIEW_SDK_CREDENTIALS": str(credentials),
        "FLOCKVIEW_SDK_BOOTSTRAP_SERVERS": "env-broker:9092",
        "FLOCKVIEW_SDK_SEND": "false",
        "FLOCKVIEW_SDK_BATCH_EVENTS": "5",
    }
    result = run("emit", str(events), env=env)
    assert result.exit_code == 0, result.output
    assert clients[-1].bootstrap_servers == "env-broker:9092" and clients[-1].batch_events == 5
    assert clients[-1].credentials == credentials and clients[-1].on_full == "block"
    result = run("emit", str(events), "--bootstrap-servers", "typed:9092", env=env)
    assert result.exit_code == 0, result.output
    assert clients[-1].bootstrap_servers == "typed:9092"


def test_emit_without_credentials_says_where_they_can_come_from(tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("")
    result = run("emit", str(events))
    assert result.exit_code == 1
    assert result.output.startswith("error: no provider credentials: give --credentials FILE")


def test_emit_refuses_a_provider_that_is_not_the_credentials_one(credentials: Path, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text("")
    result = run("emit", str(events), "--credentials", str(credentials), "--provider", "other")
    assert result.exit_code == 1 and "does not match the credentials file's provider 'acme-ai'" in result.output


# -- --help lists the derived options with the settings' own descriptions ------------------------

COMMANDS: list[tuple[list[str], type[FlockviewSettings], list[str] | None]] = [
    (["worker"], WorkerSettings, None),
    (["dashboard"], DashboardSettings, None),
    (["report", "weekly"], ReportSettings, None),
    (["budget"], WorkerSettings, ["store", "rho_week", "rho_year"]),
    (["emit"], SDKSettings, EMIT_SETTINGS),
    (["simulate"], SDKSettings, ["bootstrap_servers"]),
]
FLAGS = {("report", "reports_dir"): "--out", ("report", "formats"): "--format"}


def squeezed(text: str) -> str:
    """Help text without whitespace: click wraps lines at spaces and hyphens."""
    return "".join(text.split())


@pytest.mark.parametrize(("command", "cls", "only"), COMMANDS, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_help_lists_each_setting_with_its_description_variable_and_default(
    command: list[str], cls: type[FlockviewSettings], only: list[str] | None
) -> None:
    result = run(*command, "--help")
    assert result.exit_code == 0, result.output
    text = squeezed(result.output)
    assert "--config" in text and squeezed(f"[{cls.table()}] table of flockview.toml") in text
    for name in only or cls.model_fields:
        if cls.is_secret(name):
            assert f"--{name.replace('_', '-')}" not in text  # secrets are never options
            continue
        field = cls.model_fields[name]
        flag = FLAGS.get((cls.table(), name), f"--{name.replace('_', '-')}")
        assert flag in text, f"{' '.join(command)} --help lacks {flag}"
        assert squeezed(f"{field.description} [env var: {cls.env_name(name)}") in text


def test_help_text_is_shown_literally() -> None:
    result = run("keys", "new-provider", "--help")
    assert "[providers.NAME]" in result.output
