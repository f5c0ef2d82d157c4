"""The weekly policy report: the former single module, kept so existing imports work.

The report now lives in :mod:`analytics.reporting`. This module re-exports the formatting helpers the
dashboard uses and gives :func:`change_text` the report's noise-aware test, so both say the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from analytics.reporting.archive import report_filename
from analytics.reporting.document import interval_text, value_text
from analytics.reporting.stats import NO_CLEAR_CHANGE, Estimate, compare

__all__ = ["NO_CLEAR_CHANGE", "change_text", "interval_text", "report_filename", "value_text",
           "weekly_report_markdown", "write_weekly_report"]


def change_text(current: Mapping[str, object] | None, previous: Mapping[str, object] | None) -> str:
    """The change of one released cell against the same cell of the previous window.

    Args:
        current: The cell's row (``value``, ``scale``, ``ci_low``, ``ci_high``), or None if not released.
        previous: The same cell's row in the previous released window, or None.

    Returns:
        ``"clear increase"`` or ``"clear decrease"`` when the difference exceeds 1.96·√(σ₁² + σ₂²),
        ``"no clear change"`` inside the noise, ``"no earlier window"`` when either is missing.
    """
    if current is None or previous is None:
        return "no earlier window"
    return compare(Estimate.from_row(current), Estimate.from_row(previous)).verdict


def weekly_report_markdown(store_path: Path | str, week: str | None = None) -> str:
    """The Markdown report of one released window (chart images referenced, not written).

    Raises:
        EmptyStoreError: The store holds no release, or none for ``week``.
        PartialWeekError: Some families were not released for the window.
    """
    from analytics.reporting.build import build_document
    from analytics.reporting.markdown import to_markdown
    from analytics.reporting.model import gather

    report = gather(store_path, week)
    charts = report_filename(report.label, "md").removesuffix(".md") + "-charts"
    return to_markdown(build_document(report), lambda name: f"{charts}/{name}.png")


def write_weekly_report(store_path: Path | str, out_dir: Path | str, week: str | None = None) -> Path:
    """Write the Markdown report (and its chart images) of ``week`` to ``out_dir``; returns its path."""
    from analytics.reporting.build import write_reports

    return write_reports(store_path, out_dir, week, ["md"])["md"]
