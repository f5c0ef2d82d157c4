"""The stream layer's plain-Python parts: fast record verification and one partition's processing."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics.families import load_families
from analytics.settings import WorkerSettings
from analytics.worker.aggregator import seconds_since_epoch
from analytics.worker.columns import EventBatch, profile_fields
from analytics.worker.decode import FastDecoder
from analytics.worker.health import IngestMetrics
from analytics.worker.partition import Decoded, IncomingRecord, PartitionConfig, PartitionWorker
from analytics.worker.runtime import WorkerRuntime
from analytics.worker.verify import verify_record
from ingest.contract.events import canonical_json, parse_event
from ingest.contract.records import PROVIDER_HEADER, SIGNATURE_HEADER, decode_record, encode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import new_signing_key, public_key_to_text, sign

KEY = new_signing_key()
REGISTRY = ProviderRegistry.from_mapping({"acme-ai": public_key_to_text(KEY.public_key())})
NOW = datetime.now(UTC)


def wire(**changes: object) -> dict[str, object]:
    event = {
        "event_id": str(uuid.uuid4()),
        "occurred_at": NOW.isoformat(),
        "provider": "acme-ai",
        "actor": "a" * 64,
        "surface": "api",
        "model_family": "m",
        "detection_stage": "input_filter",
        "category": "cyber.malware",
        "action": "block",
        "score": 0.5,
        "jurisdiction": "US",
        "language": "en",
    }
    event.update(changes)
    return {k: v for k, v in event.items() if v is not None}


def signed(body: object, provider: bytes = b"acme-ai") -> tuple[bytes, list[tuple[str, bytes]]]:
    value = body if isinstance(body, bytes) else canonical_json(body)
    return value, [(PROVIDER_HEADER, provider), (SIGNATURE_HEADER, sign(KEY, value))]


def batch(*events: dict[str, object], provider: str = "acme-ai") -> dict[str, object]:
    return {"format": "flockview.batch.v1", "provider": provider, "partitions": 4, "events": list(events)}


CASES = {
    "all valid": signed(batch(wire(), wire(technique="roleplay"), wire(score=1))),
    "one bad enum": signed(batch(wire(), wire(category="bioweapons"), wire())),
    "free text smuggled in": signed(batch(wire(prompt="how do I ..."))),
    "event of another provider": signed(batch(wire(provider="other-lab"))),
    "record of another provider": signed(batch(wire(), provider="other-lab")),
    "naive timestamp": signed(batch(wire(occurred_at="2026-11-19T10:00:00"))),
    "score out of range": signed(batch(wire(score=1.5))),
    "not a batch": signed({"format": "flockview.batch.v0", "events": []}),
    "not json": signed(b"{not json"),
    "events not a list": signed({"format": "flockview.batch.v1", "provider": "acme-ai", "events": {}}),
    "event not an object": signed(batch("nope")),  # type: ignore[arg-type]
    "unknown provider": signed(batch(wire()), provider=b"nobody"),
    "forged": (canonical_json(batch(wire())), [(PROVIDER_HEADER, b"acme-ai"), (SIGNATURE_HEADER, b"x" * 64)]),
    "unsigned": (canonical_json(batch(wire())), [(PROVIDER_HEADER, b"acme-ai")]),
    "no signed partition count": signed({"format": "flockview.batch.v1", "provider": "acme-ai", "events": [wire()]}),
    "partition count not an integer": signed({**batch(wire()), "partitions": 4.0}),
    "partition count zero": signed({**batch(wire()), "partitions": 0}),
}


FIELDS = profile_fields(load_families())
TAKEN = {"all valid"}  # the only case the fast path decodes itself; every other goes to the contract's decoder


def columns(batch: EventBatch) -> tuple[object, ...]:
    return batch.t.tolist(), batch.actors.tolist(), batch.ids.tolist(), [tuple(map(str, k)) for k in batch.profiles]


@pytest.mark.parametrize("case", CASES)
def test_fast_decoding_takes_only_what_the_contract_accepts_and_reads_the_same_values(case: str) -> None:
    value, headers = CASES[case]
    fast = FastDecoder(REGISTRY, FIELDS).decode(value, headers, latest=float("inf"))
    assert (fast is not None) == (case in TAKEN)
    if fast is not None:
        decoded = decode_record(value, headers, REGISTRY)
        assert not decoded.rejected
        assert columns(fast) == columns(EventBatch.from_events(decoded.events, FIELDS))
        assert fast.providers == {"acme-ai": len(decoded.events)}


def test_verification_refuses_events_from_the_future_and_names_the_skew() -> None:
    value, headers = signed(batch(wire(), wire(occurred_at=(NOW + timedelta(hours=1)).isoformat())))
    verified = verify_record(value, headers, REGISTRY, timedelta(minutes=5), now=NOW)
    assert len(verified.events) == 1
    assert [r.reason_code for r in verified.rejections] == ["clock_skew"]
    assert "300 s ahead" in verified.rejections[0].reason


def config(metrics: IngestMetrics) -> PartitionConfig:
    return PartitionConfig(
        load_families(),
        timedelta(days=7),
        timedelta(days=1),
        timedelta(minutes=5),
        REGISTRY,
        metrics,
        "dlq",
        "summaries",
    )


def actor_on(partition: int, partitions: int = 4) -> str:
    """A random actor pseudonym whose events belong on ``partition``."""
    while True:
        actor = uuid.uuid4().hex * 2
        if int(actor[:8], 16) % partitions == partition:
            return actor


def records(n: int, start: int = 0) -> list[IncomingRecord]:
    out = []
    for i in range(start, start + n):
        value, headers = encode_record("acme-ai", [parse_event(wire(actor=actor_on(0)))], KEY)
        out.append(IncomingRecord(value, headers, "events", 0, i))
    return out


@pytest.mark.parametrize("decoded_before", [False, True], ids=["decoded-inline", "decoded-ahead"])
def test_a_partition_skips_what_it_applied_before_a_restart_and_sends_bad_records_to_the_dlq(
    tmp_path: Path, decoded_before: bool
) -> None:
    metrics = IngestMetrics()
    worker = PartitionWorker("events", 0, tmp_path, config(metrics))
    first = records(5)
    worker.process(first, NOW)
    worker.close()
    again = PartitionWorker("events", 0, tmp_path, config(metrics))
    assert again.offset == 4
    forged_value, _ = encode_record("acme-ai", [parse_event(wire())], new_signing_key())
    bad = IncomingRecord(forged_value, [(PROVIDER_HEADER, b"acme-ai"), (SIGNATURE_HEADER, b"y" * 64)], "events", 0, 6)
    batch = [*first, records(1, start=5)[0], bad]  # redelivery of 0..4, then 5 and a forged one
    if decoded_before:  # the runtime decodes a batch ahead, for the whole batch: these replayed records included
        decoded = FastDecoder(REGISTRY, profile_fields(load_families())).decode_many(
            [(r.value, r.headers) for r in batch], seconds_since_epoch(NOW)
        )
        assert decoded[1] == [1] * 6 + [None]
        again.process(batch, NOW, decoded)
    else:
        again.process(batch, NOW)
    assert metrics.skipped_replayed == 5 and sum(metrics.events_in.values()) == 6
    assert metrics.rejected == {"bad_signature": 1}
    ((_, topic, message),) = again.outbox()
    assert topic == "dlq" and json.loads(message)["source"] == {"topic": "events", "partition": 0, "offset": 6}
    assert again.gauges()["active_actor_windows"] == 6.0
    assert again.gauges()["state_bytes"] >= 6 * (16 + 20)  # at least the 6 event ids and 6 actor keys with rows


def test_a_bug_on_one_record_sends_it_to_the_dlq_and_the_rest_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    metrics = IngestMetrics()
    worker = PartitionWorker("events", 0, tmp_path, config(metrics))
    poison = parse_event(wire(category="cbrn.bio", actor=actor_on(0)))
    value, headers = encode_record("acme-ai", [poison], KEY)
    batch_records = [*records(2), IncomingRecord(value, headers, "events", 0, 2), *records(2, start=3)]
    real_add = type(worker.aggregator).add_columns
    poison_id = poison.event_id.bytes

    def buggy(self, events):  # type: ignore[no-untyped-def]
        if poison_id in [events.ids[i].tobytes() for i in range(len(events))]:
            raise ZeroDivisionError("a bug")
        real_add(self, events)

    monkeypatch.setattr(type(worker.aggregator), "add_columns", buggy)
    worker.process(batch_records, NOW)
    assert worker.offset == 4 and metrics.batch_failures == 1 and metrics.rejected == {"processing_error": 1}
    assert [json.loads(m)["reason_code"] for _, _, m in worker.outbox()] == ["processing_error"]
    monkeypatch.undo()
    closed = worker.aggregator.close_ready(NOW + timedelta(days=9))
    assert sum(closed[0].counts["events_by_category"].values()) == 4


def test_after_a_failed_state_write_nothing_more_is_committed_until_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batches queue behind one another: none may commit past one whose state write failed."""
    metrics = IngestMetrics()
    worker = PartitionWorker("events", 0, tmp_path, config(metrics))
    worker.process(records(2), NOW)
    real_commit = type(worker.store).commit

    def full_disk(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError("database or disk is full")

    monkeypatch.setattr(type(worker.store), "commit", full_disk)
    with pytest.raises(OSError):
        worker.process(records(2, start=2), NOW)
    monkeypatch.setattr(type(worker.store), "commit", real_commit)  # the disk has room again, too late
    with pytest.raises(RuntimeError, match="could not be written before"):
        worker.process(records(2, start=4), NOW)
    assert worker.offset == 1
    worker.close()
    restarted = PartitionWorker("events", 0, tmp_path, config(IngestMetrics()))
    assert restarted.offset == 1  # the last commit; the records after it are read again from Kafka


def test_a_bug_decoding_ahead_leaves_each_partition_to_decode_its_records(tmp_path: Path) -> None:
    """WorkerRuntime.process falls back to decoding per partition when the decode thread's answer is an error."""
    registry = tmp_path / "providers.toml"
    registry.write_text(REGISTRY.to_toml())
    runtime = WorkerRuntime(WorkerSettings(store=tmp_path / "store.duckdb", registry=registry, datadir=tmp_path / "w"))
    runtime.assign([0])
    failed: Future[dict[int, Decoded]] = Future()
    failed.set_exception(ZeroDivisionError("a bug"))
    assert runtime.process(records(3), NOW, failed) == 0
    assert runtime.partitions[0].offset == 2 and sum(runtime.metrics.events_in.values()) == 3
    runtime.revoke([0])
