"""Assemble the report document and write it in the requested formats.

``write_reports`` is what the CLI and the worker's automatic generation call: it gathers the data once,
draws each chart once per image format, and writes ``flockview-report-<window>.{html,md,pdf}`` (plus the
Markdown report's PNG charts in a folder beside it). Files are written to a temporary name and renamed,
so a reader (the dashboard) never sees half a report.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from analytics.errors import AnalyticsError
from analytics.reporting.archive import FORMATS, charts_dirname, report_filename
from analytics.reporting.charts import render_chart
from analytics.reporting.document import Document, Figure, Section
from analytics.reporting.html import to_html
from analytics.reporting.markdown import to_markdown
from analytics.reporting.methodology import methodology_section
from analytics.reporting.model import WeeklyReport, gather
from analytics.reporting.pdf import html_to_pdf
from analytics.reporting.sections import (
    changes_section,
    domains_section,
    funnel_section,
    jurisdictions_section,
    surfaces_section,
    techniques_section,
    year_to_date_section,
)
from analytics.reporting.summary import summary_section

DEFAULT_FORMATS = ("html", "md")


class ReportFormatError(AnalyticsError, ValueError):
    """An unknown report format was asked for."""


def build_document(report: WeeklyReport) -> Document:
    """The report's document: summary first, then the detail sections, then the methodology."""
    w = report.window
    lead = (
        f"Window {w.start:%Y-%m-%d %H:%M:%S} to {w.end:%Y-%m-%d %H:%M:%S} UTC, released "
        f"{report.released_at:%Y-%m-%d %H:%M:%S} UTC. Built from released, differentially private data only: "
        "every figure is a noisy count with a 95% interval, and no figure describes an individual."
    )
    sections = (
        summary_section(report),
        domains_section(report),
        changes_section(report),
        techniques_section(report),
        funnel_section(report),
        surfaces_section(report),
        jurisdictions_section(report),
        year_to_date_section(report),
        methodology_section(report),
    )
    return Document(f"Flockview weekly policy report: {report.label}", lead, sections)


def _figures(sections: Iterable[Section]) -> list[str]:
    found: list[str] = []
    for section in sections:
        found += [b.chart for b in section.blocks if isinstance(b, Figure)]
        found += _figures(section.subsections)
    return found


def parse_formats(formats: Iterable[str] | None) -> tuple[str, ...]:
    """Normalise ``["html,pdf", "md"]``-style input to ``("html", "pdf", "md")``; None gives html and md.

    Raises:
        ReportFormatError: An unknown format, naming the accepted ones.
    """
    if not formats:
        return DEFAULT_FORMATS
    chosen: list[str] = []
    for item in formats:
        for fmt in (part.strip().lower() for part in item.split(",")):
            if fmt == "markdown":
                fmt = "md"
            if fmt not in FORMATS:
                raise ReportFormatError(
                    f"unknown report format {fmt!r}; accepted: html, pdf, md (repeat --format or give a comma list)"
                )
            if fmt not in chosen:
                chosen.append(fmt)
    return tuple(chosen)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def render(report: WeeklyReport, out_dir: Path, formats: tuple[str, ...]) -> dict[str, Path]:
    """Write ``report`` to ``out_dir`` in ``formats``; returns the path of each format."""
    document = build_document(report)
    chart = cache(lambda name, fmt: render_chart(report, name, fmt))
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    html = to_html(document, lambda name: chart(name, "svg")) if {"html", "pdf"} & set(formats) else ""
    if "md" in formats:
        charts = out_dir / charts_dirname(report.label)
        charts.mkdir(exist_ok=True)
        for name in _figures(document.sections):
            _atomic_write(charts / f"{name}.png", chart(name, "png"))
        text = to_markdown(document, lambda name: f"{charts.name}/{name}.png")
        written["md"] = out_dir / report_filename(report.label, "md")
        _atomic_write(written["md"], text.encode("utf-8"))
    if "html" in formats:
        written["html"] = out_dir / report_filename(report.label, "html")
        _atomic_write(written["html"], html.encode("utf-8"))
    if "pdf" in formats:
        written["pdf"] = out_dir / report_filename(report.label, "pdf")
        tmp = written["pdf"].with_name(f".{written['pdf'].name}.tmp")
        os.replace(html_to_pdf(html, tmp), written["pdf"])
    return {fmt: written[fmt] for fmt in formats}


def write_reports(
    store_path: Path | str,
    out_dir: Path | str,
    week: str | None = None,
    formats: Iterable[str] | None = None,
    allow_partial: bool = False,
) -> dict[str, Path]:
    """Gather the report of ``week`` (the latest released when None) and write it in ``formats``.

    Args:
        store_path: The DuckDB store, opened read-only.
        out_dir: The folder to write to (created if needed).
        week: A window label such as ``2026-W47``; the latest released window when None.
        formats: Any of ``html``, ``pdf``, ``md`` (comma lists accepted); html and md when None.
        allow_partial: Write a report even when some families were not released for the window.

    Returns:
        The path written for each format, in the order asked.

    Raises:
        EmptyStoreError: No release in the store, or none for ``week``.
        PartialWeekError: The window is only partly released and ``allow_partial`` is False.
        PdfUnavailableError: PDF asked for but WeasyPrint cannot run.
        ReportFormatError: An unknown format.
    """
    chosen = parse_formats(formats)
    report = gather(store_path, week, allow_partial=allow_partial)
    return render(report, Path(out_dir), chosen)


def weekly_report_markdown(store_path: Path | str, week: str | None = None) -> str:
    """The Markdown report of one released window (chart images referenced, not written).

    Raises:
        EmptyStoreError: The store holds no release, or none for ``week``.
        PartialWeekError: Some families were not released for the window.
    """
    report = gather(store_path, week)
    charts = charts_dirname(report.label)
    return to_markdown(build_document(report), lambda name: f"{charts}/{name}.png")
