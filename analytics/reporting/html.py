"""Lay a :class:`~analytics.reporting.document.Document` out as one self-contained HTML page.

Charts are inline SVG, styles are inline, there is no script: the file reads the same in a browser,
in the dashboard and through WeasyPrint (the PDF). The summary fits the first printed page.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from importlib.resources import files

from analytics.reporting.document import Block, Bullets, Document, Figure, Paragraph, Section, Table

_STRONG = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")
_EMPHASIS = re.compile(r"(?<![\w*])\*([^*]+)\*(?![\w*])")


def inline(text: str) -> str:
    """Escape ``text`` and turn its ``**strong**``, ```code``` and ``*emphasis*`` marks into HTML."""
    escaped = html.escape(text, quote=False)
    escaped = _CODE.sub(r"<code>\1</code>", escaped)
    escaped = _STRONG.sub(r"<strong>\1</strong>", escaped)
    return _EMPHASIS.sub(r"<em>\1</em>", escaped)


def _table(table: Table) -> str:
    def cell(tag: str, i: int, text: str) -> str:
        cls = ' class="num"' if i in table.numeric else ""
        return f"<{tag}{cls}>{inline(text)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(table.header))
    body = "".join("<tr>" + "".join(cell("td", i, c) for i, c in enumerate(row)) + "</tr>" for row in table.rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg_body(svg: bytes) -> str:
    text = svg.decode("utf-8")
    return text[text.index("<svg") :]  # drop the XML declaration and doctype: not allowed inside HTML


def _block(block: Block, chart: Callable[[str], bytes]) -> str:
    if isinstance(block, Paragraph):
        return f"<p>{inline(block.text)}</p>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return (
            f'<figure id="chart-{block.chart}">{_svg_body(chart(block.chart))}'
            f"<figcaption>{inline(block.caption)}</figcaption></figure>"
        )
    raise TypeError(f"unknown block {type(block).__name__}: this is a bug")


def _section(section: Section, chart: Callable[[str], bytes]) -> str:
    tag = f"h{section.level}"
    inner = "".join(_block(b, chart) for b in section.blocks) + "".join(_section(s, chart) for s in section.subsections)
    return f'<section id="{section.name}"><{tag}>{html.escape(section.heading)}</{tag}>{inner}</section>'


def stylesheet() -> str:
    """The report's CSS (screen and print)."""
    return files("analytics.reporting").joinpath("report.css").read_text(encoding="utf-8")


def to_html(document: Document, chart: Callable[[str], bytes]) -> str:
    """The document as a self-contained HTML page.

    Args:
        document: The report.
        chart: Draws a chart id as SVG bytes.
    """
    body = "".join(_section(s, chart) for s in document.sections)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(document.title)}</title><style>{stylesheet()}</style></head>"
        f'<body><header><h1>{html.escape(document.title)}</h1><p class="lead">{inline(document.lead)}</p>'
        f"</header>{body}</body></html>\n"
    )
