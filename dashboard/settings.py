"""Dashboard settings, read as every component's are (:mod:`ingest.config`).

Each setting is the first of: an explicit value (constructor argument, or an option of
``flockview dashboard``), its ``FLOCKVIEW_DASHBOARD_*`` variable, the ``[dashboard]`` table of
``flockview.toml``, the default (which matches a laptop worker's).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ingest.config import DEFAULT_REPORTS_DIR, DEFAULT_STORE, FlockviewSettings, table_config


class DashboardSettings(FlockviewSettings):
    """What the dashboard reads, where it listens, and how often it looks again."""

    model_config = table_config("dashboard")

    store: Path = Field(default=DEFAULT_STORE, description="DuckDB store, opened read-only.")
    reports_dir: Path = Field(default=DEFAULT_REPORTS_DIR, description="Folder of weekly policy reports to list.")
    refresh_seconds: int = Field(default=5, ge=1, le=3600, description="How often open pages look for new releases.")
    port: int = Field(default=8501, ge=1, le=65535, description="Port `flockview dashboard` serves on.")
    address: str = Field(
        default="127.0.0.1", description="Address `flockview dashboard` listens on (0.0.0.0: every one)."
    )
    require_login: bool = Field(
        default=False, description="Refuse to serve data unless OIDC login (st.login) is configured."
    )
    auth_provider: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Named OIDC provider ([auth.NAME] in .streamlit/secrets.toml); the [auth] defaults when unset.",
    )
