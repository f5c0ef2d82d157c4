"""The provider SDK against a real embedded broker: delivery, broker restarts, the spool across a process
restart, duplicate removal downstream, and the worker's verifier refusing altered or forged records."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from analytics.families import load_families
from analytics.worker.aggregator import WindowAggregator
from analytics.worker.verify import verify_record
from ingest.contract.records import PROVIDER_HEADER, SIGNATURE_HEADER
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import new_signing_key, private_key_to_text, public_key_to_text
from ingest.contract.topics import EVENTS_TOPIC, actor_partition_hash
from ingest.devtools.broker import EmbeddedBroker
from ingest.sdk.admin import ensure_topics
from ingest.sdk.client import Client

pytestmark = pytest.mark.integration
FIELDS: dict[str, Any] = dict(
    category="cyber.malware",
    detection_stage="input_filter",
    action="block",
    surface="api",
    model_family="acme-large",
    score=0.97,
    technique="roleplay",
    jurisdiction="DE",
    language="de",
)
FAST_RETRY = dict(delivery_timeout_s=3.0, max_block_s=1.0, retry_backoff_s=0.2, retry_backoff_max_s=1.0, linger_ms=20)


def read_records(bootstrap: str) -> list[Any]:
    """Every record on the events topic, from the beginning."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
        max_partition_fetch_bytes=8 << 20,
        fetch_max_bytes=32 << 20,
    )
    consumer.assign([TopicPartition(EVENTS_TOPIC, p) for p in consumer.partitions_for_topic(EVENTS_TOPIC)])
    records = list(consumer)
    consumer.close()
    return records


def event_ids(records: list[Any]) -> list[str]:
    return [e["event_id"] for r in records for e in json.loads(r.value)["events"]]


def registry(provider) -> ProviderRegistry:  # type: ignore[no-untyped-def]
    return ProviderRegistry.from_mapping({provider.name: public_key_to_text(provider.signing_key.public_key())})


def new_client(provider, bootstrap: str, spool: Path, **settings: Any) -> Client:  # type: ignore[no-untyped-def]
    return Client(provider.name, provider.pseudonym_key, provider.signing_key, bootstrap, spool_dir=spool, **settings)


def emit(client: Client, n: int, users: int = 300) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    for i, eid in enumerate(ids):
        assert client.emit(user_id=f"raw-user-{i % users}", event_id=eid, **FIELDS)
    return ids


@pytest.fixture
def topics(broker: EmbeddedBroker) -> Iterator[EmbeddedBroker]:
    ensure_topics(broker.bootstrap_servers)
    yield broker


