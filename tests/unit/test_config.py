"""One configuration story: explicit value > FLOCKVIEW_<TABLE>_* variable > flockview.toml > default.

Every component's settings class is checked the same way: the precedence, how the file is found,
the one-line errors that name the file, table and key (or the variable), and the documented
example file, whose every key must be a real setting at its real default.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from analytics.settings import ReportSettings, WorkerSettings
from dashboard.settings import DashboardSettings
from ingest.config import (
    CONFIG_ENV,
    DATA_DIR,
    DEFAULT_REPORTS_DIR,
    DEFAULT_STORE,
    TABLES,
    FlockviewSettings,
    SettingsError,
    config_environment,
    find_config_file,
    use_config_file,
)
from ingest.errors import ConfigError
from ingest.sdk.settings import SDKSettings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "flockview.example.toml"
ALL: list[type[FlockviewSettings]] = [SDKSettings, WorkerSettings, DashboardSettings, ReportSettings]

# (settings class, key, value in the file, value in the environment, explicit value); parsed values compare equal.
CASES: list[tuple[type[FlockviewSettings], str, Any, str, Any]] = [
    (SDKSettings, "bootstrap_servers", "file:9092", "env:9092", "arg:9092"),
    (SDKSettings, "batch_events", 10, "20", 30),
    (WorkerSettings, "store", "file.duckdb", "env.duckdb", Path("arg.duckdb")),
    (WorkerSettings, "rho_week", 0.1, "0.2", 0.3),
    (WorkerSettings, "decode_process", False, "true", False),
    (DashboardSettings, "store", "file.duckdb", "env.duckdb", Path("arg.duckdb")),
    (DashboardSettings, "reports_dir", "file-reports", "env-reports", Path("arg-reports")),
    (ReportSettings, "store", "file.duckdb", "env.duckdb", Path("arg.duckdb")),
    (ReportSettings, "formats", ["pdf"], "md,html", ["html"]),
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No FLOCKVIEW_* variable from the caller's shell, and a working directory with no flockview.toml."""
    for name in list(os.environ):
        if name.upper().startswith("FLOCKVIEW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return str(value)


def parsed(cls: type[FlockviewSettings], key: str, value: Any) -> Any:
    return getattr(cls(**{key: value}), key)


@pytest.mark.parametrize(
    ("cls", "key", "in_file", "in_env", "explicit"), CASES, ids=lambda v: getattr(v, "__name__", None)
)
def test_precedence(
    cls: type[FlockviewSettings], key: str, in_file: Any, in_env: str, explicit: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = cls.model_fields[key].get_default(call_default_factory=True)
    assert getattr(cls(), key) == default
    write(Path("flockview.toml"), f"[{cls.table()}]\n{key} = {toml_value(in_file)}\n")
    assert getattr(cls(), key) == parsed(cls, key, in_file) != default  # the file beats the default
    monkeypatch.setenv(cls.env_name(key), in_env)
    assert getattr(cls(), key) == parsed(cls, key, in_env) != parsed(cls, key, in_file)  # the variable beats the file
    assert getattr(cls(**{key: explicit}), key) == explicit  # an explicit value beats both


def test_variable_names_follow_the_table() -> None:
    assert [cls.table() for cls in ALL] == list(TABLES)
    assert WorkerSettings.env_name("store") == "FLOCKVIEW_WORKER_STORE"
    assert DashboardSettings.env_name("store") == "FLOCKVIEW_DASHBOARD_STORE"
    assert ReportSettings.env_name("formats") == "FLOCKVIEW_REPORT_FORMATS"
    assert SDKSettings.env_name("bootstrap_servers") == "FLOCKVIEW_SDK_BOOTSTRAP_SERVERS"


def test_the_default_store_and_data_dir_are_defined_once() -> None:
    assert WorkerSettings().store == DashboardSettings().store == ReportSettings().store == DEFAULT_STORE
    assert WorkerSettings().datadir.parent == DEFAULT_STORE.parent == DATA_DIR
    assert DashboardSettings().reports_dir == ReportSettings().reports_dir == DEFAULT_REPORTS_DIR


def test_a_table_only_feeds_its_own_component() -> None:
    write(Path("flockview.toml"), '[worker]\nstore = "worker.duckdb"\n')
    assert WorkerSettings().store == Path("worker.duckdb")
    assert DashboardSettings().store == ReportSettings().store == DEFAULT_STORE


# -- finding the file ---------------------------------------------------------------------------


def test_no_file_means_defaults() -> None:
    assert find_config_file() is None and config_environment() == {}
    assert WorkerSettings().rho_week == 0.02


def test_config_option_beats_the_variable_which_beats_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(Path("flockview.toml"), "[worker]\nrho_week = 0.1\n")
    assert WorkerSettings().rho_week == 0.1
    found = find_config_file()
    assert found is not None and found.found_by == "the working directory"
    named = write(tmp_path / "named.toml", "[worker]\nrho_week = 0.2\n")
    monkeypatch.setenv(CONFIG_ENV, str(named))
    assert WorkerSettings().rho_week == 0.2
    chosen = write(tmp_path / "chosen.toml", "[worker]\nrho_week = 0.3\n")
    with use_config_file(chosen):
        assert WorkerSettings().rho_week == 0.3
        assert config_environment() == {CONFIG_ENV: str(chosen.resolve())}
    assert WorkerSettings().rho_week == 0.2  # --config ends with the command


def test_a_named_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with (
        use_config_file(tmp_path / "missing.toml"),
        pytest.raises(ConfigError, match=r"missing.toml \(from --config\)"),
    ):
        WorkerSettings()
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=rf"gone.toml \(from {CONFIG_ENV}\) does not exist"):
        DashboardSettings()


def test_a_file_without_the_table_leaves_the_component_alone() -> None:
    write(Path("flockview.toml"), "[dashboard]\nport = 9000\n")
    assert WorkerSettings().store == DEFAULT_STORE
    assert DashboardSettings().port == 9000


# -- errors: one line naming where the bad value is ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[worker\nstore = 1\n", r"flockview.toml: not valid TOML: .*line 1"),
        (
            "[wokrer]\nstore = 'x'\n",
            r"flockview.toml: unknown table \[wokrer\] \(did you mean worker\?\); accepted: \[sdk\]",
        ),
        ("worker = 3\n", r"flockview.toml: worker must be a table"),
        (
            "[worker]\nrho_wek = 1.0\n",
            r"flockview.toml, table \[worker\]: unknown key 'rho_wek' \(did you mean rho_week\?\)",
        ),
        (
            "[worker]\nrho_week = 'lots'\n",
            r"worker settings: rho_week \(from flockview.toml, table \[worker\]\): Input should be a valid number.*'lots'",
        ),
        (
            "[worker]\nbatch_size = 0\n",
            r"batch_size \(from flockview.toml, table \[worker\]\): .*greater than or equal to 1",
        ),
    ],
)
def test_a_bad_file_is_one_error_naming_file_table_and_key(text: str, message: str) -> None:
    write(Path("flockview.toml"), text)
    with pytest.raises(ConfigError, match=message) as caught:
        WorkerSettings()
    assert "\n" not in str(caught.value)


