"""Dashboard settings: constructor arguments or ``FLOCKVIEW_DASHBOARD_*`` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class DashboardSettings(BaseSettings):
    """What the dashboard reads and how often it looks again. Defaults match a laptop worker's."""

    model_config = SettingsConfigDict(env_prefix="FLOCKVIEW_DASHBOARD_", extra="forbid")

    store: Path = Field(Path("flockview-data/flockview.duckdb"), description="DuckDB store, opened read-only.")
    refresh_seconds: int = Field(5, ge=1, le=3600, description="How often open pages look for new releases.")
    require_login: bool = Field(False, description="Refuse to serve data unless OIDC login (st.login) is configured.")
    auth_provider: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9-]+$",
        description="Named OIDC provider ([auth.NAME] in .streamlit/secrets.toml); the [auth] defaults when unset.",
    )
