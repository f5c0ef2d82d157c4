"""The Faust stream layer: a thin adapter from Kafka records to the plain-Python aggregation and release.

Modules:
    app: builds the ``faust.App`` and its topics from :class:`analytics.settings.WorkerSettings`.
    verify: record verification (signature, schema, clock skew) and dead-letter messages.
    agents: the agent that consumes events and the timer that closes windows.
    __main__: ``python -m analytics.stream`` runs a worker.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_worker", "run_worker"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the decode process imports this package's decoder without Faust and DuckDB.
    if name in __all__:
        from analytics.stream import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
