"""The Flockview dashboard: a read-only Streamlit app over released (noisy) data.

Run it with ``streamlit run dashboard/app.py``. It reads the DuckDB store read-only, never imports
Kafka or Faust, and has no authentication of its own.

Modules:
    app: the Streamlit entry point; wires the views with ``st.navigation`` and draws the sidebar.
    settings: :class:`DashboardSettings`, from ``FLOCKVIEW_DASHBOARD_*`` environment variables.
    data: cached read-only loaders over :class:`analytics.store.ReadOnlyStore`.
    views: one module per page (``views.overview``: released counts over time per danger domain).
"""

from dashboard.settings import DashboardSettings

__all__ = ["DashboardSettings"]
