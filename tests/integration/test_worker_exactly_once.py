"""Exactly-once effect on real processes: kill -9 a worker while events flow; two workers split partitions.

The pre-noise counts the release step receives (through the test-only sink of ``sink_worker.py``)
are compared with a batch recomputation: the events read back from the broker, partition by
partition in offset order, de-duplicated per window and bounded by the plain
:class:`analytics.privacy.bounding.ContributionBounder`.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from analytics.families import load_families
from analytics.privacy.bounding import ContributionBounder
from analytics.stream.app import ensure_summaries_topic
from analytics.windows import window_of
from ingest.contract.events import Event, parse_event
from ingest.contract.records import decode_record, encode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.topics import EVENTS_TOPIC, actor_partition_hash, partition_of
from ingest.devtools.broker import EmbeddedBroker, terminate
from ingest.sdk.admin import ensure_topics

pytestmark = pytest.mark.integration

WINDOW_S = 7.0  # day windows: 1 s
LATENESS_S = 30.0  # events arrive in random time order over two windows
PARTITIONS = 4
SINK_WORKER = Path(__file__).with_name("sink_worker.py")
FAMILIES_TOML = """
[[family]]
name = "events_by_category"
title = "t"
dimensions = ["category"]
bound_k = 2
bound_l = 3
weight = 1.0

[[family]]
name = "actors_by_category"
title = "t"
dimensions = ["category"]
metric = "distinct_actors"
bound_k = 2
bound_l = 1
weight = 1.0

[[family]]
name = "repeat_blockers"
title = "t"
dimensions = ["category"]
metric = "actors_over_threshold"
threshold = 2
actions = ["block"]
bound_k = 1
bound_l = 1
weight = 1.0

[[family]]
name = "escalation_funnel"
title = "t"
dimensions = ["escalation_stage"]
metric = "escalation_funnel"
bound_k = 3
bound_l = 1
weight = 1.0

[[family]]
name = "events_by_model_family"
title = "t"
dimensions = ["model_family"]
bound_k = 1
bound_l = 2
weight = 1.0

[[family]]
name = "daily_by_category_action"
title = "t"
dimensions = ["category", "action"]
window = "day"
bound_k = 2
bound_l = 2
weight = 1.0
"""
CATEGORIES = ["cyber.malware", "cbrn.bio", "fraud.phishing", "self_harm"]
ACTIONS = ["block", "block", "warn", "rate_limit", "ban", "allow"]
MODELS = ["acme-large", "acme-small", "acme-open"]
LATE_ACTOR = "e" * 64


def partition_on(actor: str) -> int:
    """The partition an actor's records must go to (the worker refuses them anywhere else)."""
    return partition_of(actor_partition_hash(actor), PARTITIONS)


