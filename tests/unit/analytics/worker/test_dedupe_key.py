"""Duplicates are removed by (provider, actor, event id), not by the event id alone (issue 15, item 8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from analytics.families import load_families
from analytics.worker.aggregator import WindowAggregator, seconds_since_epoch
from analytics.worker.columns import dedupe_keys, profile_fields, provider_key
from analytics.worker.decode import FastDecoder
from analytics.worker.health import IngestMetrics
from analytics.worker.partition import IncomingRecord, PartitionConfig, PartitionWorker
from ingest.contract.events import Event, parse_event
from ingest.contract.records import encode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import new_signing_key, public_key_to_text

KEYS = {name: new_signing_key() for name in ("acme-ai", "other-lab")}
REGISTRY = ProviderRegistry.from_mapping({n: public_key_to_text(k.public_key()) for n, k in KEYS.items()})
FAMILIES = load_families()
NOW = datetime(2026, 11, 29, tzinfo=UTC)
EVENT_ID = "00000000-0000-4000-8000-000000000001"


def event(provider: str, actor: str, event_id: str = EVENT_ID) -> Event:
    return parse_event(
        {
            "event_id": event_id,
            "occurred_at": (NOW - timedelta(hours=1)).isoformat(),
            "provider": provider,
            "actor": actor,
            "surface": "api",
            "model_family": "acme-large",
            "detection_stage": "input_filter",
            "category": "cbrn.bio",
            "action": "block",
            "score": 0.5,
            "jurisdiction": "DE",
            "language": "de",
        }
    )


def counted(events: list[Event]) -> tuple[int, int]:
    """(events counted in events_by_category, duplicates) after one aggregator sees ``events``."""
    metrics = IngestMetrics()
    aggregator = WindowAggregator(FAMILIES, timedelta(days=7), timedelta(days=1), metrics)
    for e in events:
        aggregator.add(e)
    (closed,) = [c for c in aggregator.close_ready(NOW + timedelta(days=30)) if "events_by_category" in c.counts]
    return sum(closed.counts["events_by_category"].values()), metrics.duplicates


def test_two_providers_events_with_one_event_id_both_count_and_a_true_duplicate_does_not() -> None:
    a, b = "0" * 64, "4" * 64  # both on partition 0 of 4
    assert counted([event("acme-ai", a), event("other-lab", a)]) == (2, 0)
    assert counted([event("acme-ai", a), event("acme-ai", b)]) == (2, 0)  # two actors of one provider
    assert counted([event("acme-ai", a), event("acme-ai", a)]) == (1, 1)  # the same event sent twice


def test_the_same_through_the_fast_decoder_and_a_partition_worker(tmp_path: Path) -> None:
    metrics = IngestMetrics()
    config = PartitionConfig(
        FAMILIES, timedelta(days=7), timedelta(days=1), timedelta(minutes=5), REGISTRY, metrics, "dlq", "s"
    )
    worker = PartitionWorker("events", 0, tmp_path, config)
    actor = "0" * 64
    values = [encode_record(p, [event(p, actor)], KEYS[p]) for p in ("acme-ai", "other-lab", "acme-ai")]
    records = [IncomingRecord(v, h, "events", 0, i) for i, (v, h) in enumerate(values)]
    decoded = FastDecoder(REGISTRY, profile_fields(FAMILIES)).decode_many(
        [(r.value, r.headers) for r in records], seconds_since_epoch(NOW), 0
    )
    assert decoded[1] == [1, 1, 1]
    worker.process(records, NOW, decoded)
    assert metrics.duplicates == 1
    closed = [c for c in worker.aggregator.close_ready(NOW + timedelta(days=30)) if "events_by_category" in c.counts]
    assert sum(closed[0].counts["events_by_category"].values()) == 2
    worker.close()


def test_dedupe_keys_differ_in_every_part_of_the_triple() -> None:
    actors = np.array([[1, 2], [1, 2], [1, 3], [1, 2]], np.uint64)
    ids = np.array([[5, 6], [5, 6], [5, 6], [5, 7]], np.uint64)
    origins = np.array([provider_key("acme-ai"), provider_key("other-lab")] + [provider_key("acme-ai")] * 2, np.uint64)
    keys = dedupe_keys(origins, actors, ids)
    assert len({tuple(k) for k in keys.tolist()}) == 4
    assert dedupe_keys(origins[:1], actors[:1], ids[:1]).tolist() == keys[:1].tolist()  # deterministic
