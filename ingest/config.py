"""One configuration story: ``flockview.toml``, ``FLOCKVIEW_<TABLE>_*`` variables, and explicit values.

Every component reads its settings through one subclass of :class:`FlockviewSettings`, which takes
each setting from the first of these that has it:

1. an explicit value: a constructor argument, or a command-line option the user typed;
2. the environment variable ``FLOCKVIEW_<TABLE>_<SETTING>`` (``FLOCKVIEW_WORKER_STORE``, …);
3. the component's table of ``flockview.toml`` (``[sdk]``, ``[worker]``, ``[dashboard]``, ``[report]``);
4. the default, which suits a laptop.

The file is ``--config PATH`` (see :func:`use_config_file`), else ``$FLOCKVIEW_CONFIG``, else
``./flockview.toml`` if it exists; without one, only steps 1, 2 and 4 apply. Relative paths in it,
as in variables, are relative to the working directory. A file that is not TOML, an unknown table,
an unknown key or variable, or a bad value is one :class:`SettingsError` naming where it came from.

Only pydantic and pydantic-settings are imported here: the slim SDK uses this module too.
"""

from __future__ import annotations

import difflib
import os
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from pydantic import SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as _SourceError

from ingest.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "CONFIG_FILE",
    "DATA_DIR",
    "DEFAULT_REPORTS_DIR",
    "DEFAULT_STORE",
    "TABLES",
    "ConfigFile",
    "FlockviewSettings",
    "SettingsError",
    "config_environment",
    "find_config_file",
    "read_config",
    "table_config",
    "use_config_file",
]

CONFIG_ENV = "FLOCKVIEW_CONFIG"
CONFIG_FILE = Path("flockview.toml")
TABLES = ("sdk", "worker", "dashboard", "report")
DATA_DIR = Path("flockview-data")
"""Where a laptop's worker keeps its data, relative to the working directory."""
DEFAULT_STORE = DATA_DIR / "flockview.duckdb"
"""The one default store path: the worker writes it, the dashboard, report and budget read it."""
DEFAULT_REPORTS_DIR = Path("reports")
"""Where weekly reports are written and listed unless set: ``report weekly`` and the dashboard agree on it."""

_CHOSEN: ContextVar[Path | None] = ContextVar("flockview_config_file", default=None)


@dataclass(frozen=True)
class ConfigFile:
    """The configuration file in use and how it was found (``--config``, ``FLOCKVIEW_CONFIG`` or the cwd)."""

    path: Path
    found_by: str


@contextmanager
def use_config_file(path: Path | None) -> Iterator[None]:
    """Within the block, settings read ``path`` (the CLI's ``--config``) instead of discovering a file.

    ``None`` leaves discovery as it is. The choice is a context variable, so it ends with the block
    and never leaks into other commands run by the same process (as tests do).
    """
    token = _CHOSEN.set(path) if path is not None else None
    try:
        yield
    finally:
        if token is not None:
            _CHOSEN.reset(token)


def find_config_file() -> ConfigFile | None:
    """The file settings are read from: ``--config``, else ``$FLOCKVIEW_CONFIG``, else ``./flockview.toml``.

    Raises:
        ConfigError: ``--config`` or ``FLOCKVIEW_CONFIG`` names a file that does not exist.
    """
    chosen = _CHOSEN.get()
    if chosen is not None:
        named: ConfigFile | None = ConfigFile(chosen, "--config")
    else:
        env = os.environ.get(CONFIG_ENV)
        named = ConfigFile(Path(env), CONFIG_ENV) if env else None
    if named is not None:
        if not named.path.is_file():
            raise ConfigError(f"config file {named.path} (from {named.found_by}) does not exist or is not a file")
        return named
    return ConfigFile(CONFIG_FILE, "the working directory") if CONFIG_FILE.is_file() else None


def config_environment() -> dict[str, str]:
    """``{"FLOCKVIEW_CONFIG": absolute path}`` of the file in use, or ``{}``: a child process reads the same file."""
    config = find_config_file()
    return {CONFIG_ENV: str(config.path.resolve())} if config is not None else {}


def read_config(config: ConfigFile) -> dict[str, dict[str, Any]]:
    """The file's tables, checked: valid TOML, only the known tables, each one a table.

    Raises:
        ConfigError: naming the file and what is wrong in it.
    """
    try:
        with config.path.open("rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config.path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{config.path}: cannot read it: {exc.strerror or exc}") from None
    accepted = ", ".join(f"[{t}]" for t in TABLES)
    for name, table in data.items():
        if name not in TABLES:
            raise ConfigError(
                f"{config.path}: unknown table [{name}]{_did_you_mean(name, TABLES)}; accepted: {accepted}"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{config.path}: {name} must be a table ([{name}] with keys below it), not a value")
    return data


def table_config(table: str) -> SettingsConfigDict:
    """The ``model_config`` of the settings read from ``[table]`` and ``FLOCKVIEW_<TABLE>_*``."""
    if table not in TABLES:
        raise ValueError(f"unknown settings table {table!r}; this is a bug")
    return SettingsConfigDict(
        env_prefix=f"FLOCKVIEW_{table.upper()}_", extra="forbid", toml_table_header=(table,), validate_default=True
    )


@dataclass(frozen=True)
class Problem:
    """One bad setting: its key, where its value came from, and what is wrong."""

    key: str
    source: str  # "" for an explicit value, else a variable name or "FILE, table [T]"
    message: str

    def __str__(self) -> str:
        return f"{self.key} ({self.source}): {self.message}" if self.source else f"{self.key}: {self.message}"


class SettingsError(ConfigError):
    """Settings that cannot be used; each problem names its key and where the value came from."""

    def __init__(self, table: str, problems: list[Problem]) -> None:
        self.table = table
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.table} settings: " + "; ".join(map(str, self.problems))

    def explicit_as(self, labels: Mapping[str, str]) -> SettingsError:
        """The same error with explicit values named by ``labels`` (e.g. ``batch_size`` as ``--batch-size``)."""
        problems = [replace(p, key=labels.get(p.key, p.key)) if not p.source else p for p in self.problems]
        return SettingsError(self.table, problems)