class Setup:
    def __init__(self, tmp_path: Path, broker: EmbeddedBroker, provider) -> None:  # type: ignore[no-untyped-def]
        self.tmp, self.broker, self.provider = tmp_path, broker, provider
        ensure_topics(broker.bootstrap_servers, PARTITIONS)
        ensure_summaries_topic(broker.bootstrap_servers)
        (tmp_path / "providers.toml").write_text(provider.registry_toml())
        (tmp_path / "families.toml").write_text(FAMILIES_TOML)
        self.out = tmp_path / "sink"
        self.out.mkdir()
        self.registry = ProviderRegistry.from_toml(tmp_path / "providers.toml")
        self.families = load_families(tmp_path / "families.toml")
        # Event times in the future (the workers accept 15 min of skew), so only the test's closing
        # events advance the watermarks past these windows: no window closes while events flow.
        start = window_of(datetime.now(UTC) + timedelta(seconds=300), timedelta(seconds=WINDOW_S)).start
        self.first, self.last = start, start + timedelta(seconds=2 * WINDOW_S)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        env = dict(
            os.environ,
            FLOCKVIEW_WORKER_BOOTSTRAP_SERVERS=self.broker.bootstrap_servers,
            FLOCKVIEW_WORKER_STORE=str(self.tmp / "store.duckdb"),
            FLOCKVIEW_WORKER_REGISTRY=str(self.tmp / "providers.toml"),
            FLOCKVIEW_WORKER_FAMILIES=str(self.tmp / "families.toml"),
            FLOCKVIEW_WORKER_WINDOW_SECONDS=str(WINDOW_S),
            FLOCKVIEW_WORKER_LATENESS_SECONDS=str(LATENESS_S),
            FLOCKVIEW_WORKER_MAX_CLOCK_SKEW_SECONDS="900",
            FLOCKVIEW_WORKER_RHO_YEAR="1000",
            FLOCKVIEW_WORKER_PARTITIONS=str(PARTITIONS),
            FLOCKVIEW_WORKER_TICK_SECONDS="0.3",
            FLOCKVIEW_WORKER_HEALTH_SECONDS="1",
            FLOCKVIEW_WORKER_METRICS_PORT="0",
            FLOCKVIEW_WORKER_BATCH_SIZE="50",
            FLOCKVIEW_WORKER_BATCH_WITHIN="0.2",
            FLOCKVIEW_WORKER_DATADIR=str(self.tmp / f"datadir-{name}"),
            FLOCKVIEW_WORKER_STATE_DIR=str(self.tmp / "state"),
        )
        log = (self.tmp / f"worker-{name}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, str(SINK_WORKER), str(self.out)], env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def event(self, rng: random.Random, actor: str, at: datetime) -> Event:
        return parse_event(
            {
                "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                "occurred_at": at.isoformat(),
                "provider": self.provider.name,
                "actor": actor,
                "surface": "api",
                "model_family": rng.choice(MODELS),
                "detection_stage": "input_filter",
                "category": rng.choice(CATEGORIES),
                "action": rng.choice(ACTIONS),
                "score": 0.5,
                "jurisdiction": "DE",
                "language": "de",
            }
        )

    def produce(self, n_events: int, seconds: float, seed: int, duplicate_share: float = 0.05) -> None:
        """Skewed actors, records of 1-12 events of one actor, some records sent twice (SDK retries)."""
        rng = random.Random(seed)
        actors = [f"{rng.getrandbits(256):064x}" for _ in range(150)]
        weights = [1 / (i + 1) for i in range(len(actors))]
        producer = KafkaProducer(bootstrap_servers=self.broker.bootstrap_servers, linger_ms=5)
        sent, span = 0, (self.last - self.first).total_seconds()
        started = time.monotonic()
        while sent < n_events:
            actor = rng.choices(actors, weights)[0]
            events = [
                self.event(rng, actor, self.first + timedelta(seconds=rng.random() * span))
                for _ in range(min(rng.randint(1, 12), n_events - sent))
            ]
            value, headers = encode_record(self.provider.name, events, self.provider.signing_key, PARTITIONS)
            for _ in range(2 if rng.random() < duplicate_share else 1):
                producer.send(EVENTS_TOPIC, value=value, headers=headers, partition=partition_on(actor))
            sent += len(events)
            time.sleep(max(0.0, started + seconds * sent / n_events - time.monotonic()))
        producer.flush()
        producer.close()

    def close_windows(self, at: datetime) -> None:
        """One event per partition stamped ``at``: every partition's watermark passes the test's windows."""
        rng = random.Random(99)
        producer = KafkaProducer(bootstrap_servers=self.broker.bootstrap_servers)
        for p in range(PARTITIONS):
            actor = f"{p:08x}" + "f" * 56  # its partition hash is p
            value, headers = encode_record(
                self.provider.name, [self.event(rng, actor, at)], self.provider.signing_key, PARTITIONS
            )
            producer.send(EVENTS_TOPIC, value=value, headers=headers, partition=p)
        producer.flush()
        producer.close()

    def expected_windows(self) -> set[tuple[str, str]]:
        out = set()
        for size in (timedelta(seconds=WINDOW_S), timedelta(seconds=WINDOW_S / 7)):
            w = window_of(self.first, size)
            while w.start < self.last:
                out.add((w.start.isoformat(), w.end.isoformat()))
                w = window_of(w.end, size)
        return out

    def sink_lines(self) -> list[dict[str, object]]:
        return [json.loads(line) for f in sorted(self.out.glob("*.jsonl")) for line in f.read_text().splitlines()]

    def wait_released(self, workers: list[subprocess.Popen[bytes]], timeout: float = 60) -> list[dict[str, object]]:
        deadline, wanted = time.monotonic() + timeout, self.expected_windows()
        while time.monotonic() < deadline:
            assert all(w.poll() is None for w in workers), "a worker exited early"
            released = {(x["start"], x["end"]) for x in self.sink_lines() if "released" in x["statuses"]}
            if wanted <= released:
                return self.sink_lines()
            time.sleep(0.5)
        raise AssertionError(f"windows not released after {timeout} s: {sorted(wanted - released)[:3]} ...")

    def reference(self) -> dict[tuple[str, str], dict[str, list[list[object]]]]:
        """Batch recomputation: every record read back in partition order, the same rule, plain code."""
        consumer = KafkaConsumer(
            bootstrap_servers=self.broker.bootstrap_servers,
            auto_offset_reset="earliest",
            consumer_timeout_ms=3000,
            enable_auto_commit=False,
        )
        consumer.assign([TopicPartition(EVENTS_TOPIC, p) for p in range(PARTITIONS)])
        by_partition: dict[int, list[Event]] = defaultdict(list)
        for message in consumer:
            by_partition[message.partition] += decode_record(message.value, message.headers, self.registry).events
        consumer.close()
        seen: set[tuple[str, uuid.UUID]] = set()
        bounders: dict[tuple[str, str], dict[str, ContributionBounder]] = {}
        for p in sorted(by_partition):
            for event in by_partition[p]:
                if not self.first <= event.occurred_at < self.last or event.actor == LATE_ACTOR:
                    continue  # the closing events, and those sent after their window closed
                for family in self.families:
                    size = timedelta(seconds=WINDOW_S / 7 if family.window == "day" else WINDOW_S)
                    w = window_of(event.occurred_at, size)
                    key = (w.start.isoformat(), w.end.isoformat())
                    bounder = bounders.setdefault(key, {}).setdefault(family.name, ContributionBounder(family))
                    if (f"{key}{family.name}", event.event_id) in seen:
                        continue
                    seen.add((f"{key}{family.name}", event.event_id))
                    for cell in family.cells_of(event):
                        bounder.add(event.actor, cell)
        return {
            key: {name: sorted([list(c), n] for c, n in b.counts.items() if n) for name, b in fams.items()}
            for key, fams in bounders.items()
        }


def assert_counts_match(setup: Setup, lines: list[dict[str, object]]) -> None:
    reference = setup.reference()
    by_window: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for line in lines:
        by_window[(line["start"], line["end"])].append(line)  # type: ignore[index]
    assert set(reference) <= set(by_window)
    for key, expected in reference.items():
        released = [x for x in by_window[key] if "released" in x["statuses"]]
        assert len(released) == 1, f"window {key} released {len(released)} times"
        for line in by_window[key]:  # every hand-off of the window (later ones are refused as already released)
            got = {f: cells for f, cells in line["counts"].items() if cells}  # type: ignore[union-attr]
            assert got == {f: cells for f, cells in expected.items() if cells}, f"window {key}"


def assert_released_once_in_store(store: Path, windows: int) -> None:
    with duckdb.connect(str(store), read_only=True) as con:
        rows = con.execute("SELECT family, window_start, count(*) FROM releases GROUP BY ALL").fetchall()
        ledger = con.execute("SELECT family, window_start, count(*) FROM ledger GROUP BY ALL").fetchall()
    assert rows and all(n == 1 for *_, n in rows) and all(n == 1 for *_, n in ledger)
    assert len({(f, w) for f, w, _ in rows}) >= windows


def stop(workers: Iterator[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        terminate(worker, grace=20)


def test_kill_9_at_random_points_keeps_the_released_counts_exact(
    broker: EmbeddedBroker, provider, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    setup = Setup(tmp_path, broker, provider)
    rng = random.Random(int.from_bytes(os.urandom(4), "big"))
    workers = [setup.start_worker("a")]
    producer = threading.Thread(target=setup.produce, args=(5000, 40.0, 1))
    producer.start()
    kills = []
    try:
        for _ in range(3):  # kill -9 at random points while the worker is counting, restart at once
            wait_for_progress(tmp_path / "state", after=max(kills, default=-1))
            time.sleep(rng.uniform(0.0, 1.0))
            workers[-1].send_signal(signal.SIGKILL)
            workers[-1].wait()
            kills.append(stored_offsets(tmp_path / "state"))
            workers.append(setup.start_worker("a"))
        producer.join()
        setup.close_windows(setup.last + timedelta(seconds=WINDOW_S + LATENESS_S + 2))
        lines = setup.wait_released(workers[-1:], timeout=90)
    finally:
        producer.join()
        stop(iter(workers))
    assert_counts_match(setup, lines)
    assert_released_once_in_store(tmp_path / "store.duckdb", windows=len(setup.expected_windows()))
    log = (tmp_path / "worker-a.log").read_text(errors="replace")
    restored = re.findall(r"\[(\d+)\] \[INFO\] partition \S+ restored at offset (\d+)", log)
    assert len({pid for pid, _ in restored}) >= 2, f"kills after {kills} applied records; recoveries: {restored}"


def test_two_workers_release_each_window_once_and_count_duplicates_and_late_events(
    broker: EmbeddedBroker, provider, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    setup = Setup(tmp_path, broker, provider)
    workers = [setup.start_worker("a"), setup.start_worker("b")]
    try:
        setup.produce(2000, 6.0, seed=2, duplicate_share=0.2)
        setup.close_windows(setup.last + timedelta(seconds=WINDOW_S + LATENESS_S + 2))
        lines = setup.wait_released(workers, timeout=90)
        # Late: events for a window that has closed are counted in the operational metrics, not dropped silently.
        late_rng = random.Random(5)
        late = [setup.event(late_rng, LATE_ACTOR, setup.first + timedelta(seconds=1)) for _ in range(7)]
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        value, headers = encode_record(provider.name, late, provider.signing_key, PARTITIONS)
        producer.send(EVENTS_TOPIC, value=value, headers=headers, partition=partition_on(LATE_ACTOR))
        producer.flush()
        producer.close()
        health = wait_for_metric(tmp_path, "late", 7, workers)
    finally:
        stop(iter(workers))
    logs = [(tmp_path / f"worker-{n}.log").read_text(errors="replace") for n in "ab"]
    assert all("restored at offset" in log for log in logs), "both workers owned partitions"
    assert_counts_match(setup, lines)
    assert health["duplicates"] > 0 and health["events_in"] > 0
    assert_released_once_in_store(tmp_path / "store.duckdb", windows=len(setup.expected_windows()))


def stored_offsets(state_dir: Path) -> int:
    """Records applied so far, by the offsets the worker stored with its state (-1 per untouched partition)."""
    total = 0
    for path in state_dir.glob("*.sqlite"):
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'offset'").fetchone()
        total += int(row[0]) + 1 if row else 0
    return total


def wait_for_progress(state_dir: Path, after: int, timeout: float = 60) -> int:
    """Wait until the worker has committed records beyond ``after``; returns the new total."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            applied = stored_offsets(state_dir)
        except sqlite3.OperationalError:
            applied = after  # a file being created
        if applied > after:
            return applied
        time.sleep(0.1)
    raise AssertionError(f"the worker applied nothing beyond {after} records in {timeout} s")


def scrape(log: Path) -> dict[str, float]:
    """Counters (labels summed) from the Prometheus endpoint of the worker that wrote ``log``."""
    text = log.read_text(errors="replace")
    urls = re.findall(r"operational metrics \(operators only\) at (http://\S+/metrics)", text)
    if not urls:
        return {}
    with urllib.request.urlopen(urls[-1], timeout=5) as response:
        families = text_string_to_metric_families(response.read().decode())
    totals: dict[str, float] = defaultdict(float)
    for family in families:
        for sample in family.samples:
            if sample.name.startswith("flockview_") and sample.name.endswith("_total"):
                totals[sample.name.removeprefix("flockview_").removesuffix("_total")] += sample.value
    return dict(totals)


def wait_for_metric(
    tmp_path: Path, metric: str, at_least: float, workers: list[subprocess.Popen[bytes]], timeout: float = 30
) -> dict[str, float]:
    """Counters summed over the workers' metrics endpoints, once ``metric`` reaches ``at_least``."""
    deadline = time.monotonic() + timeout
    totals: dict[str, float] = {}
    while time.monotonic() < deadline:
        assert all(w.poll() is None for w in workers), "a worker exited early"
        totals = defaultdict(float)
        for log in sorted(tmp_path.glob("worker-*.log")):
            for name, value in scrape(log).items():
                totals[name] += value
        if totals.get(metric, 0) >= at_least:
            return dict(totals)
        time.sleep(0.5)
    raise AssertionError(f"metric {metric} below {at_least} after {timeout} s: {dict(totals)}")
