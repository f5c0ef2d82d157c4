"""The SDK's disk spool, re-batching of spooled records, and the retry backoff."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from ingest.contract.records import decode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import new_signing_key, public_key_to_text
from ingest.contract.topics import actor_partition_hash
from ingest.sdk.encoder import EventEncoder
from ingest.sdk.queue import build_records, resplit
from ingest.sdk.sender import Health
from ingest.sdk.spool import Spool, SpooledRecord, SpoolError

SECRET = bytes(range(32))


def record(partition: int = 1, value: bytes = b'{"events":[]}') -> SpooledRecord:
    return SpooledRecord(partition, 4, "acme-ai", b"s" * 64, value)


def test_spool_round_trips_oldest_first_and_survives_a_new_instance(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    names = [spool.put(record(i, f'{{"n":{i}}}'.encode())) for i in range(3)]
    assert all(names) and spool.names() == names and len(spool) == 3
    assert all((tmp_path / "spool" / n).stat().st_mode & 0o777 == 0o600 for n in names)  # type: ignore[operator]
    reopened = Spool(tmp_path / "spool", max_bytes=1 << 20)
    assert reopened.names() == names and reopened.bytes == spool.bytes
    assert reopened.read(names[1]) == record(1, b'{"n":1}')  # type: ignore[arg-type]
    reopened.remove(names[0])  # type: ignore[arg-type]
    assert Spool(tmp_path / "spool", max_bytes=1 << 20).names() == names[1:]


def test_spool_is_bounded(tmp_path: Path) -> None:
    one = len(record().encode())
    spool = Spool(tmp_path, max_bytes=2 * one)
    assert spool.put(record()) and spool.put(record())
    assert spool.put(record()) is None
    assert len(spool) == 2


def test_corrupt_or_truncated_files_are_set_aside_not_sent(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    good, bad = spool.put(record(0)), spool.put(record(1))
    path = tmp_path / bad  # type: ignore[operator]
    path.write_bytes(path.read_bytes()[:-7])  # truncated
    assert spool.read(bad) is None  # type: ignore[arg-type]
    assert spool.names() == [good] and path.with_suffix(".bad").exists()
    with pytest.raises(SpoolError, match="checksum"):
        data = bytearray(record().encode())
        data[20] ^= 0xFF
        SpooledRecord.decode(bytes(data))
    with pytest.raises(SpoolError, match="magic"):
        SpooledRecord.decode(b"not a spool file")


def test_interrupted_writes_leave_no_record(tmp_path: Path) -> None:
    (tmp_path / "0001.rec.tmp").write_bytes(b"half a record")  # a crash before the rename
    spool = Spool(tmp_path, max_bytes=1 << 20)
    assert spool.names() == [] and not (tmp_path / "0001.rec.tmp").exists()


def test_one_client_per_spool_directory(tmp_path: Path) -> None:
    first, second = Spool(tmp_path, 1 << 20), Spool(tmp_path, 1 << 20)
    first.lock()
    with pytest.raises(SpoolError, match="in use by another Flockview client"):
        second.lock()
    first.unlock()
    second.lock()
    second.unlock()


def items(n: int) -> list[tuple[int, str]]:
    encoder = EventEncoder("acme-ai", SECRET)
    return [encoder.encode(f"u{i}", "api", "m", "input_filter", "other", "warn", 0.5, "FR", "fr") for i in range(n)]


def test_spooled_records_are_rebatched_when_the_partition_count_changed() -> None:
    key = new_signing_key()
    registry = ProviderRegistry.from_mapping({"acme-ai": public_key_to_text(key.public_key())})
    [old] = build_records(items(40), 1, "acme-ai", key, 1000, 1 << 20)
    spooled = SpooledRecord(old.partition, old.partitions, old.provider, old.signature, old.value)
    new = resplit(spooled, 3, "acme-ai", key, 1000, 1 << 20)
    assert sum(r.events for r in new) == 40 and {r.partition for r in new} == {0, 1, 2}
    for r in new:
        decoded = decode_record(r.value, r.headers, registry)
        assert all(actor_partition_hash(e.actor) % 3 == r.partition for e in decoded.events)
    foreign = SpooledRecord(5, 8, "other-co", b"s" * 64, old.value)
    [kept] = resplit(foreign, 3, "acme-ai", key, 1000, 1 << 20)
    assert kept.partition == 5 % 3 and kept.signature == b"s" * 64 and kept.value == old.value


def test_backoff_grows_exponentially_with_jitter_up_to_the_cap() -> None:
    health = Health(first=1.0, cap=8.0, rng=random.Random(3))
    delays = []
    for _ in range(8):
        health.failed(now=100.0)
        delays.append(health.next_probe - 100.0)
    assert not health.up and not health.may_send(100.0) and health.may_send(100.0 + 8.0)
    assert all(0.5 <= d <= 8.0 for d in delays) and max(delays[4:]) > 2.0
    assert delays[0] <= 1.0
    health.succeeded()
    assert health.up and health.may_send(0.0)


def test_records_value_holds_the_events_it_counts() -> None:
    key = new_signing_key()
    records = build_records(items(25), 2, "acme-ai", key, 10, 1 << 20)
    assert sum(len(json.loads(r.value)["events"]) for r in records) == sum(r.events for r in records) == 25
    assert max(r.events for r in records) <= 10
