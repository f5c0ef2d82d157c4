"""The weekly policy report, built from released data only.

Modules:

* :mod:`~analytics.reporting.model` — gathers one window's released cells, ledger and year-to-date line.
* :mod:`~analytics.reporting.stats` — the noise-aware change test (Gaussian difference vs 1.96·√(σ₁²+σ₂²)).
* :mod:`~analytics.reporting.findings` — domains, techniques, funnel, surfaces, jurisdictions.
* :mod:`~analytics.reporting.accounting` — ρ and (ε, δ) spent this period and this year, from the ledger.
* :mod:`~analytics.reporting.summary`, :mod:`~analytics.reporting.sections`,
  :mod:`~analytics.reporting.methodology` — the wording, as a :mod:`~analytics.reporting.document` tree.
* :mod:`~analytics.reporting.markdown`, :mod:`~analytics.reporting.html`, :mod:`~analytics.reporting.pdf`,
  :mod:`~analytics.reporting.charts` — the formats (WeasyPrint for PDF, matplotlib for charts).
* :mod:`~analytics.reporting.build` — writes the files; :mod:`~analytics.reporting.auto` — the worker's hook;
  :mod:`~analytics.reporting.archive` — file names and the listing of past reports.
"""

from __future__ import annotations

import importlib
from typing import Any

from analytics.reporting.archive import ArchivedReport, list_reports, report_filename

# The rest loads on first use, so the dashboard's reports page (which only lists files) does not pull
# in matplotlib and WeasyPrint.
_LAZY = {
    "generate_if_week_released": "analytics.reporting.auto",
    "build_document": "analytics.reporting.build",
    "parse_formats": "analytics.reporting.build",
    "write_reports": "analytics.reporting.build",
    "PartialWeekError": "analytics.reporting.model",
    "WeeklyReport": "analytics.reporting.model",
    "gather": "analytics.reporting.model",
    "PdfUnavailableError": "analytics.reporting.pdf",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'analytics.reporting' has no attribute {name!r}")


__all__ = ["ArchivedReport", "list_reports", "report_filename", *_LAZY]
