"""The dashboard's pages, one module per view, each exposing ``render()`` for ``st.Page``.

Modules:
    overview: released counts over time per danger domain, with 95% interval bands, the latest
        window as a table, and the privacy facts of the latest release.
"""

from dashboard.views import overview

__all__ = ["overview"]