def test_a_bad_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    write(Path("flockview.toml"), "[dashboard]\nrefresh_seconds = 10\n")
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_REFRESH_SECONDS", "0")
    with pytest.raises(SettingsError, match=r"refresh_seconds \(from FLOCKVIEW_DASHBOARD_REFRESH_SECONDS\)"):
        DashboardSettings()


def test_an_unknown_variable_is_refused_not_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOCKVIEW_DASHBOARD_STOR", "x.duckdb")
    with pytest.raises(ConfigError, match=r"FLOCKVIEW_DASHBOARD_STOR names no dashboard setting.*STORE\?"):
        DashboardSettings()
    WorkerSettings()  # another component's prefix is none of the worker's business


def test_explicit_values_are_named_and_unknown_ones_refused() -> None:
    with pytest.raises(SettingsError, match=r"report settings: formats: Input should be 'html', 'pdf' or 'md'"):
        ReportSettings(formats="html,docx")
    with pytest.raises(SettingsError, match=r"no_such: no such sdk setting"):
        SDKSettings(no_such=1)
    error = SettingsError("worker", [])
    assert str(error) == "worker settings: "


def test_secrets_are_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SDKSettings.is_secret("signing_key") and not SDKSettings.is_secret("credentials")
    write(Path("flockview.toml"), "[sdk]\npseudonym_key = 12345\n")
    with pytest.raises(SettingsError) as caught:
        SDKSettings()
    assert "pseudonym_key (from flockview.toml, table [sdk])" in str(caught.value) and "12345" not in str(caught.value)


def test_report_formats_take_lists_and_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ReportSettings(formats=["HTML,pdf", "markdown"]).formats == ["html", "pdf", "md"]
    monkeypatch.setenv("FLOCKVIEW_REPORT_FORMATS", "pdf, md")
    assert ReportSettings().formats == ["pdf", "md"]


def test_as_environment_hands_a_child_the_same_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    write(Path("flockview.toml"), "[dashboard]\nrefresh_seconds = 7\nrequire_login = true\n")
    parent = DashboardSettings(store=Path("given.duckdb"))
    env = parent.as_environment()
    assert env["FLOCKVIEW_DASHBOARD_STORE"] == "given.duckdb" and env["FLOCKVIEW_DASHBOARD_REQUIRE_LOGIN"] == "true"
    assert "FLOCKVIEW_DASHBOARD_AUTH_PROVIDER" not in env  # unset stays unset
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert DashboardSettings() == parent
    assert ReportSettings(formats=["pdf", "md"]).as_environment()["FLOCKVIEW_REPORT_FORMATS"] == "pdf,md"


# -- the documented example and the descriptions --------------------------------------------------


def test_the_example_file_loads_and_every_key_is_a_real_setting_at_its_default() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    assert list(data) == list(TABLES)
    with use_config_file(EXAMPLE):
        for cls in ALL:
            loaded, defaults = cls(), cls.model_construct()
            for key in data[cls.table()]:
                assert key in cls.model_fields, f"[{cls.table()}] {key} is not a setting"
                assert getattr(loaded, key) == getattr(defaults, key), f"[{cls.table()}] {key} is not the default"


def test_the_example_files_commented_keys_are_real_settings() -> None:
    table = ""
    for line in EXAMPLE.read_text().splitlines():
        if heading := re.match(r"\[(\w+)\]", line):
            table = heading.group(1)
        elif commented := re.match(r"# (\w+) = ", line):
            cls = next(c for c in ALL if c.table() == table)
            assert commented.group(1) in cls.model_fields, f"[{table}] {commented.group(1)} is not a setting"


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_every_setting_is_described_and_promises_only_real_sources(cls: type[FlockviewSettings]) -> None:
    real = {c.env_name(f) for c in ALL for f in c.model_fields} | {CONFIG_ENV}
    for name, field in cls.model_fields.items():
        assert field.description, f"{cls.__name__}.{name} has no description (it is its --help)"
        for variable in re.findall(r"\bFLOCKVIEW_[A-Z_]+", field.description):
            assert variable in real, f"{cls.__name__}.{name} names {variable}, which no setting reads"
        for table in re.findall(r"\[(\w+)\] (?:table|in flockview)", field.description):
            assert table in TABLES
