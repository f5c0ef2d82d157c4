"""Flockview's analytics: windows, contribution bounding, OpenDP releases, the budget ledger and the store.

Windowing, bounding and DP code is plain Python (no Kafka, no Faust); ``analytics.stream`` is the thin
Faust adapter that feeds it.

Modules:
    families: declarative report families (``families.toml``).
    windows: tumbling windows on event time.
    bounding: per-actor contribution bounds (K cells, L events per cell).
    aggregator: windowed, bounded, de-duplicated counting.
    privacy: ``RhoBudget`` and the OpenDP discrete Gaussian.
    release: the release step and the budget caps (``Releaser``, ``BudgetPolicy``).
    store: the DuckDB store (``Store`` writer, ``ReadOnlyStore`` reader).
    budget: the ledger summary behind ``flockview budget``.
    report: the weekly policy report.
    settings: ``WorkerSettings``.
    stream: the Faust worker.
    up: the demo stack behind ``flockview up``.
    cli: the ``flockview`` command line.
"""

from analytics.errors import AnalyticsError, BudgetExceededError, EmptyStoreError, FamilySpecError, StoreError
from analytics.families import ReportFamily, load_families
from analytics.privacy import RhoBudget
from analytics.release import BudgetPolicy, Releaser
from analytics.store import ReadOnlyStore, Store

__all__ = [
    "AnalyticsError",
    "BudgetExceededError",
    "BudgetPolicy",
    "EmptyStoreError",
    "FamilySpecError",
    "ReadOnlyStore",
    "Releaser",
    "ReportFamily",
    "RhoBudget",
    "Store",
    "StoreError",
    "load_families",
]
