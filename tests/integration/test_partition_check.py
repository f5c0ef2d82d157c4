"""The partitioning rule on real processes: a signed record delivered on another partition than its
actor's goes to the DLQ as ``wrong_partition`` and is counted nowhere (issue 15, item 3)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from analytics.stream.app import ensure_summaries_topic
from analytics.windows import window_of
from ingest.contract.events import Event, parse_event
from ingest.contract.records import encode_record
from ingest.contract.topics import DLQ_TOPIC, EVENTS_TOPIC, actor_partition_hash, partition_of
from ingest.devtools.broker import EmbeddedBroker, terminate
from ingest.sdk.admin import ensure_topics

pytestmark = pytest.mark.integration

PARTITIONS = 4
WINDOW_S = 4.0
SINK_WORKER = Path(__file__).with_name("sink_worker.py")
FAMILIES_TOML = """
[[family]]
name = "events_by_category"
title = "t"
dimensions = ["category"]
bound_k = 2
bound_l = 3
weight = 1.0
"""
ON_1 = "1" * 64  # partition hash 0x11111111: partition 1 of 4
ON_0 = "4" * 64  # partition hash 0x44444444: partition 0 of 4


def event(provider: str, actor: str, at: datetime) -> Event:
    return parse_event(
        {
            "event_id": str(uuid.uuid4()),
            "occurred_at": at.isoformat(),
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


def start_worker(tmp_path: Path, broker: EmbeddedBroker, out: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ,
        FLOCKVIEW_WORKER_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        FLOCKVIEW_WORKER_STORE=str(tmp_path / "store.duckdb"),
        FLOCKVIEW_WORKER_REGISTRY=str(tmp_path / "providers.toml"),
        FLOCKVIEW_WORKER_FAMILIES=str(tmp_path / "families.toml"),
        FLOCKVIEW_WORKER_WINDOW_SECONDS=str(WINDOW_S),
        FLOCKVIEW_WORKER_LATENESS_SECONDS="1",
        FLOCKVIEW_WORKER_RHO_YEAR="1000",
        FLOCKVIEW_WORKER_PARTITIONS=str(PARTITIONS),
        FLOCKVIEW_WORKER_TICK_SECONDS="0.3",
        FLOCKVIEW_WORKER_METRICS_PORT="0",
        FLOCKVIEW_WORKER_DATADIR=str(tmp_path / "datadir"),
        FLOCKVIEW_WORKER_STATE_DIR=str(tmp_path / "state"),
    )
    log = (tmp_path / "worker.log").open("ab")
    return subprocess.Popen([sys.executable, str(SINK_WORKER), str(out)], env=env, stdout=log, stderr=subprocess.STDOUT)


def read_dlq(bootstrap: str, timeout: float = 60) -> list[dict[str, object]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=1000)
    consumer.assign([TopicPartition(DLQ_TOPIC, p) for p in consumer.partitions_for_topic(DLQ_TOPIC)])
    messages: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    while not messages and time.monotonic() < deadline:
        messages += [json.loads(m.value) for m in consumer]
    consumer.close()
    return messages


def test_a_record_on_the_wrong_partition_is_dead_lettered_and_counted_nowhere(
    broker: EmbeddedBroker, provider, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    assert partition_of(actor_partition_hash(ON_1), PARTITIONS) == 1
    assert partition_of(actor_partition_hash(ON_0), PARTITIONS) == 0
    ensure_topics(broker.bootstrap_servers, PARTITIONS)
    ensure_summaries_topic(broker.bootstrap_servers)
    (tmp_path / "providers.toml").write_text(provider.registry_toml())
    (tmp_path / "families.toml").write_text(FAMILIES_TOML)
    out = tmp_path / "sink"
    out.mkdir()
    worker = start_worker(tmp_path, broker, out)
    try:
        at = datetime.now(UTC) + timedelta(seconds=2 * WINDOW_S)  # a window that closes after the records arrive
        window = window_of(at, timedelta(seconds=WINDOW_S))
        misplaced = encode_record(
            provider.name, [event(provider.name, ON_1, at) for _ in range(3)], provider.signing_key
        )
        placed = encode_record(provider.name, [event(provider.name, ON_0, at) for _ in range(2)], provider.signing_key)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        for value, headers in (misplaced, placed):
            producer.send(EVENTS_TOPIC, value=value, headers=headers, partition=0)
        producer.flush()
        producer.close()
        dlq = read_dlq(broker.bootstrap_servers)
        deadline = time.monotonic() + 60
        lines: list[dict[str, object]] = []
        while time.monotonic() < deadline and not lines:
            assert worker.poll() is None, "the worker exited"
            lines = [
                json.loads(line)
                for f in out.glob("*.jsonl")
                for line in f.read_text().splitlines()
                if json.loads(line)["start"] == window.start.isoformat()
            ]
            time.sleep(0.5)
    finally:
        terminate(worker, grace=20)
    assert [m["reason_code"] for m in dlq] == ["wrong_partition"]
    assert "3 of the record's 3 events" in str(dlq[0]["reason"]) and "delivered on partition 0" in str(dlq[0]["reason"])
    assert dlq[0]["source"]["partition"] == 0  # type: ignore[index]
    (line,) = lines
    assert line["statuses"] == ["released"]
    assert line["counts"] == {"events_by_category": [[["cbrn.bio"], 2]]}  # the placed record's events only
