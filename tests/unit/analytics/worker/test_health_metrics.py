"""A worker's operational metrics: Prometheus counters and gauges in a registry of its own, served on
127.0.0.1 by default, and never written to the analyst store."""

from __future__ import annotations

import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from analytics.settings import WorkerSettings
from analytics.store import ReadOnlyStore, Store
from analytics.store.schema import MIGRATIONS
from analytics.worker.health import GAUGES, IngestMetrics, MetricsEndpointError, WorkerMetrics


def _interval(events: int) -> IngestMetrics:
    return IngestMetrics(
        events_in=Counter({"acme-ai": events, "open-host": 2}),
        rejected=Counter({"bad_signature": 1}),
        dropped_by_bounding=Counter({"events_by_category": 4}),
        duplicates=3,
        late=5,
        skipped_replayed=0,
        batch_failures=1,
    )


def _samples(metrics: WorkerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in metrics.registry.collect():
        for sample in family.samples:
            if not sample.name.endswith("_created"):
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def test_counters_add_up_over_intervals_and_gauges_hold_the_latest() -> None:
    metrics = WorkerMetrics("worker-a")
    metrics.record(_interval(10), {"open_windows": 2.0, "consumer_lag": 40.0, "partitions_owned": 4.0})
    metrics.record(_interval(7), {"open_windows": 1.0, "consumer_lag": 0.0, "partitions_owned": 4.0})
    samples = _samples(metrics)
    assert samples[("flockview_events_in_total", (("provider", "acme-ai"),))] == 17
    assert samples[("flockview_events_in_total", (("provider", "open-host"),))] == 4
    assert samples[("flockview_rejected_total", (("reason", "bad_signature"),))] == 2
    assert samples[("flockview_dropped_by_bounding_total", (("family", "events_by_category"),))] == 8
    assert samples[("flockview_duplicates_total", ())] == 6
    assert samples[("flockview_late_total", ())] == 10
    assert samples[("flockview_batch_failures_total", ())] == 2
    assert samples[("flockview_open_windows", ())] == 1 and samples[("flockview_consumer_lag", ())] == 0
    assert {f"flockview_{g}" for g in GAUGES} <= {name for name, _ in samples}


def test_labels_are_providers_reasons_and_families_never_an_events_dimensions() -> None:
    metrics = WorkerMetrics("worker-a")
    metrics.record(_interval(1), {})
    labels = {key for _, pairs in _samples(metrics) for key, _ in pairs}
    assert labels == {"provider", "reason", "family"}


def test_each_worker_has_its_own_registry_and_serves_it_on_loopback() -> None:
    first, second = WorkerMetrics("worker-a"), WorkerMetrics("worker-b")
    try:
        first.record(_interval(10), {"partitions_owned": 2.0})
        second.record(_interval(1), {"partitions_owned": 1.0})
        where = [m.serve(WorkerSettings().metrics_address, 0) for m in (first, second)]
        assert [address for address, _ in where] == ["127.0.0.1", "127.0.0.1"]
        texts = []
        for address, port in where:
            with urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=5) as response:
                texts.append(response.read().decode())
    finally:
        first.stop()
        second.stop()
    events = [
        sum(
            s.value
            for f in text_string_to_metric_families(t)
            for s in f.samples
            if s.name == "flockview_events_in_total"
        )
        for t in texts
    ]
    assert events == [12, 3]


def test_a_taken_port_is_one_clear_error() -> None:
    first = WorkerMetrics("worker-a")
    _, port = first.serve("127.0.0.1", 0)
    try:
        with pytest.raises(MetricsEndpointError, match=f"127.0.0.1:{port}.*metrics_port"):
            WorkerMetrics("worker-b").serve("127.0.0.1", port)
    finally:
        first.stop()


def test_the_default_endpoint_listens_on_loopback_only() -> None:
    settings = WorkerSettings()
    assert settings.metrics_address == "127.0.0.1" and settings.metrics_port > 0


def test_operational_metrics_never_reach_the_store(tmp_path: Path) -> None:
    assert "drop_health_operational_metrics" in [m.name for m in MIGRATIONS]
    store = Store(tmp_path / "store.duckdb")
    assert "health" not in ReadOnlyStore(store.path).tables()
    with store.transaction() as con:  # a store written before the migration held the health table
        con.execute("CREATE TABLE health (recorded_at TIMESTAMPTZ, metric VARCHAR, value DOUBLE)")
        con.execute("DELETE FROM store_migrations WHERE name = 'drop_health_operational_metrics'")
    assert "drop_health_operational_metrics" in Store(store.path).migrate()
    with store.transaction() as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "health" not in tables