class FlockviewSettings(BaseSettings):
    """Base of every component's settings: explicit values > environment > ``flockview.toml`` > defaults.

    Subclasses set ``model_config = table_config("worker")`` (or another table). Constructing one
    raises :class:`SettingsError` (a :class:`ConfigError`) instead of pydantic's ``ValidationError``.
    """

    model_config: ClassVar[SettingsConfigDict] = SettingsConfigDict(extra="forbid")

    def __init__(self, **values: Any) -> None:
        """Resolve every setting from ``values``, the environment, the config file and the defaults."""
        cls = type(self)
        try:
            cls._check_environment()
            super().__init__(**values)
        except ValidationError as exc:
            raise SettingsError(cls.table(), cls._problems(exc, values)) from None
        except _SourceError as exc:
            raise ConfigError(f"{cls.table()} settings: {exc}") from None

    @classmethod
    def table(cls) -> str:
        """The ``flockview.toml`` table (and ``FLOCKVIEW_<TABLE>_`` variable prefix) of these settings."""
        return cls.model_config["toml_table_header"][0]

    @classmethod
    def env_name(cls, field: str) -> str:
        """The environment variable of ``field``, e.g. ``FLOCKVIEW_WORKER_STORE``."""
        return f"{cls.model_config['env_prefix']}{field}".upper()

    @classmethod
    def is_secret(cls, field: str) -> bool:
        """Whether ``field`` holds a secret (never echoed in errors, never a command-line option)."""
        return _is_secret(cls.model_fields[field].annotation)

    def as_environment(self) -> dict[str, str]:
        """Every set value as its ``FLOCKVIEW_<TABLE>_*`` variable: how a child process gets these settings.

        Variables beat the file and the defaults, so a child that reads its settings the same way
        ends up with exactly these. Unset (None) values are left out; secrets are included, so pass
        the result only to a child's environment, never to a log.
        """
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, SecretStr | SecretBytes):
                value = value.get_secret_value()
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list | tuple):
                value = ",".join(map(str, value))
            env[type(self).env_name(name)] = value.decode() if isinstance(value, bytes) else str(value)
        return env

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values, then ``FLOCKVIEW_<TABLE>_*`` variables, then the file's table (no dotenv)."""
        found = cls._file_table()
        # Without a file, or without this class's table in it, the TOML source reads nothing.
        toml_file = found[0].path if found is not None else None
        return init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file)

    @classmethod
    def _file_table(cls) -> tuple[ConfigFile, dict[str, Any]] | None:
        """The config file and this class's table in it, its keys checked; None without file or table."""
        config = find_config_file()
        if config is None:
            return None
        table = read_config(config).get(cls.table())
        if table is None:
            return None
        for key in table:
            if key not in cls.model_fields:
                raise ConfigError(
                    f"{config.path}, table [{cls.table()}]: unknown key {key!r}"
                    f"{_did_you_mean(key, cls.model_fields)}; see docs/flockview.example.toml"
                )
        return config, table

    @classmethod
    def _check_environment(cls) -> None:
        """Refuse ``FLOCKVIEW_<TABLE>_*`` variables that name no setting: a typo would be silently ignored."""
        prefix = cls.model_config["env_prefix"].upper()
        known = {cls.env_name(f) for f in cls.model_fields}
        for name in os.environ:
            upper = name.upper()
            if upper.startswith(prefix) and upper not in known:
                raise ConfigError(
                    f"environment variable {name} names no {cls.table()} setting{_did_you_mean(upper, known)}"
                )

    @classmethod
    def _problems(cls, exc: ValidationError, explicit: Mapping[str, Any]) -> list[Problem]:
        environment = {name.upper() for name in os.environ}
        found = cls._file_table()
        problems = []
        for error in exc.errors(include_url=False):
            key = str(error["loc"][0]) if error["loc"] else "(settings)"
            if key in explicit:
                source = ""
            elif cls.env_name(key) in environment:
                source = f"from {cls.env_name(key)}"
            elif found is not None and key in found[1]:
                source = f"from {found[0].path}, table [{cls.table()}]"
            else:
                source = "default"
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = f"no such {cls.table()} setting{_did_you_mean(key, cls.model_fields)}"
            elif key in cls.model_fields and not cls.is_secret(key) and "input" in error:
                message += f", got {error['input']!r}"
            problems.append(Problem(key, source, message))
        return problems


def _is_secret(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_secret(arg) for arg in typing.get_args(annotation))
    return False


def _did_you_mean(name: str, choices: Mapping[str, FieldInfo] | typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]}?)" if close else ""
