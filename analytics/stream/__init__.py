"""The Faust stream layer, the only package that imports Faust: a thin adapter over ``analytics.worker``.

Modules:
    app: builds the ``faust.App`` and its topics from :class:`analytics.settings.WorkerSettings`.
    agents: the batch agent, the window and health timers, and the gathering task.
    batches: batches that fill while the previous one is counted, acked once counted.
    __main__: ``python -m analytics.stream`` runs a worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from analytics.stream.app import build_worker, run_worker

__all__ = ["build_worker", "run_worker"]


def __getattr__(name: str) -> Any:
    # Imported on first use: importing this package must not start Faust's import chain.
    if name in __all__:
        from analytics.stream import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
