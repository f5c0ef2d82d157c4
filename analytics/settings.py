"""The worker's and the report's settings, read as every component's are (:mod:`ingest.config`).

Each setting is the first of: an explicit value (constructor argument or typed command-line option),
its ``FLOCKVIEW_WORKER_*`` / ``FLOCKVIEW_REPORT_*`` variable, the ``[worker]`` / ``[report]`` table of
``flockview.toml``, the default (which runs on a laptop against the embedded broker).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from ingest.config import DATA_DIR, DEFAULT_REPORTS_DIR, DEFAULT_STORE, FlockviewSettings, table_config

if TYPE_CHECKING:
    from analytics.privacy.ledger import BudgetPolicy

__all__ = ["ReportFormat", "ReportSettings", "WorkerSettings"]

ReportFormat = Literal["html", "pdf", "md"]
LogLevel = Literal["debug", "info", "warning", "error", "critical"]


class WorkerSettings(FlockviewSettings):
    """Everything a stream worker needs. Defaults run on a laptop against the embedded broker."""

    model_config = table_config("worker")

    bootstrap_servers: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers.")
    app_id: str = Field(
        default="flockview-worker", description="Consumer group; workers with the same id split partitions."
    )
    store: Path = Field(default=DEFAULT_STORE, description="DuckDB store the releases and the budget ledger go to.")
    registry: Path = Field(default=Path("providers.toml"), description="Provider registry TOML (public keys).")
    families: Path | None = Field(default=None, description="Report families TOML; the shipped defaults when unset.")
    window_seconds: float = Field(default=7 * 24 * 3600.0, gt=0, description="Tumbling window size; a week by default.")
    lateness_seconds: float = Field(default=24 * 3600.0, ge=0, description="Allowed lateness after a window's end.")
    max_clock_skew_seconds: float = Field(
        default=300.0, ge=0, description="Events stamped further in the future are refused."
    )
    rho_week: float = Field(
        default=0.02, gt=0, description="zCDP budget per privacy period (one window), split by weights."
    )
    rho_year: float = Field(default=1.0, gt=0, description="zCDP budget cap per calendar year.")
    partitions: int = Field(default=4, ge=1, description="Partitions of the events topic when the worker creates it.")
    batch_size: int = Field(default=500, ge=1, description="Records processed together (each may hold many events).")
    batch_within: float = Field(default=0.5, gt=0, description="Seconds to wait for a batch to fill.")
    fetch_bytes: int = Field(
        default=4 << 20,
        ge=1 << 16,
        description="Most bytes fetched per partition and request (at least the largest record).",
    )
    decode_process: bool = Field(
        default=True,
        description="Verify and decode batches in a child process, on a core of its own (Linux); "
        "off: on a thread of the worker, contending with the counting for the interpreter lock.",
    )
    tick_seconds: float = Field(default=1.0, gt=0, description="How often closed windows are looked for.")
    datadir: Path = Field(
        default=DATA_DIR / "worker", description="The worker's own data (Faust's, and state by default)."
    )
    state_dir: Path | None = Field(
        default=None,
        description="Per-partition worker state (SQLite, exact and private); datadir/state when unset. "
        "Workers that may take over each other's partitions must see the same directory.",
    )
    health_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often operational totals go to the metrics endpoint and the log (never the store).",
    )
    metrics_address: str = Field(
        default="127.0.0.1",
        description="Address of the worker's Prometheus endpoint (operators only: exact totals, "
        "access-controlled like the worker state); 0.0.0.0 to be scraped from other hosts.",
    )
    metrics_port: int = Field(
        default=9464, ge=0, le=65535, description="Port of the worker's Prometheus endpoint; 0 picks a free port."
    )
    reports_dir: Path | None = Field(
        default=None,
        description="Write the weekly policy report here whenever a window is fully released "
        "(give it the dashboard's reports_dir); off when unset.",
    )
    report_formats: str = Field(
        default="html,md", description="Formats of automatic reports: html, md, pdf (comma list)."
    )
    log_level: LogLevel = Field(default="info", description="Log level: debug, info, warning, error or critical.")

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @property
    def partition_state_dir(self) -> Path:
        """Where per-partition state lives: ``state_dir``, else ``datadir/state``."""
        return self.state_dir if self.state_dir is not None else self.datadir / "state"

    @property
    def window_size(self) -> timedelta:
        """``window_seconds`` as a duration."""
        return timedelta(seconds=self.window_seconds)

    @property
    def lateness(self) -> timedelta:
        """``lateness_seconds`` as a duration."""
        return timedelta(seconds=self.lateness_seconds)

    @property
    def budget_policy(self) -> BudgetPolicy:
        """The caps every release is charged against."""
        # Imported here: the settings (and so `flockview --help`) need no OpenDP.
        from analytics.privacy.budget import RhoBudget
        from analytics.privacy.ledger import BudgetPolicy

        return BudgetPolicy(RhoBudget(self.rho_week), RhoBudget(self.rho_year))


class ReportSettings(FlockviewSettings):
    """Where ``flockview report weekly`` reads released data and writes the report, and in which formats."""

    model_config = table_config("report")

    store: Path = Field(default=DEFAULT_STORE, description="DuckDB store the released data is read from (read-only).")
    reports_dir: Path = Field(default=DEFAULT_REPORTS_DIR, description="Folder the report is written to.")
    formats: Annotated[list[ReportFormat], NoDecode] = Field(
        default=["html", "md"], min_length=1, description="Report formats: html, pdf, md (a list, or a comma list)."
    )

    @field_validator("formats", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        """Accept ``"html,pdf"`` (a variable), ``["html", "pdf"]`` (TOML) and ``["html,pdf", "md"]`` (options)."""
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        parts = [p.strip().lower() for item in items for p in (item.split(",") if isinstance(item, str) else [item])]
        return list(dict.fromkeys("md" if p == "markdown" else p for p in parts if p != ""))
