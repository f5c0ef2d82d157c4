"""Operational metrics of a worker, for operators only: a Prometheus endpoint and the log.

Every figure is a total over all actors (counters) or a current value (gauges): events in by
provider, records or events rejected by reason, duplicates, late events, events dropped by
contribution bounding (per report family), open windows, active actor-windows, state bytes,
partitions owned and consumer lag. None is kept per actor or broken down by an event's dimensions.

They are exact, so one actor moves them (a small provider's events-in answers "was someone flagged
at 03:14"): they are never written to the analyst store, the dashboard or the report. Each worker
serves them on its own endpoint (:class:`WorkerMetrics`, bound to 127.0.0.1 unless an operator
chooses another address), to be scraped and access-controlled like the worker's state.
"""

from __future__ import annotations

import logging
import socket
from collections import Counter
from dataclasses import dataclass, field
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Gauge, start_http_server
from prometheus_client import Counter as PromCounter

from analytics.errors import AnalyticsError

log = logging.getLogger("flockview.worker")

__all__ = ["GAUGES", "IngestMetrics", "MetricsEndpointError", "WorkerMetrics"]


class MetricsEndpointError(AnalyticsError, OSError):
    """The metrics endpoint could not listen on the address and port it was given."""


@dataclass
class IngestMetrics:
    """Counters since they were last taken (:meth:`take`). Aggregates only."""

    events_in: Counter[str] = field(default_factory=Counter)  # by provider
    rejected: Counter[str] = field(default_factory=Counter)  # by reason code
    dropped_by_bounding: Counter[str] = field(default_factory=Counter)  # by report family
    duplicates: int = 0
    late: int = 0
    skipped_replayed: int = 0  # records at or below a partition's stored offset, seen again after a restart
    batch_failures: int = 0

    def summary(self) -> str:
        """One log line of totals (no per-cell or per-actor figures)."""
        rejected = ", ".join(f"{k}={v}" for k, v in sorted(self.rejected.items())) or "none"
        return (
            f"events_in={sum(self.events_in.values())} duplicates={self.duplicates} late={self.late} "
            f"dropped_by_bounding(event x family)={sum(self.dropped_by_bounding.values())} "
            f"replayed_records_skipped={self.skipped_replayed} batch_failures={self.batch_failures} "
            f"rejected: {rejected}"
        )

    def take(self) -> IngestMetrics:
        """A copy of the counters, which are reset in place (partitions keep a reference to this object)."""
        snapshot = IngestMetrics(
            Counter(self.events_in),
            Counter(self.rejected),
            Counter(self.dropped_by_bounding),
            self.duplicates,
            self.late,
            self.skipped_replayed,
            self.batch_failures,
        )
        self.events_in.clear()
        self.rejected.clear()
        self.dropped_by_bounding.clear()
        self.duplicates = self.late = self.skipped_replayed = self.batch_failures = 0
        return snapshot


#: The gauges a worker reports, with their help text.
GAUGES = {
    "open_windows": "Windows open in the partitions this worker owns.",
    "active_actor_windows": "Actor-windows held in the open windows' state.",
    "state_bytes": "Bytes of the open windows' key sets, slots and counts.",
    "partitions_owned": "Partitions of the events topic this worker owns.",
    "consumer_lag": "Records of the owned partitions not yet processed (unknown before the first fetch).",
}


class WorkerMetrics:
    """One worker's Prometheus metrics, in a registry of its own (so several can live in one process).

    Counters only grow: each :meth:`record` adds what :meth:`IngestMetrics.take` took since the last.
    """

    def __init__(self, worker: str) -> None:
        self.registry = CollectorRegistry()
        self.worker = worker
        self._server: WSGIServer | None = None
        self._thread: Thread | None = None

        def counter(name: str, text: str, *labels: str) -> PromCounter:
            return PromCounter(f"flockview_{name}", text, list(labels), registry=self.registry)

        self.events_in = counter("events_in", "Events accepted, by provider.", "provider")
        self.rejected = counter("rejected", "Records or events sent to the DLQ, by reason code.", "reason")
        self.dropped_by_bounding = counter(
            "dropped_by_bounding", "Events cut by contribution bounding, by report family (event x family).", "family"
        )
        self.duplicates = counter("duplicates", "Events seen again (same provider, actor and event id).")
        self.late = counter("late", "Events for a window already closed.")
        self.replayed = counter("replayed_records_skipped", "Records at or below a partition's stored offset.")
        self.batch_failures = counter("batch_failures", "Batches that raised and were redone record by record.")
        self.gauges = {name: Gauge(f"flockview_{name}", text, registry=self.registry) for name, text in GAUGES.items()}

    def record(self, taken: IngestMetrics, gauges: dict[str, float]) -> None:
        """Add one interval's counters and set the current gauges."""
        for provider, n in taken.events_in.items():
            self.events_in.labels(provider).inc(n)
        for reason, n in taken.rejected.items():
            self.rejected.labels(reason).inc(n)
        for family, n in taken.dropped_by_bounding.items():
            self.dropped_by_bounding.labels(family).inc(n)
        self.duplicates.inc(taken.duplicates)
        self.late.inc(taken.late)
        self.replayed.inc(taken.skipped_replayed)
        self.batch_failures.inc(taken.batch_failures)
        for name, value in gauges.items():
            if name in self.gauges:
                self.gauges[name].set(value)

    def serve(self, address: str, port: int) -> tuple[str, int]:
        """Serve ``/metrics`` on ``address``:``port`` (0: a free port) in a daemon thread; returns where.

        Raises:
            MetricsEndpointError: The address cannot be listened on (taken port, unknown address).
        """
        try:
            self._server, self._thread = start_http_server(port, addr=address, registry=self.registry)
        except (OSError, socket.gaierror) as exc:
            raise MetricsEndpointError(
                f"the worker's metrics endpoint cannot listen on {address}:{port}: {exc}; "
                "choose another metrics_port (0 picks a free one) or metrics_address"
            ) from None
        bound = self._server.server_address[1]
        log.info("operational metrics (operators only) at http://%s:%d/metrics", address, bound)
        return address, int(bound)

    def stop(self) -> None:
        """Stop the endpoint, if it runs."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
