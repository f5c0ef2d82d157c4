"""Worker settings: constructor arguments, ``FLOCKVIEW_WORKER_*`` environment variables, or a TOML file."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from analytics.privacy.budget import RhoBudget
from analytics.privacy.release import BudgetPolicy


class WorkerSettings(BaseSettings):
    """Everything a stream worker needs. Defaults run on a laptop against the embedded broker."""

    model_config = SettingsConfigDict(env_prefix="FLOCKVIEW_WORKER_", extra="forbid")

    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: str = Field("flockview-worker", description="Consumer group; workers with the same id split partitions.")
    store: Path = Path("flockview-data/flockview.duckdb")
    registry: Path = Field(Path("providers.toml"), description="Provider registry TOML (public keys).")
    families: Path | None = Field(None, description="Report families TOML; the shipped defaults when unset.")
    window_seconds: float = Field(7 * 24 * 3600.0, gt=0, description="Tumbling window size; a week by default.")
    lateness_seconds: float = Field(24 * 3600.0, ge=0, description="Allowed lateness after a window's end.")
    max_clock_skew_seconds: float = Field(300.0, ge=0, description="Events stamped further in the future are refused.")
    rho_week: float = Field(0.02, gt=0, description="zCDP budget per privacy period (one window), split by weights.")
    rho_year: float = Field(1.0, gt=0, description="zCDP budget cap per calendar year.")
    partitions: int = Field(4, ge=1, description="Partitions of the events topic when the worker creates it.")
    batch_size: int = Field(500, ge=1, description="Records processed together (each may hold many events).")
    batch_within: float = Field(0.5, gt=0, description="Seconds to wait for a batch to fill.")
    fetch_bytes: int = Field(
        4 << 20,
        ge=1 << 16,
        description="Most bytes fetched per partition and request "
        "(at least the largest record); 4 MiB keeps the batches coming: 1 MiB left the "
        "counting thread waiting for records a tenth of the time.",
    )
    decode_process: bool = Field(
        True,
        description="Verify and decode batches in a child process, on a core of its "
        "own (Linux); off: on a thread of the worker, where it contends for the "
        "interpreter lock with the counting.",
    )
    tick_seconds: float = Field(1.0, gt=0, description="How often closed windows are looked for.")
    datadir: Path = Path("flockview-data/worker")
    state_dir: Path | None = Field(
        None,
        description="Per-partition worker state (SQLite, exact and private); "
        "datadir/state when unset. Workers that may take over each other's partitions "
        "must see the same directory.",
    )
    health_seconds: float = Field(
        30.0, gt=0, description="How often operational totals go to the store's health table."
    )
    reports_dir: Path | None = Field(
        None,
        description="Write the weekly policy report here whenever a window is "
        "fully released (the dashboard's FLOCKVIEW_REPORTS_DIR); off when unset.",
    )
    report_formats: str = Field("html,md", description="Formats of automatic reports: html, md, pdf (comma list).")
    log_level: str = "info"

    @property
    def partition_state_dir(self) -> Path:
        return self.state_dir if self.state_dir is not None else self.datadir / "state"

    @property
    def window_size(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)

    @property
    def lateness(self) -> timedelta:
        return timedelta(seconds=self.lateness_seconds)

    @property
    def budget_policy(self) -> BudgetPolicy:
        return BudgetPolicy(RhoBudget(self.rho_week), RhoBudget(self.rho_year))
