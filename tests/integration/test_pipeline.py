"""The whole path on real processes: SDK → embedded broker → Faust worker → OpenDP → DuckDB, plus the DLQ."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from analytics.store import ReadOnlyStore
from ingest.contract.events import canonical_json
from ingest.contract.pseudonym import pseudonymise
from ingest.contract.records import PROVIDER_HEADER, SIGNATURE_HEADER, encode_record
from ingest.contract.signing import new_signing_key, sign
from ingest.contract.topics import DEFAULT_PARTITIONS, DLQ_TOPIC, actor_partition_hash, partition_of
from ingest.devtools.broker import EmbeddedBroker
from ingest.sdk.admin import ensure_topics
from ingest.sdk.client import Client

pytestmark = pytest.mark.integration

CATEGORY_USERS = {"cyber.malware": 300, "fraud.phishing": 170, "cbrn.bio": 60, "self_harm": 25}
EVENTS_PER_USER = 2


# The families this test checks, spelled out so the test does not follow changes to the shipped set.
FAMILIES_TOML = """
[[family]]
name = "events_by_category"
title = "Flagged events by danger domain"
dimensions = ["category"]
bound_k = 2
bound_l = 5
weight = 2.0

[[family]]
name = "events_by_category_stage_action"
title = "Flagged events by domain, detection stage and action"
dimensions = ["category", "detection_stage", "action"]
bound_k = 3
bound_l = 3
weight = 1.0

