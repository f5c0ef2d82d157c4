"""Flockview's analytics: windows, contribution bounding, OpenDP releases, the budget ledger and the store.

Windowing, bounding and DP code is plain Python (no Kafka, no Faust); ``analytics.stream`` is the thin
Faust adapter that feeds it.

Modules:
    families: declarative report families (``families.toml``).
    windows: tumbling windows on event time.
    bounding: per-actor contribution bounds (K cells, L events per cell).
    seen: exact duplicate-id memory per window.
    aggregator: windowed, bounded, de-duplicated counting for one partition.
    state: the worker's private per-partition state (SQLite, with the source offset).
    gather: closed-window summaries of all partitions joined into whole windows.
    health: operational totals for the dashboard's data-health page.
    privacy: ``RhoBudget`` and the OpenDP discrete Gaussian.
    selection: DP partition selection for open vocabularies (OpenDP Gaussian threshold).
    continual: year-to-date totals by binary-tree continual release.
    postprocess: non-negativity and totals consistent with their parts (no budget cost).
    release: the release step (``Releaser``).
    budget: ``BudgetPolicy``, the ledger and the summary behind ``flockview budget``.
    store: the DuckDB store (``Store`` writer, ``ReadOnlyStore`` reader) and its migrations.
    reporting: the weekly policy report (HTML, Markdown, PDF); ``report`` keeps the old entry points.
    settings: ``WorkerSettings``.
    stream: the Faust worker.
    up: the demo stack behind ``flockview up``.
    cli: the ``flockview`` command line.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

# Loaded on first use, so that a module such as the decode process's imports no OpenDP, DuckDB or pandas.
_WHERE = {
    "AnalyticsError": "analytics.errors", "BudgetExceededError": "analytics.errors",
    "EmptyStoreError": "analytics.errors", "FamilySpecError": "analytics.errors", "StoreError": "analytics.errors",
    "ReportFamily": "analytics.families", "load_families": "analytics.families", "RhoBudget": "analytics.privacy",
    "BudgetPolicy": "analytics.release", "Releaser": "analytics.release", "ReadOnlyStore": "analytics.store",
    "Store": "analytics.store",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
