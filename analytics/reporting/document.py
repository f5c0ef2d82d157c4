"""A report as a small tree of blocks, laid out by the Markdown and HTML renderers alike.

Text in blocks may use two inline marks, ``**strong**`` and ```code```; renderers translate them.
Number formatting lives here too, so every format words a released value the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from analytics.reporting.stats import Change, Estimate


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text."""

    text: str


@dataclass(frozen=True)
class Bullets:
    """A bulleted list."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table; ``numeric`` lists the columns to right-align."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[int, ...] = ()


@dataclass(frozen=True)
class Figure:
    """A chart (by its id in :mod:`analytics.reporting.charts`) with a caption."""

    chart: str
    caption: str


Block = Paragraph | Bullets | Table | Figure


@dataclass(frozen=True)
class Section:
    """A headed section; ``level`` 2 for a section, 3 for a subsection. ``name`` is a stable anchor."""

    name: str
    heading: str
    blocks: tuple[Block, ...]
    level: int = 2
    subsections: tuple[Section, ...] = field(default=())


@dataclass(frozen=True)
class Document:
    """The whole report: title, a lead paragraph, and sections (the first is the one-page summary)."""

    title: str
    lead: str
    sections: tuple[Section, ...]


def value_text(value: float, ci_high: float, includes_zero: bool) -> str:
    """A released count as a reader should see it: an upper bound when its interval includes zero.

    Returns:
        ``"1,234"``, or ``"≤ 17 (interval includes 0)"`` for a count indistinguishable from zero.
    """
    if includes_zero:
        return f"≤ {math.ceil(ci_high):,} (interval includes 0)"
    return f"{round(value):,}"


def interval_text(ci_low: float, ci_high: float) -> str:
    """A 95% interval in whole events, widened outward so rounding never narrows it."""
    return f"{math.floor(ci_low):,} – {math.ceil(ci_high):,}"


def estimate_text(estimate: Estimate | None) -> str:
    """A value with its interval in brackets, or "not released"."""
    if estimate is None:
        return "not released"
    return (
        f"{value_text(estimate.value, estimate.ci_high, estimate.includes_zero)} "
        f"(95% interval {interval_text(estimate.ci_low, estimate.ci_high)})"
    )


def signed(x: float) -> str:
    """A whole-number difference with its sign: ``+1,234`` or ``−56``."""
    return f"+{round(x):,}" if x >= 0 else f"−{round(-x):,}"


def change_cell(change: Change) -> str:
    """A change as a short table cell: the verdict, and for a clear change the difference and the threshold."""
    if change.is_clear:
        return f"{change.verdict} ({signed(change.difference)}; threshold ±{round(change.threshold):,})"
    return change.verdict


def share_text(part: float, whole: float) -> str:
    """A share in whole percent; "–" when the whole is zero."""
    return f"{100 * part / whole:.0f}%" if whole > 0 else "–"


def num(x: float) -> str:
    """A privacy parameter with six significant digits."""
    return f"{x:.6g}"
