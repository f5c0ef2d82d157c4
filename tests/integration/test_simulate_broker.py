"""The simulator against a real embedded broker: every record it sends decodes and verifies (or, forged, fails)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from ingest.contract.records import decode_record
from ingest.contract.topics import DEFAULT_PARTITIONS, EVENTS_TOPIC, actor_partition_hash
from ingest.devtools.broker import EmbeddedBroker
from ingest.devtools.simulate import Simulator, campaign_preset, demo_providers, demo_registry, provider_credentials
from ingest.errors import SignatureError
from ingest.sdk.admin import ensure_topics

pytestmark = pytest.mark.integration


@pytest.fixture
def bootstrap(tmp_path: Path) -> Iterator[str]:
    with EmbeddedBroker(log_path=tmp_path / "broker.log") as broker:
        ensure_topics(broker.bootstrap_servers)
        yield broker.bootstrap_servers


def event_count(records: list[ConsumerRecord]) -> int:
    return sum(len(json.loads(r.value)["events"]) for r in records)


def read_all(bootstrap: str, expected: int, timeout: float = 30.0) -> list[ConsumerRecord]:
    """Every record of the events topic (until ``expected`` events have arrived): all partitions assigned,
    no consumer group (so no join delay)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
    try:
        partitions = consumer.partitions_for_topic(EVENTS_TOPIC) or set()
        consumer.assign([TopicPartition(EVENTS_TOPIC, p) for p in partitions])
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        while event_count(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                records.extend(batch)
        time.sleep(0.5)  # anything beyond the expected count would be a bug: give it a chance to show
        for batch in consumer.poll(timeout_ms=500).values():
            records.extend(batch)
        return records
    finally:
        consumer.close()


def test_simulated_records_decode_and_verify(bootstrap: str) -> None:
    providers = demo_providers()
    credentials = provider_credentials([p.name for p in providers], seed=5)
    sim = Simulator(
        providers,
        credentials,
        bootstrap,
        rate=4_000.0,
        seed=5,
        bad_events=0.02,
        campaign=campaign_preset("cbrn-bio-lrl", start_after=0.1, duration=0.2),
    )
    summary = sim.run(max_events=2_000)
    assert summary.sent == 2_000 and not summary.interrupted
    assert 0 < summary.forged < 100 and summary.campaign_events > 0

    records = read_all(bootstrap, expected=2_000)
    assert event_count(records) == summary.sent
    assert len(records) < summary.sent  # the SDK batches several events per record
    registry = demo_registry(credentials)
    verified, forged, by_provider, by_category = 0, 0, Counter[str](), Counter[str]()
    for record in records:
        body = json.loads(record.value)
        by_provider[body["provider"]] += len(body["events"])
        by_category.update(e["category"] for e in body["events"])
        assert b"-user-" not in record.value  # raw ids never leave the SDK
        try:
            decoded = decode_record(record.value, record.headers, registry)
        except SignatureError:
            forged += len(body["events"])
            continue
        assert not decoded.rejected and len(decoded.events) == len(body["events"])
        # the fixture's topic has DEFAULT_PARTITIONS partitions; an actor's events all go to one of them
        assert all(actor_partition_hash(e.actor) % DEFAULT_PARTITIONS == record.partition for e in decoded.events)
        verified += len(decoded.events)
    assert forged == summary.forged
    assert verified == summary.sent - summary.forged
    assert by_provider == summary.by_provider
    assert by_category == summary.by_category


def test_stop_ends_an_unbounded_run_promptly(bootstrap: str) -> None:
    providers = demo_providers(["chatterly", "openhub"])
    sim = Simulator(providers, provider_credentials([p.name for p in providers]), bootstrap, rate=200.0)
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(sim.run()), daemon=True)
    thread.start()
    time.sleep(1.5)
    stopped_at = time.monotonic()
    sim.stop()
    thread.join(timeout=15)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 5
    summary = result[0]
    assert summary.sent > 50  # type: ignore[attr-defined]
    assert event_count(read_all(bootstrap, expected=summary.sent)) == summary.sent  # type: ignore[attr-defined]
