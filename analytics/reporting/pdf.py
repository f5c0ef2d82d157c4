"""Print the HTML report to PDF with WeasyPrint (which needs Pango from the system: deploy/system-deps.sh)."""

from __future__ import annotations

import logging
from pathlib import Path

from analytics.errors import AnalyticsError

log = logging.getLogger(__name__)


class PdfUnavailableError(AnalyticsError, RuntimeError):
    """WeasyPrint or its system libraries are missing, so no PDF can be written."""


def html_to_pdf(html: str, path: Path) -> Path:
    """Write ``html`` (a self-contained page) to ``path`` as PDF and return the path.

    Raises:
        PdfUnavailableError: WeasyPrint cannot be imported (usually Pango is not installed).
    """
    try:
        import weasyprint
    except (ImportError, OSError) as exc:  # OSError: the Python package is there but Pango is not
        raise PdfUnavailableError(
            f"cannot write PDF: WeasyPrint is unavailable ({exc}); install its system libraries with "
            "deploy/system-deps.sh, or ask for --format html,md"
        ) from None
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    weasyprint.HTML(string=html).write_pdf(path)
    return path
