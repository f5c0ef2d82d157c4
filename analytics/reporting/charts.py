"""The report's charts, drawn with matplotlib (no display, no JavaScript): SVG for HTML and PDF, PNG for Markdown.

Every chart shows released values with their 95% intervals, as bands over time or as error bars.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")  # before pyplot: draw to files only, never to a display

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from analytics.reporting.findings import DANGEROUS, KeyedFinding
from analytics.reporting.model import WeeklyReport
from analytics.reporting.stats import Estimate
from analytics.windows import WEEK, Window

BLUE, GREY, ORANGE = "#1f5fa8", "#8a8f98", "#c8641b"
OTHER_DOMAINS = 3
plt.rcParams.update(
    {
        "font.size": 8,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "svg.hashsalt": "flockview",
        "svg.fonttype": "path",
    }
)


def tick_label(window: Window) -> str:
    """A short axis label: ``W47`` for a week, ``09:40:10`` for a short demo window."""
    if window.end - window.start == WEEK:
        return window.label().split("-")[-1]
    return f"{window.start:%H:%M:%S}"


def _domains(report: WeeklyReport) -> Figure:
    dangerous = [d.category for d in report.domains if d.dangerous]
    released = [(d, d.current.value) for d in report.domains if not d.dangerous and d.current is not None]
    others = [d for d, _ in sorted(released, key=lambda pair: -pair[1])][:OTHER_DOMAINS]
    names = dangerous + [d.category for d in others]
    columns = 4
    rows = -(-len(names) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(7.2, 1.75 * rows), squeeze=False, sharex=True)
    for ax, name in zip(axes.flat, names, strict=False):
        _band(ax, report.domain_history.get(name, ()), name)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def _band(ax: Axes, points: tuple[tuple[Window, Estimate], ...], name: str) -> None:
    color = ORANGE if name in DANGEROUS else BLUE
    xs = list(range(len(points)))
    ax.fill_between(
        xs, [e.ci_low for _, e in points], [e.ci_high for _, e in points], color=color, alpha=0.2, linewidth=0
    )
    ax.plot(xs, [e.value for _, e in points], color=color, marker="o", markersize=2.5, linewidth=1.2)
    ax.set_title(name, fontsize=8)
    ax.set_ylim(bottom=0)
    ax.set_xticks(xs, [tick_label(w) for w, _ in points], rotation=90, fontsize=6)
    ax.tick_params(axis="y", labelsize=6)


def _bars(found: list[tuple[str, Estimate]], ylabel: str) -> Figure:
    fig, ax = plt.subplots(figsize=(5.2, 2.3))
    names = [n for n, _ in found]
    values = [e.value for _, e in found]
    errors = [[e.value - e.ci_low for _, e in found], [e.ci_high - e.value for _, e in found]]
    ax.bar(names, values, color=BLUE, alpha=0.85, yerr=errors, capsize=4, ecolor="#333333")
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return fig


def _keyed(found: tuple[KeyedFinding, ...]) -> list[tuple[str, Estimate]]:
    return [(k.key, k.estimate) for k in found]


def _year_to_date(report: WeeklyReport) -> Figure:
    fig = _bars(list(report.year_to_date), "events, year to date")
    fig.axes[0].tick_params(axis="x", labelrotation=60, labelsize=6)
    fig.set_size_inches(7.0, 2.8)
    fig.tight_layout()
    return fig


CHARTS: dict[str, Callable[[WeeklyReport], Figure]] = {
    "domains": _domains,
    "funnel": lambda r: _bars(_keyed(r.funnel), "actors"),
    "surfaces": lambda r: _bars(_keyed(r.surfaces), "flagged events"),
    "year_to_date": _year_to_date,
}


def render_chart(report: WeeklyReport, chart: str, fmt: str) -> bytes:
    """Draw chart ``chart`` of ``report`` as ``svg`` or ``png`` bytes.

    Raises:
        ValueError: Unknown chart or format.
    """
    if chart not in CHARTS:
        raise ValueError(f"unknown chart {chart!r}; accepted: {', '.join(CHARTS)}")
    if fmt not in ("svg", "png"):
        raise ValueError(f"unknown chart format {fmt!r}; accepted: svg, png")
    fig = CHARTS[chart](report)
    try:
        buffer = io.BytesIO()
        fig.savefig(buffer, format=fmt, dpi=150, metadata={"Date": None} if fmt == "svg" else None)
        return buffer.getvalue()
    finally:
        plt.close(fig)