def test_everything_emitted_is_delivered_verified_and_partitioned_by_actor(
    topics: EmbeddedBroker, provider, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    with new_client(provider, topics.bootstrap_servers, tmp_path / "spool") as client:
        ids = emit(client, 20_000)
        assert client.flush(60)
        stats = client.stats()
    assert stats.delivered_events == 20_000 and stats.spooled_records == 0 and stats.dropped_queue_full == 0
    records = read_records(topics.bootstrap_servers)
    assert sorted(event_ids(records)) == sorted(ids)
    assert len(records) < 20_000 / 10  # batched: many events per record
    now = datetime.now(UTC)
    for record in records:
        verified = verify_record(record.value, record.headers, registry(provider), timedelta(minutes=5), now)
        assert not verified.rejections and verified.events
        assert {actor_partition_hash(e.actor) % 4 for e in verified.events} == {record.partition}
        assert b"raw-user-" not in record.value


def test_broker_restarted_mid_stream_loses_nothing_once_the_spool_drains(
    topics: EmbeddedBroker, provider, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    client = new_client(provider, topics.bootstrap_servers, tmp_path / "spool", **FAST_RETRY)
    before = emit(client, 2_000)
    assert client.flush(30) and sorted(event_ids(read_records(topics.bootstrap_servers))) == sorted(before)

    during: list[str] = []
    third = threading.Event()

    def stream() -> None:
        for chunk in range(40):
            during.extend(emit(client, 150))
            if chunk == 10:
                third.set()
            time.sleep(0.1)

    emitter = threading.Thread(target=stream)
    emitter.start()
    assert third.wait(60)
    topics.stop(grace=0.1)  # SIGTERM, then SIGKILL: memory storage, everything on it is gone
    acked_by_old_broker = client.stats().delivered_events - len(before)
    emitter.join(120)
    deadline = time.monotonic() + 30
    while client.stats().spool_records == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.stats().spool_records > 0 and not client.stats().broker_up

    with EmbeddedBroker(port=topics.port, log_path=tmp_path / "broker2.log") as restarted:
        ensure_topics(restarted.bootstrap_servers)
        assert client.flush(90), client.stats()
        stats = client.stats()
        arrived = set(event_ids(read_records(restarted.bootstrap_servers)))
        client.close()
    assert stats.spool_records == 0 and stats.drained_records > 0
    assert stats.delivered_events == len(before) + len(during) == stats.emitted
    # Every event emitted during the outage arrived, except those the old broker had acknowledged
    # (and then lost with its memory storage).
    assert arrived <= set(during)
    assert len(set(during) - arrived) == acked_by_old_broker


PROVIDER_SCRIPT = textwrap.dedent("""
    import json, sys, uuid
    from ingest.sdk.client import Client
    secret, key, bootstrap, spool, out = sys.argv[1:6]
    client = Client("acme-ai", bytes.fromhex(secret), key, bootstrap, spool_dir=spool, delivery_timeout_s=2,
                    max_block_s=0.5, atexit_flush_s=3)
    ids = [str(uuid.uuid4()) for _ in range(3000)]
    for i, eid in enumerate(ids):
        client.emit(user_id=f"user-{i % 50}", event_id=eid, category="fraud.scam", detection_stage="account_monitor",
                    action="suspend", surface="consumer_app", model_family="acme-chat", score=0.91,
                    jurisdiction="BR", language="pt")
    open(out, "w").write(json.dumps(ids))
    if sys.argv[6] == "kill":  # wait until everything is on disk, say so, and wait for SIGKILL
        import time
        while client.stats().spooled_events < len(ids):
            time.sleep(0.05)
        print("spooled", flush=True)
        time.sleep(600)
    # Otherwise no close(): the atexit hook must put what the dead broker did not take into the spool.
""")


def run_provider(script: Path, provider, bootstrap: str, spool: Path, out: Path, mode: str) -> None:  # type: ignore[no-untyped-def]
    argv = [
        sys.executable,
        str(script),
        provider.pseudonym_key.hex(),
        private_key_to_text(provider.signing_key),
        bootstrap,
        str(spool),
        str(out),
        mode,
    ]
    if mode == "exit":
        done = subprocess.run(argv, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        return
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"spooled"
    finally:
        proc.kill()  # kill -9: no atexit, no close
        proc.wait(30)


@pytest.mark.parametrize("mode", ["exit", "kill"])
def test_the_spool_survives_a_provider_process_restart(provider, tmp_path: Path, mode: str) -> None:  # type: ignore[no-untyped-def]
    dead = EmbeddedBroker(log_path=tmp_path / "broker.log")  # a free port nothing listens on yet
    spool, out = tmp_path / "spool", tmp_path / "ids.json"
    script = tmp_path / "provider.py"
    script.write_text(PROVIDER_SCRIPT)
    run_provider(script, provider, dead.bootstrap_servers, spool, out, mode)
    assert list(spool.glob("*.rec")), "the provider process ended without spooling"
    ids = json.loads(out.read_text())

    with dead as broker:
        ensure_topics(broker.bootstrap_servers)
        with new_client(provider, broker.bootstrap_servers, spool, **FAST_RETRY) as client:
            assert client.flush(60), client.stats()
            assert client.stats().drained_records > 0
        assert sorted(event_ids(read_records(broker.bootstrap_servers))) == sorted(ids)
    assert not list(spool.glob("*.rec"))


def test_retried_duplicates_are_dropped_downstream(topics: EmbeddedBroker, provider, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with new_client(provider, topics.bootstrap_servers, tmp_path / "spool") as client:
        ids = emit(client, 3_000)
        assert client.flush(30)
    first = read_records(topics.bootstrap_servers)
    producer = KafkaProducer(bootstrap_servers=topics.bootstrap_servers)
    for record in first[:3]:  # what a retry after a lost acknowledgement puts on the topic again
        producer.send(EVENTS_TOPIC, value=record.value, headers=record.headers, partition=record.partition)
    producer.flush(30)
    producer.close()
    duplicated = sum(len(json.loads(r.value)["events"]) for r in first[:3])
    records = read_records(topics.bootstrap_servers)
    assert len(event_ids(records)) == 3_000 + duplicated

    aggregator = WindowAggregator(load_families(), timedelta(days=7), timedelta(hours=1))
    for record in records:
        verified = verify_record(record.value, record.headers, registry(provider), timedelta(minutes=5))
        assert not verified.rejections
        aggregator.add_batch(verified.events)
    assert aggregator.metrics.duplicates == duplicated
    assert len(set(ids)) == 3_000


def test_altered_or_forged_records_are_rejected_by_the_worker_verifier(
    topics: EmbeddedBroker, provider, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    with new_client(provider, topics.bootstrap_servers, tmp_path / "spool") as client:
        emit(client, 50)
        assert client.flush(30)
    record = read_records(topics.bootstrap_servers)[0]
    reg, skew = registry(provider), timedelta(minutes=5)
    assert verify_record(record.value, record.headers, reg, skew).events

    altered = record.value.replace(b'"action":"block"', b'"action":"allow"', 1)
    assert altered != record.value
    forger = new_signing_key()
    forged_headers = [(PROVIDER_HEADER, b"acme-ai"), (SIGNATURE_HEADER, forger.sign(record.value))]
    cases = {
        "bad_signature": [
            (altered, record.headers),
            (record.value, forged_headers),
            (record.value, [(PROVIDER_HEADER, b"acme-ai")]),
        ],
        "unknown_provider": [(record.value, [(PROVIDER_HEADER, b"evil-co"), (SIGNATURE_HEADER, b"0" * 64)])],
    }
    for reason, variants in cases.items():
        for value, headers in variants:
            verified = verify_record(value, headers, reg, skew)
            assert not verified.events and [r.reason_code for r in verified.rejections] == [reason]


def test_provider_guide_example_runs_as_written(
    topics: EmbeddedBroker, provider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from ingest.contract.keys import ProviderKeys

    guide = (Path(__file__).resolve().parents[2] / "docs" / "provider-guide.md").read_text()
    section = guide.split("## A ten-line integration", 1)[1]
    code = section.split("```python\n", 1)[1].split("\n```", 1)[0]
    assert len([line for line in code.splitlines() if line.strip()]) <= 10
    ProviderKeys(provider.name, provider.signing_key, provider.pseudonym_key).write(
        tmp_path / "acme-ai.credentials.toml"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    exec(code.replace("127.0.0.1:9092", topics.bootstrap_servers), {})
    [record] = read_records(topics.bootstrap_servers)
    [event] = verify_record(record.value, record.headers, registry(provider), timedelta(minutes=5)).events
    assert event.category == "cbrn.chem" and event.action == "block" and b"user-8812" not in record.value

    testing = guide.split("## Testing your integration without a broker", 1)[1].split("```python\n", 1)[1]
    exec(
        testing.split("\n```", 1)[0], {"Client": Client, "SECRET": provider.pseudonym_key, "KEY": provider.signing_key}
    )
