"""The partitioning rule, checked by the worker: an actor's events are counted only on the partition
its pseudonym hashes to, by the partition count its record was signed for (issue 15, item 3)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.families import ReportFamily, load_families
from analytics.windows import ClosedWindow
from analytics.worker.aggregator import seconds_since_epoch
from analytics.worker.columns import partition_hashes, profile_fields
from analytics.worker.decode import FastDecoder
from analytics.worker.gather import Gatherer, Summary
from analytics.worker.health import IngestMetrics
from analytics.worker.partition import IncomingRecord, PartitionConfig, PartitionWorker
from analytics.worker.verify import verify_record
from ingest.contract.events import Event, canonical_json, parse_event
from ingest.contract.records import PROVIDER_HEADER, SIGNATURE_HEADER, encode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import new_signing_key, public_key_to_text, sign
from ingest.contract.topics import actor_partition_hash, partition_of

KEY = new_signing_key()
REGISTRY = ProviderRegistry.from_mapping({"acme-ai": public_key_to_text(KEY.public_key())})
FAMILIES = load_families()
START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday: one week window
NOW = START + timedelta(days=6)
LATER = START + timedelta(days=30)  # every window of the test closed
CATEGORIES = ["cbrn.bio", "cyber.malware", "weapons.conventional", "fraud.scam"]
ACTIONS = ["block", "warn", "rate_limit", "suspend", "ban", "allow"]


def actor_on(partition: int, partitions: int, salt: int = 0) -> str:
    """An actor pseudonym whose events belong on ``partition`` of ``partitions``."""
    for i in range(1 << 20):
        actor = f"{i:08x}{salt:056x}"
        if partition_of(actor_partition_hash(actor), partitions) == partition:
            return actor
    raise AssertionError("unreachable")


def event(actor: str, i: int, category: str = "cbrn.bio", action: str = "block", at: datetime = NOW) -> Event:
    return parse_event(
        {
            "event_id": f"00000000-0000-4000-8000-{i:012d}",
            "occurred_at": at.isoformat(),
            "provider": "acme-ai",
            "actor": actor,
            "surface": "api",
            "model_family": "acme-large",
            "detection_stage": "input_filter",
            "category": category,
            "action": action,
            "score": 0.5,
            "jurisdiction": "DE",
            "language": "de",
        }
    )


def config(metrics: IngestMetrics) -> PartitionConfig:
    return PartitionConfig(
        FAMILIES, timedelta(days=7), timedelta(days=1), timedelta(minutes=5), REGISTRY, metrics, "dlq", "summaries"
    )


def test_partition_hashes_of_the_actor_column_are_the_contracts() -> None:
    actors = [actor_on(p, 7, salt) for p in range(7) for salt in range(3)] + ["f" * 64, "0" * 64, "89abcdef" * 8]
    column = np.frombuffer(bytes.fromhex("".join(a[:32] for a in actors)), "<u8").reshape(-1, 2)
    assert partition_hashes(column).tolist() == [actor_partition_hash(a) for a in actors]


def test_a_record_delivered_on_the_wrong_partition_goes_to_the_dlq_and_is_counted_nowhere(tmp_path: Path) -> None:
    """Its actor hashes to partition 1 (of 4); delivered on partition 0, through the real decoder and worker."""
    metrics = IngestMetrics()
    worker = PartitionWorker("events", 0, tmp_path, config(metrics))
    actor = actor_on(1, 4)
    value, headers = encode_record("acme-ai", [event(actor, 1), event(actor, 2)], KEY, partitions=4)
    right = actor_on(0, 4)
    good_value, good_headers = encode_record("acme-ai", [event(right, 3)], KEY, partitions=4)
    records = [IncomingRecord(value, headers, "events", 0, 0), IncomingRecord(good_value, good_headers, "events", 0, 1)]
    decoded = FastDecoder(REGISTRY, profile_fields(FAMILIES)).decode_many(
        [(r.value, r.headers) for r in records], seconds_since_epoch(NOW), 0
    )
    assert decoded[1] == [None, 1]  # the fast path leaves the misplaced record to the contract's decoder
    assert worker.process(records, NOW, decoded) == 1
    ((_, topic, message),) = worker.outbox()
    letter = json.loads(message)
    assert topic == "dlq" and letter["reason_code"] == "wrong_partition"
    assert "2 of the record's 2 events" in letter["reason"]
    assert f"actor hash {actor_partition_hash(actor):#010x} belongs on partition 1 of 4" in letter["reason"]
    assert "delivered on partition 0" in letter["reason"]
    assert metrics.rejected == {"wrong_partition": 1} and sum(metrics.events_in.values()) == 1
    (closed,) = worker.aggregator.close_ready(LATER)
    assert sum(closed.counts["events_by_category"].values()) == 1  # only the well-placed event
    assert worker.gauges()["active_actor_windows"] == 0.0


def test_a_record_signed_for_another_partition_count_is_checked_by_the_count_it_signed() -> None:
    """An actor on partition 1 of 2 may be on partition 3 of 4: each record is checked by its own count."""
    actor = actor_on(3, 4)  # and so on partition 1 of 2
    for partitions, partition, ok in [(4, 3, True), (2, 1, True), (4, 1, False), (2, 3, False)]:
        value, headers = encode_record("acme-ai", [event(actor, 1)], KEY, partitions=partitions)
        verified = verify_record(value, headers, REGISTRY, timedelta(minutes=5), NOW, partition)
        assert bool(verified.events) == ok
        assert [r.reason_code for r in verified.rejections] == ([] if ok else ["wrong_partition"])
        fast = FastDecoder(REGISTRY, profile_fields(FAMILIES)).decode(value, headers, float("inf"), partition)
        assert (fast is not None) == ok
        if fast is not None:
            assert fast.partitions.tolist() == [partitions]


def test_a_record_without_a_signed_partition_count_is_refused_with_a_clear_reason() -> None:
    body = {"format": "flockview.batch.v1", "provider": "acme-ai", "events": [event("0" * 64, 1).to_wire()]}
    value = canonical_json(body)
    headers = [(PROVIDER_HEADER, b"acme-ai"), (SIGNATURE_HEADER, sign(KEY, value))]
    assert FastDecoder(REGISTRY, profile_fields(FAMILIES)).decode(value, headers, float("inf"), 0) is None
    verified = verify_record(value, headers, REGISTRY, timedelta(minutes=5), NOW, 0)
    assert not verified.events
    ((rejection),) = verified.rejections
    assert rejection.reason_code == "schema" and "no 'partitions' field" in rejection.reason


# --- the property: an actor moves a gathered window by at most the family's declared sensitivity ---------

PARTITIONS = 3
deliveries = st.lists(
    st.tuples(
        st.lists(st.tuples(st.sampled_from(CATEGORIES), st.sampled_from(ACTIONS)), min_size=1, max_size=6),
        st.lists(st.integers(0, PARTITIONS - 1), min_size=1, max_size=3),  # where the record (and copies) go
    ),
    min_size=1,
    max_size=5,
)


def gathered(records: Sequence[tuple[bytes, list[tuple[str, bytes]], int]], state: Path) -> ClosedWindow:
    """Every record through real partition workers, their summaries through the real Gatherer."""
    metrics = IngestMetrics()
    workers = [PartitionWorker("events", p, state, config(metrics)) for p in range(PARTITIONS)]
    offsets = [0] * PARTITIONS
    for value, headers, p in records:
        workers[p].process([IncomingRecord(value, headers, "events", p, offsets[p])], NOW)
        offsets[p] += 1
    gatherer = Gatherer()
    for w in workers:
        w.close_due(LATER)
        for _, topic, message in w.outbox():
            if topic == "summaries":
                gatherer.add(Summary.decode(message))
        w.close()
    weekly = [c for c in gatherer.ready(range(PARTITIONS)) if c.window.end - c.window.start == timedelta(days=7)]
    assert len(weekly) == 1
    return weekly[0]


def l2(family: ReportFamily, a: ClosedWindow, b: ClosedWindow) -> float:
    x, y = a.counts.get(family.name, {}), b.counts.get(family.name, {})
    return math.sqrt(sum((x.get(c, 0) - y.get(c, 0)) ** 2 for c in set(x) | set(y)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries, st.integers(0, 1000))
def test_an_actors_l2_contribution_to_a_gathered_window_is_within_the_declared_sensitivity(
    target: list[tuple[list[tuple[str, str]], list[int]]], salt: int
) -> None:
    """With and without one actor whose signed records are also copied to other partitions."""
    others = [
        encode_record(
            "acme-ai", [event(actor_on(p, PARTITIONS, 5000), 900_000 + p, at=NOW)], KEY, partitions=PARTITIONS
        )
        for p in range(PARTITIONS)
    ]
    background = [(value, headers, p) for p, (value, headers) in enumerate(others)]
    actor = actor_on(salt % PARTITIONS, PARTITIONS, 1 + salt)
    mine = []
    n = 0
    for cells, where in target:
        events = []
        for category, action in cells:
            n += 1
            events.append(event(actor, n, category, action, NOW - timedelta(hours=n)))
        value, headers = encode_record("acme-ai", events, KEY, partitions=PARTITIONS)
        mine += [(value, headers, p) for p in where]
    with TemporaryDirectory() as with_dir, TemporaryDirectory() as without_dir:
        with_actor = gathered([*background, *mine], Path(with_dir))
        without = gathered(background, Path(without_dir))
    for family in FAMILIES:
        assert l2(family, with_actor, without) <= family.sensitivity_l2 + 1e-9, family.name
