"""The Faust stream layer: a thin adapter from Kafka records to the plain-Python aggregation and release.

Modules:
    app: builds the ``faust.App`` and its topics from :class:`analytics.settings.WorkerSettings`.
    verify: record verification (signature, schema, clock skew) and dead-letter messages.
    agents: the agent that consumes events and the timer that closes windows.
    __main__: ``python -m analytics.stream`` runs a worker.
"""

from analytics.stream.app import build_worker, run_worker

__all__ = ["build_worker", "run_worker"]
