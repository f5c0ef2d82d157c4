"""The event queue between emit() and the sender: per-partition lanes, exact hand-over between threads."""

from __future__ import annotations

import json
import threading
from typing import Any

from ingest.contract.signing import new_signing_key
from ingest.contract.topics import actor_partition_hash
from ingest.sdk.client import Client
from ingest.sdk.encoder import EventEncoder, batch_value
from ingest.sdk.queue import EventQueue, partition_records

SECRET = bytes(range(32))
FIELDS: dict[str, Any] = dict(
    category="cyber.malware",
    detection_stage="input_filter",
    action="block",
    surface="api",
    model_family="acme-large",
    score=0.97,
    jurisdiction="DE",
    language="de",
)


def put(queue: EventQueue, partition_hash: int, text: str) -> None:
    """What Client._put does on its fast path."""
    lanes = queue.lanes
    lanes[partition_hash % len(lanes)].append(text)
    queue.appended += 1


def test_take_gives_whole_records_and_keeps_the_rest_until_everything_is_asked_for() -> None:
    queue = EventQueue(2)
    for i in range(25):
        put(queue, i, f"e{i}")  # 13 to partition 0, 12 to partition 1
    assert len(queue) == 25 and queue.has_full(10) and not queue.has_full(13 + 1)
    first = dict(queue.take(10, everything=False, limit=None))
    assert {p: len(t) for p, t in first.items()} == {0: 10, 1: 10} and len(queue) == 5
    assert first[0] == [f"e{i}" for i in range(0, 20, 2)]  # oldest first, in order
    rest = dict(queue.take(10, everything=True, limit=None))
    assert {p: len(t) for p, t in rest.items()} == {0: 3, 1: 2} and len(queue) == 0


def test_take_respects_the_limit_per_cycle() -> None:
    queue = EventQueue(2)
    for i in range(100):
        put(queue, i, str(i))
    taken = queue.take(10, everything=True, limit=40)
    assert sum(len(t) for _, t in taken) == 40 and len(queue) == 60


def test_events_in_lanes_of_an_old_partition_count_are_regrouped_by_actor() -> None:
    encoder = EventEncoder("acme-ai", SECRET)
    queue = EventQueue(4)
    items = [encoder.encode(f"u{i}", **FIELDS) for i in range(50)]
    stale_lanes = queue.lanes  # a caller that looked the lanes up before the change...
    for partition_hash, text in items[:30]:
        put(queue, partition_hash, text)
    queue.resize(3)
    for partition_hash, text in items[30:]:
        stale_lanes[partition_hash % 4].append(text)  # ... and appends after it
        queue.appended += 1
    taken = queue.take(1, everything=True, limit=None)
    assert sorted(t for _, texts in taken for t in texts) == sorted(t for _, t in items) and len(queue) == 0
    for partition, texts in taken:
        assert all(actor_partition_hash(json.loads(t)["actor"]) % 3 == partition for t in texts)


def test_a_sender_taking_while_threads_append_loses_and_duplicates_nothing() -> None:
    queue = EventQueue(4)
    producers, per_producer = 3, 40_000
    taken: list[str] = []
    done = threading.Event()

    def produce(p: int) -> None:
        for i in range(per_producer):
            partition_hash = (i * 2_654_435_761 + p) & 0xFFFFFFFF
            put(queue, partition_hash, f'{{"actor":"{partition_hash:08x}","n":"{p}-{i}"}}')

    def consume() -> None:
        resized = False
        while not done.is_set() or len(queue):
            for _, texts in queue.take(64, everything=done.is_set(), limit=5_000):
                taken.extend(texts)
            if not resized and len(taken) > per_producer:  # a partition-count change mid-stream
                queue.resize(5)
                resized = True

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    consumer = threading.Thread(target=consume)
    consumer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done.set()
    consumer.join(60)
    assert not consumer.is_alive()
    assert len(taken) == len(set(taken)) == producers * per_producer
    assert queue.appended == queue.taken == producers * per_producer


def test_a_client_delivers_every_event_of_many_threads_exactly_once_across_a_partition_change() -> None:
    key = new_signing_key()
    with Client(
        "acme-ai",
        SECRET,
        key,
        send=False,
        partitions=4,
        batch_events=50,
        linger_ms=5,
        on_full="block",
        block_timeout_s=60,
        queue_size=5_000,
    ) as client:
        sink = client.sink
        assert sink is not None

        def emit(t: int) -> None:
            for i in range(6_000):
                client.emit(user_id=f"t{t}-u{i % 500}", **FIELDS)
                if t == 0 and i == 3_000:
                    sink.partitions = 3  # the topic was recreated with another partition count

        threads = [threading.Thread(target=emit, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert client.flush(60)
        stats = client.stats()
        events = [(p, e) for p, value, _ in sink.records for e in json.loads(value)["events"]]
    assert stats.emitted == stats.delivered_events == len(events) == 24_000 and stats.queued == 0
    assert len({e["event_id"] for _, e in events}) == 24_000
    late = [(p, e) for p, e in events[-1000:]]  # well after the change: batched for 3 partitions
    assert all(actor_partition_hash(e["actor"]) % 3 == p for p, e in late)


def test_records_hold_every_event_once_within_the_count_and_byte_bounds() -> None:
    key = new_signing_key()
    texts = [f'{{"n":{i},"pad":"{"x" * (i * 37 % 300)}"}}' for i in range(400)]
    frame = len(batch_value("acme-ai", 2, [])) - 1
    for max_events, max_bytes in ((1000, 1 << 20), (50, 1 << 20), (1000, 4096), (7, 1024)):
        records = partition_records([(0, texts[:250]), (1, texts[250:])], 2, "acme-ai", key, max_events, max_bytes)
        events = [json.loads(r.value)["events"] for r in records]
        assert [e["n"] for batch in events for e in batch] == list(range(400))
        assert all(len(batch) == r.events <= max_events for batch, r in zip(events, records, strict=True))
        assert all(len(r.value) - frame <= max_bytes for r in records)
        assert {r.partition for r in records} == {0, 1}
        key.public_key().verify(records[0].signature, records[0].value)


def test_a_queue_smaller_than_a_record_is_drained_without_waiting_for_the_linger() -> None:
    # Full records never form here (1000 events per record, 20 queued at most) and the linger is
    # ten minutes: the sender must still free space, or emit() would give up after 5 s and drop.
    key = new_signing_key()
    with Client(
        "acme-ai",
        SECRET,
        key,
        send=False,
        queue_size=20,
        batch_events=1000,
        linger_ms=600_000,
        on_full="block",
        block_timeout_s=5,
    ) as client:
        assert all(client.emit(user_id=f"u{i}", **FIELDS) for i in range(300))
        assert client.flush(10)
        assert client.stats().delivered_events == 300 and client.stats().dropped_queue_full == 0
