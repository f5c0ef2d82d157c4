"""Where reports live on disk: their file names, and the listing of past reports in a folder.

A report of window label ``L`` is written as ``flockview-report-<slug>.<ext>`` (``.md``, ``.html``,
``.pdf``), where the slug is the label made safe for file names; the Markdown report's chart images
sit beside it in ``flockview-report-<slug>-charts/``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

PREFIX = "flockview-report-"
#: Formats a report is written in, in the order they are offered.
FORMATS = ("html", "pdf", "md")
_NAME = re.compile(rf"^{PREFIX}(?P<slug>[0-9A-Za-z-]+?)\.(?P<ext>html|pdf|md)$")


def report_slug(label: str) -> str:
    """A window label made safe for a file name.

    ``2026-W47`` stays as it is; ``2026-11-23 09:40:10Z`` (a short demo window) becomes
    ``2026-11-23T094010Z``.
    """
    return re.sub(r"[^0-9A-Za-z-]", "", label.replace(" ", "T"))


def report_filename(label: str, fmt: str = "md") -> str:
    """The file name of the report of window ``label`` in format ``fmt`` (``md``, ``html`` or ``pdf``)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; accepted: {', '.join(FORMATS)}")
    return f"{PREFIX}{report_slug(label)}.{fmt}"


def charts_dirname(label: str) -> str:
    """The folder beside the Markdown report that holds its chart images."""
    return f"{PREFIX}{report_slug(label)}-charts"


@dataclass
class ArchivedReport:
    """One past report in a folder: its slug and the file of each format present."""

    slug: str
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def modified(self) -> datetime:
        """When the newest of its files was written (UTC)."""
        return datetime.fromtimestamp(max(p.stat().st_mtime for p in self.files.values()), tz=UTC)


def list_reports(folder: Path | str) -> list[ArchivedReport]:
    """The reports in ``folder``, newest first; empty when the folder does not exist.

    Args:
        folder: The reports folder (``flockview report weekly --out``).

    Returns:
        One entry per window, with the formats found for it.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    found: dict[str, ArchivedReport] = {}
    for path in root.iterdir():
        match = _NAME.match(path.name)
        if match and path.is_file():
            entry = found.setdefault(match["slug"], ArchivedReport(match["slug"]))
            entry.files[match["ext"]] = path
    return sorted(found.values(), key=lambda r: (r.modified, r.slug), reverse=True)