[[family]]
name = "techniques_by_category"
title = "Jailbreak techniques by domain"
dimensions = ["category", "technique"]
bound_k = 2
bound_l = 3
weight = 1.0
"""


def start_worker(broker: EmbeddedBroker, tmp_path: Path, registry: Path) -> subprocess.Popen[bytes]:
    (tmp_path / "families.toml").write_text(FAMILIES_TOML)
    cmd = [
        sys.executable,
        "-m",
        "analytics.cli",
        "worker",
        "--bootstrap-servers",
        broker.bootstrap_servers,
        "--store",
        str(tmp_path / "store.duckdb"),
        "--registry",
        str(registry),
        "--window-seconds",
        "6",
        "--lateness-seconds",
        "1",
        "--families",
        str(tmp_path / "families.toml"),
    ]
    env = dict(os.environ, FLOCKVIEW_WORKER_DATADIR=str(tmp_path / "worker"), FLOCKVIEW_WORKER_TICK_SECONDS="0.5")
    return subprocess.Popen(cmd, env=env, stdout=(tmp_path / "worker.log").open("wb"), stderr=subprocess.STDOUT)


def emit_good_events(client: Client, occurred_at: datetime) -> tuple[list[str], Counter[str]]:
    users, exact = [], Counter[str]()
    for category, n_users in CATEGORY_USERS.items():
        for i in range(n_users):
            user = f"raw-user-{category}-{i}@example.org"
            users.append(user)
            for _ in range(EVENTS_PER_USER):
                client.emit(
                    user_id=user,
                    occurred_at=occurred_at,
                    category=category,
                    detection_stage="input_filter",
                    action="block",
                    surface="api",
                    model_family="acme-large",
                    score=0.9,
                    technique="roleplay",
                    jurisdiction="DE",
                    language="de",
                )
                exact[category] += 1
    client.flush(timeout=30)
    return users, exact


def send_bad_records(bootstrap: str, client: Client, provider_key, occurred_at: datetime) -> None:  # type: ignore[no-untyped-def]
    good = client.build_event(
        user_id="victim",
        occurred_at=occurred_at,
        category="cbrn.chem",
        detection_stage="output_filter",
        action="block",
        surface="api",
        model_family="acme-large",
        score=0.99,
        jurisdiction="US",
        language="en",
    )
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    topic = "flockview.events.v1"
    forged_value, forged_headers = encode_record("acme-ai", [good], new_signing_key())
    producer.send(topic, value=forged_value, headers=forged_headers)  # forged: wrong key
    producer.send(topic, value=forged_value, headers=[(PROVIDER_HEADER, b"acme-ai")])  # unsigned
    producer.send(topic, value=forged_value, headers=[(PROVIDER_HEADER, b"nobody"), (SIGNATURE_HEADER, b"0" * 64)])
    garbage = b"{not json"
    producer.send(
        topic, value=garbage, headers=[(PROVIDER_HEADER, b"acme-ai"), (SIGNATURE_HEADER, sign(provider_key, garbage))]
    )
    bad_enum = canonical_json(
        {
            "format": "flockview.batch.v1",
            "provider": "acme-ai",
            "partitions": DEFAULT_PARTITIONS,
            "events": [{**good.to_wire(), "category": "bioweapons"}],
        }
    )
    producer.send(
        topic, value=bad_enum, headers=[(PROVIDER_HEADER, b"acme-ai"), (SIGNATURE_HEADER, sign(provider_key, bad_enum))]
    )
    future = good.model_copy(update={"event_id": uuid.uuid4(), "occurred_at": occurred_at + timedelta(hours=2)})
    value, headers = encode_record("acme-ai", [future], provider_key, partitions=DEFAULT_PARTITIONS)
    right = partition_of(actor_partition_hash(future.actor), DEFAULT_PARTITIONS)  # refused for its time alone
    producer.send(topic, value=value, headers=headers, partition=right)
    producer.flush(timeout=30)
    producer.close()


def wait_for_releases(store: Path, worker: subprocess.Popen[bytes], expected: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.poll() is None, "the worker exited early"
        if len(ReadOnlyStore(store).releases()) >= expected:
            return
        time.sleep(0.5)
    raise AssertionError(f"no {expected} releases in {store} after {timeout} s")


def read_dlq(bootstrap: str, expected: int, timeout: float = 30) -> list[dict[str, object]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=2000)
    consumer.assign([TopicPartition(DLQ_TOPIC, p) for p in consumer.partitions_for_topic(DLQ_TOPIC)])
    messages: list[dict[str, object]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        messages += [json.loads(m.value) for m in consumer]
    consumer.close()
    return messages


def test_events_become_noisy_releases_and_bad_records_reach_the_dlq(
    broker: EmbeddedBroker, provider, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    ensure_topics(broker.bootstrap_servers)
    registry = tmp_path / "providers.toml"
    registry.write_text(provider.registry_toml())
    worker = start_worker(broker, tmp_path, registry)
    try:
        client = Client(
            provider=provider.name,
            pseudonym_key=provider.pseudonym_key,
            signing_key=provider.signing_key,
            bootstrap_servers=broker.bootstrap_servers,
        )
        occurred_at = datetime.now(UTC)
        users, exact = emit_good_events(client, occurred_at)
        send_bad_records(broker.bootstrap_servers, client, provider.signing_key, occurred_at)
        client.close()
        store = tmp_path / "store.duckdb"
        wait_for_releases(store, worker, expected=3)
        dlq = read_dlq(broker.bootstrap_servers, expected=6)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0

    assert sorted(m["reason_code"] for m in dlq) == sorted(
        ["bad_signature", "bad_signature", "unknown_provider", "schema", "schema", "clock_skew"]
    )
    assert all(m["reason"] and m["record_value_b64"] for m in dlq)
    assert any("category: 'bioweapons' is not allowed" in str(m["reason"]) for m in dlq)

    reader = ReadOnlyStore(store)
    releases = reader.releases()
    assert set(releases["family"]) == {
        "events_by_category",
        "events_by_category_stage_action",
        "techniques_by_category",
    }
    assert (releases["rho"] > 0).all() and (releases["epsilon"] > 0).all()
    cells = reader.cells("events_by_category")
    assert len(cells) == 17
    assert ((cells["ci_low"] <= cells["value"]) & (cells["value"] <= cells["ci_high"])).all()
    assert len(reader.ledger()) == 3

    released = dict(zip(cells["category"], cells["value"], strict=True))
    # The released values track the truth within their intervals (loosely: 4 sigma) ...
    half = float(releases.set_index("family").loc["events_by_category", "interval_half_width"])
    for category, count in exact.items():
        assert abs(released[category] - count) <= 2 * half
    # ... but are not the exact counts: at most one of four can coincide by chance.
    assert sum(released[c] == n for c, n in exact.items()) <= 1

    pseudonyms = [pseudonymise(provider.pseudonym_key, u) for u in users]
    assert_store_holds_no_identifiers(store, users + pseudonyms + ["victim"], exact)
    log_text = (tmp_path / "worker.log").read_text()
    assert not any(p in log_text for p in pseudonyms[:50]) and "raw-user-" not in log_text


def assert_store_holds_no_identifiers(store: Path, secrets: list[str], exact: Counter[str]) -> None:
    """No raw id or pseudonym in any text column or in the file's bytes; no column holds exact counts."""
    with duckdb.connect(str(store), read_only=True) as con:
        columns = con.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = 'main'"
        ).fetchall()
        texts = set()
        for table, column, dtype in columns:
            if dtype == "VARCHAR":
                texts |= {r[0] for r in con.execute(f'SELECT DISTINCT "{column}" FROM "{table}"').fetchall() if r[0]}
        blob = "\n".join(texts)
        assert not [s for s in secrets if s in blob]
        numeric = [(t, c) for t, c, d in columns if d in ("DOUBLE", "INTEGER", "BIGINT", "HUGEINT")]
        for table, column in numeric:
            if table != "cells":
                continue
            rows = con.execute(
                f'SELECT category, "{column}" FROM cells WHERE family = ?', ["events_by_category"]
            ).fetchall()
            values = dict(rows)
            assert [values[c] for c in exact] != [float(n) for n in exact.values()], (
                f"cells.{column} holds exact counts"
            )
    raw = store.read_bytes()
    assert not [s for s in secrets[:200] if s.encode() in raw]
