"""Flockview's analytics: from verified events to differentially private releases in DuckDB.

A folder says who may import whom (import-linter contracts in the test suite keep it true):

Packages:
    privacy: the DP core a reviewer opens first: budgets, the bounding rule, OpenDP mechanisms,
        selection, post-processing, the ledger and the release step. No Faust, no Kafka.
    worker: exact, private counting of one worker's partitions (columns, slots, state, gather,
        verify, decode); no Faust.
    stream: the Faust app and agents only: a thin adapter over ``worker``.
    store: the DuckDB store, its named migrations and every query against its schema.
    reporting: the weekly policy report (HTML, Markdown, PDF) from released data only.

Modules:
    families: declarative report families (``families.toml``).
    windows: tumbling windows on event time.
    settings: ``WorkerSettings``.
    demo: the embedded stack behind ``flockview up``.
    cli: the ``flockview`` command line.
    errors: the package's exceptions.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics.errors import AnalyticsError, BudgetExceededError, EmptyStoreError, FamilySpecError, StoreError
    from analytics.families import ReportFamily, load_families
    from analytics.privacy.budget import RhoBudget
    from analytics.privacy.ledger import BudgetPolicy
    from analytics.privacy.release import Releaser
    from analytics.store import ReadOnlyStore, Store

# Loaded on first use, so that a module such as the decode process's imports no OpenDP, DuckDB or pandas.
_WHERE = {
    "AnalyticsError": "analytics.errors",
    "BudgetExceededError": "analytics.errors",
    "EmptyStoreError": "analytics.errors",
    "FamilySpecError": "analytics.errors",
    "StoreError": "analytics.errors",
    "ReportFamily": "analytics.families",
    "load_families": "analytics.families",
    "RhoBudget": "analytics.privacy.budget",
    "BudgetPolicy": "analytics.privacy.ledger",
    "Releaser": "analytics.privacy.release",
    "ReadOnlyStore": "analytics.store",
    "Store": "analytics.store",
}
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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
