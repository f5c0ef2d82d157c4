"""The Streamlit entry point: ``streamlit run dashboard/app.py``.

Wires the views in :mod:`dashboard.views` with ``st.navigation`` and draws the sidebar. The app has
no authentication of its own and says so on every page.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

# `streamlit run dashboard/app.py` puts dashboard/ on sys.path, not the project root; when Flockview
# is not installed, import its packages from the checkout this file belongs to.
if importlib.util.find_spec("analytics") is None or importlib.util.find_spec("dashboard") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import streamlit as st  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from dashboard.settings import DashboardSettings  # noqa: E402
from dashboard.views import overview  # noqa: E402

NO_AUTH_NOTICE = (
    "**No authentication.** This dashboard has no login: anyone who can reach its address can read "
    "every released figure. Serve it on 127.0.0.1, or behind your own access control (VPN, "
    "authenticating reverse proxy)."
)


def _sidebar(settings: DashboardSettings) -> None:
    st.sidebar.warning(NO_AUTH_NOTICE)
    st.sidebar.caption(f"Store (read-only): `{settings.store}`  \nRefresh: every {settings.refresh_seconds} s")
    st.sidebar.caption("Only released, differentially private figures are shown here.")


def main() -> None:
    """Configure the page, draw the sidebar and run the selected view."""
    st.set_page_config(page_title="Flockview", layout="wide")
    try:
        settings = DashboardSettings()
    except ValidationError as exc:
        st.sidebar.warning(NO_AUTH_NOTICE)
        st.error(f"Invalid FLOCKVIEW_DASHBOARD_* setting:\n\n```\n{exc}\n```")
        st.stop()
    page = st.navigation([
        st.Page(overview.render, title="Overview", icon=":material/monitoring:", url_path="overview", default=True),
    ])
    _sidebar(settings)
    page.run()


main()
