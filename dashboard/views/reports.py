"""Reports: the weekly policy reports written so far, to read here or download.

Lists the folder that ``flockview report weekly --out`` (and the worker's automatic generation) writes
to: :attr:`DashboardSettings.reports_dir` (``FLOCKVIEW_DASHBOARD_REPORTS_DIR``, default ``reports``,
relative to the directory the dashboard was started in). Reports hold released, differentially private figures only.
"""

from __future__ import annotations

import streamlit as st
import streamlit.components.v1 as components

from analytics.reporting.archive import ArchivedReport, list_reports
from dashboard.settings import DashboardSettings

MIME = {"html": "text/html", "pdf": "application/pdf", "md": "text/markdown"}
LABELS = {"html": "HTML", "pdf": "PDF", "md": "Markdown"}
PREVIEW_HEIGHT = 900


def render() -> None:
    """The reports page: newest report first, each with its downloads and an in-page preview."""
    folder = DashboardSettings().reports_dir
    st.title("Weekly policy reports")
    st.caption(
        f"Folder: `{folder}` (set `FLOCKVIEW_DASHBOARD_REPORTS_DIR` or `reports_dir` in `[dashboard]` of flockview.toml to change it)."
    )
    reports = list_reports(folder)
    if not reports:
        st.info(
            f"No reports in `{folder}` yet. Write one with `flockview report weekly --out {folder}`, "
            "or let the worker write one whenever a week is released."
        )
        return
    for i, report in enumerate(reports):
        _report_entry(report, expanded=i == 0)


def _report_entry(report: ArchivedReport, expanded: bool) -> None:
    with st.expander(f"{report.slug} · written {report.modified:%Y-%m-%d %H:%M} UTC", expanded=expanded):
        columns = st.columns(len(MIME))
        for column, fmt in zip(columns, MIME, strict=True):
            path = report.files.get(fmt)
            if path is None:
                column.caption(f"{LABELS[fmt]}: not written")
                continue
            column.download_button(
                f"Download {LABELS[fmt]}",
                data=path.read_bytes(),
                file_name=path.name,
                mime=MIME[fmt],
                key=f"download-{report.slug}-{fmt}",
            )
        html = report.files.get("html")
        if html is not None and st.toggle("Read it here", value=expanded, key=f"preview-{report.slug}"):
            # The HTML report is self-contained (inline SVG charts, no scripts).
            components.html(html.read_text(encoding="utf-8"), height=PREVIEW_HEIGHT, scrolling=True)
