"""Lay a :class:`~analytics.reporting.document.Document` out as Markdown (GitHub-flavoured tables)."""

from __future__ import annotations

from collections.abc import Callable

from analytics.reporting.document import Block, Bullets, Document, Figure, Paragraph, Section, Table


def _table(table: Table) -> str:
    align = ["---:" if i in table.numeric else "---" for i in range(len(table.header))]
    lines = [f"| {' | '.join(table.header)} |", f"|{'|'.join(align)}|"]
    lines += [f"| {' | '.join(cell.replace('|', '/') for cell in row)} |" for row in table.rows]
    return "\n".join(lines)


def _block(block: Block, image: Callable[[str], str]) -> str:
    if isinstance(block, Paragraph):
        return block.text
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return f"![{block.caption}]({image(block.chart)})\n\n*{block.caption}*"
    raise TypeError(f"unknown block {type(block).__name__}: this is a bug")


def _section(section: Section, image: Callable[[str], str]) -> list[str]:
    parts = [f"{'#' * section.level} {section.heading}"]
    parts += [_block(b, image) for b in section.blocks]
    for sub in section.subsections:
        parts += _section(sub, image)
    return parts


def to_markdown(document: Document, image: Callable[[str], str]) -> str:
    """The document as Markdown.

    Args:
        document: The report.
        image: Maps a chart id to the relative path of its image file beside the Markdown file.
    """
    parts = [f"# {document.title}", document.lead]
    for section in document.sections:
        parts += _section(section, image)
    return "\n\n".join(parts) + "\n"
