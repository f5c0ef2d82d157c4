"""The PDF report: WeasyPrint writes it, poppler's pdftoppm renders its pages, and none is blank."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from analytics.families import ReportFamily
from analytics.reporting import write_reports

pytestmark = pytest.mark.integration


def _counts(family: ReportFamily, i: int) -> list[int]:
    levels = {"cbrn.bio": 500 + 1500 * i, "fraud.phishing": 3000, "cyber.malware": 2500}
    return [levels.get(key[0], 0) for key in family.keys]


def _needs(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is missing: run deploy/system-deps.sh (Debian poppler-utils)")
    return path


def test_pdf_pages_render_and_are_not_blank(tmp_path: Path, store_populator) -> None:  # type: ignore[no-untyped-def]
    store = tmp_path / "flockview.duckdb"
    store_populator(store, timedelta(days=7), datetime(2026, 11, 2, tzinfo=UTC), _counts).release(3)
    written = write_reports(store, tmp_path / "reports", formats=["pdf"])
    pdf = written["pdf"]
    assert list(written) == ["pdf"] and pdf.name == "flockview-report-2026-W47.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    subprocess.run(
        [_needs("pdftoppm"), "-r", "50", "-png", str(pdf), str(tmp_path / "page")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) >= 4, "summary, domains, details and methodology should take several pages"
    for page in pages:
        with Image.open(page) as image:
            grey = image.convert("L")
            stat = ImageStat.Stat(grey)
            assert stat.stddev[0] > 8, f"{page.name} looks blank (pixel standard deviation {stat.stddev[0]:.1f})"
            assert grey.getextrema()[0] < 100, f"{page.name} has no dark pixels (no text)"
    text = subprocess.run(
        [_needs("pdftotext"), "-f", "1", "-l", "1", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "Flockview weekly policy report: 2026-W47" in text and "Summary" in text and "Privacy." in text
    assert "Methodology and privacy" not in text  # the first page is the one-page summary
