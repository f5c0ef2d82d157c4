"""The Streamlit entry point: ``streamlit run dashboard/app.py``.

Wires the views in :mod:`dashboard.views` with ``st.navigation`` and draws the sidebar. The app has
no authentication of its own unless OIDC login is configured (:mod:`dashboard.auth`); without it,
it says so on every page.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the project root; when Flockview
# is not installed, import its packages from the checkout this file belongs to.
if importlib.util.find_spec("analytics") is None or importlib.util.find_spec("dashboard") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st

from dashboard.auth import NO_AUTH_NOTICE, gate
from dashboard.settings import DashboardSettings
from dashboard.views import (
    alerts,
    budget,
    escalations,
    explore,
    health,
    jurisdictions,
    overview,
    surfaces,
    techniques,
)
from ingest.errors import ConfigError


def _pages() -> dict[str, list[st.Page]]:
    trends = [
        st.Page(overview.render, title="Overview", icon=":material/monitoring:", url_path="overview", default=True),
        st.Page(explore.render, title="Explore", icon=":material/filter_alt:", url_path="explore"),
        st.Page(techniques.render, title="Jailbreak techniques", icon=":material/lock_open:", url_path="techniques"),
        st.Page(jurisdictions.render, title="Jurisdictions", icon=":material/public:", url_path="jurisdictions"),
        st.Page(surfaces.render, title="Open weights vs hosted", icon=":material/dns:", url_path="surfaces"),
        st.Page(escalations.render, title="Escalations", icon=":material/stairs:", url_path="escalations"),
        st.Page(alerts.render, title="Alerts", icon=":material/notifications:", url_path="alerts"),
    ]
    if importlib.util.find_spec("dashboard.views.reports") is not None:
        from dashboard.views import reports

        trends.append(
            st.Page(reports.render, title="Weekly reports", icon=":material/description:", url_path="reports")
        )
    operations = [
        st.Page(budget.render, title="Privacy budget", icon=":material/shield:", url_path="budget"),
        st.Page(health.render, title="Data health", icon=":material/health_and_safety:", url_path="health"),
    ]
    return {"Trends": trends, "Privacy and operations": operations}


def _sidebar(settings: DashboardSettings) -> None:
    st.sidebar.caption(f"Store (read-only): `{settings.store}`  \nRefresh: every {settings.refresh_seconds} s")
    st.sidebar.caption("Only released, differentially private figures are shown here.")


def main() -> None:
    """Configure the page, check sign-in, draw the sidebar and run the selected view."""
    st.set_page_config(page_title="Flockview", layout="wide")
    try:
        settings = DashboardSettings()
    except ConfigError as exc:  # a bad FLOCKVIEW_DASHBOARD_* variable, [dashboard] table or flockview.toml
        st.sidebar.warning(NO_AUTH_NOTICE)
        st.error(f"Invalid dashboard settings (FLOCKVIEW_DASHBOARD_* or flockview.toml):\n\n```\n{exc}\n```")
        st.stop()
    gate(settings)
    page = st.navigation(_pages())
    _sidebar(settings)
    page.run()


main()
