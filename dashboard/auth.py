"""Optional sign-in through Streamlit's OIDC support (``st.login``).

Login is on when ``.streamlit/secrets.toml`` has an ``[auth]`` section (Streamlit's own format:
``redirect_uri``, ``cookie_secret`` and the provider's ``client_id``, ``client_secret`` and
``server_metadata_url``, either directly or under ``[auth.NAME]`` with
``FLOCKVIEW_DASHBOARD_AUTH_PROVIDER=NAME``). Without it the dashboard runs without authentication
and says so on every page, unless ``FLOCKVIEW_DASHBOARD_REQUIRE_LOGIN`` is set, in which case it
refuses to show anything.
"""

from __future__ import annotations

import streamlit as st
from streamlit.errors import StreamlitSecretNotFoundError

from dashboard.settings import DashboardSettings

NO_AUTH_NOTICE = (
    "**No authentication.** This dashboard has no login: anyone who can reach its address can read "
    "every released figure. Serve it on 127.0.0.1, or behind your own access control (VPN, "
    "authenticating reverse proxy), or configure OIDC login (see the analyst guide)."
)


def login_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` (or the app's secrets) holds an ``[auth]`` section."""
    try:
        return "auth" in st.secrets
    except (StreamlitSecretNotFoundError, FileNotFoundError):
        return False


def gate(settings: DashboardSettings) -> None:
    """Stop the page unless the visitor may see data; notes the authentication state in the sidebar.

    With login configured, an anonymous visitor sees only a sign-in button. Without it, the sidebar
    says plainly that there is no authentication, and ``require_login`` stops the page with an error.
    """
    if not login_configured():
        st.sidebar.warning(NO_AUTH_NOTICE)
        if settings.require_login:
            st.error(
                "FLOCKVIEW_DASHBOARD_REQUIRE_LOGIN is set, but no OIDC login is configured: add an "
                "`[auth]` section to `.streamlit/secrets.toml` (see docs/analyst-guide.md)."
            )
            st.stop()
        return
    if not st.user.get("is_logged_in", False):
        st.title("Flockview")
        st.info("Sign in to see the released figures.")
        if st.button("Sign in", type="primary"):
            st.login(settings.auth_provider) if settings.auth_provider else st.login()
        st.stop()
    name = st.user.get("name") or st.user.get("email") or "signed in"
    st.sidebar.caption(f"Signed in: {name}")
    if st.sidebar.button("Sign out"):
        st.logout()
