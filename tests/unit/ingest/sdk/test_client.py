"""The SDK client in test mode (send=False): validation, pseudonyms, batching, signing, queue policy, settings."""

from __future__ import annotations

import inspect
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ingest.contract.events import canonical_json
from ingest.contract.keys import ProviderKeys
from ingest.contract.pseudonym import period_key, pseudonymise
from ingest.contract.records import decode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import new_signing_key, public_key_to_text
from ingest.contract.topics import actor_partition_hash
from ingest.errors import ConfigError, SchemaError
from ingest.sdk.client import Client, ClientClosedError
from ingest.sdk.sender import DeliveryError

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


@pytest.fixture
def key():  # type: ignore[no-untyped-def]
    return new_signing_key()


def memory_client(key, **settings: Any) -> Client:  # type: ignore[no-untyped-def]
    return Client("acme-ai", SECRET, key, send=False, **settings)


def registry(key) -> ProviderRegistry:  # type: ignore[no-untyped-def]
    return ProviderRegistry.from_mapping({"acme-ai": public_key_to_text(key.public_key())})


def test_emitted_events_arrive_pseudonymised_signed_and_canonical(key) -> None:  # type: ignore[no-untyped-def]
    with memory_client(key) as client:
        for i in range(50):
            assert client.emit(user_id=f"user-{i}@example.org", technique="roleplay", **FIELDS)
        assert client.flush(10)
        records = list(client.sink.records)  # type: ignore[union-attr]
        stats = client.stats()
    assert stats.emitted == stats.delivered_events == 50 and stats.queued == 0
    events = [e for _, value, headers in records for e in decode_record(value, headers, registry(key)).events]
    assert sorted(e.actor for e in events) == sorted(pseudonymise(SECRET, f"user-{i}@example.org") for i in range(50))
    for _, value, _ in records:
        assert canonical_json(json.loads(value)) == value  # exactly the canonical serialisation is signed
        assert b"@example.org" not in value
    assert len({e.event_id for e in events}) == 50


def test_an_actor_always_lands_on_its_partition(key) -> None:  # type: ignore[no-untyped-def]
    with memory_client(key, partitions=4) as client:
        for i in range(400):
            client.emit(user_id=f"u{i % 37}", **FIELDS)
        client.flush(10)
        records = list(client.sink.records)  # type: ignore[union-attr]
    partitions_of: dict[str, set[int]] = {}
    for partition, value, _ in records:
        for event in json.loads(value)["events"]:
            partitions_of.setdefault(event["actor"], set()).add(partition)
            assert partition == actor_partition_hash(event["actor"]) % 4
    assert len(partitions_of) == 37 and all(len(p) == 1 for p in partitions_of.values())
    assert len({p for p, _, _ in records}) == 4


def test_records_are_bounded_by_count_and_bytes(key) -> None:  # type: ignore[no-untyped-def]
    with memory_client(key, partitions=1, batch_events=7, linger_ms=10_000) as client:
        for i in range(30):
            client.emit(user_id=f"u{i}", **FIELDS)
        client.flush(10)
        sizes = [len(json.loads(v)["events"]) for _, v, _ in client.sink.records]  # type: ignore[union-attr]
    assert sum(sizes) == 30 and max(sizes) == 7
    with memory_client(key, partitions=1, batch_bytes=2048) as client:
        for i in range(30):
            client.emit(user_id=f"u{i}", **FIELDS)
        client.flush(10)
        values = [v for _, v, _ in client.sink.records]  # type: ignore[union-attr]
    assert sum(len(json.loads(v)["events"]) for v in values) == 30
    assert all(len(v) <= 2048 + 100 for v in values) and len(values) >= 5


def test_invalid_events_raise_schema_errors_naming_field_and_allowed_values(key) -> None:  # type: ignore[no-untyped-def]
    with memory_client(key) as client:
        with pytest.raises(SchemaError, match=r"category: 'bioweapons' is not allowed; allowed values: cbrn\.bio"):
            client.emit(user_id="u", **{**FIELDS, "category": "bioweapons"})
        with pytest.raises(ValueError, match="score: must be a number from 0 to 1"):
            client.emit(user_id="u", **{**FIELDS, "score": 1.5})
        with pytest.raises(SchemaError, match="jurisdiction: 'XX' is not an ISO 3166-1"):
            client.emit(user_id="u", **{**FIELDS, "jurisdiction": "XX"})
        with pytest.raises(SchemaError, match="language: required field is missing"):
            client.emit(user_id="u", **{**FIELDS, "language": None})
        with pytest.raises(SchemaError, match="occurred_at: must include a timezone"):
            client.emit(user_id="u", occurred_at=datetime(2026, 1, 1), **FIELDS)
        with pytest.raises(SchemaError, match="user_id: must be a non-empty string"):
            client.emit(user_id="", **FIELDS)
        with pytest.raises(SchemaError, match="prompt: unknown field"):
            client.emit_dict({"user_id": "u", "prompt": "how do I…", **FIELDS})
        assert client.stats().emitted == 0


def test_build_event_and_given_event_id_and_time(key) -> None:  # type: ignore[no-untyped-def]
    when = datetime(2026, 11, 20, 10, 30, tzinfo=UTC) + timedelta(microseconds=5)
    with memory_client(key) as client:
        event = client.build_event(user_id="u1", occurred_at=when, **FIELDS)
        assert event.actor == pseudonymise(SECRET, "u1") and event.occurred_at == when
        client.emit(user_id="u1", occurred_at=when, event_id="6CA749ED-6872-43A9-8BF5-36EF9CD653A0", **FIELDS)
        client.flush(10)
        sent = client.sink.events()[0]  # type: ignore[union-attr]
    assert str(sent.event_id) == "6ca749ed-6872-43a9-8bf5-36ef9cd653a0" and sent.occurred_at == when


def test_weekly_rotation_changes_pseudonyms_each_iso_week(key) -> None:  # type: ignore[no-untyped-def]
    monday, sunday = datetime(2026, 11, 16, 1, tzinfo=UTC), datetime(2026, 11, 22, 23, tzinfo=UTC)
    with memory_client(key, pseudonym_rotation="weekly") as client:
        for when in (monday, sunday, sunday + timedelta(hours=2)):
            client.emit(user_id="u1", occurred_at=when, **FIELDS)
        client.flush(10)
        actors = {e.occurred_at: e.actor for e in client.sink.events()}  # type: ignore[union-attr]
    assert actors[monday] == actors[sunday] == pseudonymise(period_key(SECRET, monday), "u1")
    assert actors[sunday + timedelta(hours=2)] == pseudonymise(period_key(SECRET, sunday + timedelta(hours=2)), "u1")
    assert actors[monday] != actors[sunday + timedelta(hours=2)]


def test_full_queue_drops_counts_and_reports(key) -> None:  # type: ignore[no-untyped-def]
    errors: list[DeliveryError] = []
    # A long linger and a batch larger than the queue: the sender sleeps until the queue overflows.
    client = Client(
        "acme-ai", SECRET, key, send=False, queue_size=5, batch_events=100, linger_ms=60_000, on_error=errors.append
    )
    results = [client.emit(user_id=f"u{i}", **FIELDS) for i in range(6)]
    assert results == [True] * 5 + [False]
    assert errors[0].kind == "queue_full" and errors[0].events == 1 and "5 events" in str(errors[0])
    assert client.stats().dropped_queue_full >= 1
    assert client.close(10)
    assert client.stats().delivered_events == client.stats().emitted


def test_block_policy_waits_for_space_instead_of_dropping(key) -> None:  # type: ignore[no-untyped-def]
    with memory_client(key, queue_size=10, batch_events=5, on_full="block", block_timeout_s=30) as client:
        for i in range(500):
            assert client.emit(user_id=f"u{i}", **FIELDS)
        assert client.flush(10)
        assert client.stats().delivered_events == 500 and client.stats().dropped_queue_full == 0


def test_emit_from_many_threads(key) -> None:  # type: ignore[no-untyped-def]
    with memory_client(key, on_full="block", block_timeout_s=30) as client:
        threads = [
            threading.Thread(target=lambda t=t: [client.emit(user_id=f"t{t}-{i}", **FIELDS) for i in range(500)])
            for t in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert client.flush(10)
        assert len({e["event_id"] for e in client.sink.wire_events()}) == 2000  # type: ignore[union-attr]


def test_emit_after_close_is_a_programming_error(key) -> None:  # type: ignore[no-untyped-def]
    client = memory_client(key)
    client.close()
    with pytest.raises(ClientClosedError, match="after close"):
        client.emit(user_id="u", **FIELDS)


def test_settings_from_arguments_environment_and_credentials(
    key, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    creds = ProviderKeys.generate("acme-ai")
    creds.write(tmp_path / "c.toml")
    monkeypatch.setenv("FLOCKVIEW_SDK_CREDENTIALS", str(tmp_path / "c.toml"))
    monkeypatch.setenv("FLOCKVIEW_SDK_SEND", "false")
    monkeypatch.setenv("FLOCKVIEW_SDK_BATCH_EVENTS", "3")
    with Client() as client:
        assert client.provider == "acme-ai" and client.settings.batch_events == 3 and client.sink is not None
        client.emit(user_id="u1", **FIELDS)
        client.flush(10)
        assert client.sink.events()[0].actor == pseudonymise(creds.pseudonym_key, "u1")
    with pytest.raises(ConfigError, match="queue_size"):
        Client("acme-ai", SECRET, key, send=False, queue_size=0)
    with pytest.raises(ConfigError, match="no_such_setting"):
        Client("acme-ai", SECRET, key, send=False, no_such_setting=1)
    with pytest.raises(ConfigError, match="at least 32 random bytes"):
        Client("acme-ai", b"short", key, send=False)
    with pytest.raises(ConfigError, match="provider"):
        Client("Not A Provider", SECRET, key, send=False)


def test_credentials_file_is_private_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    keys = ProviderKeys.generate("acme-ai")
    keys.write(path)
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ConfigError, match="already exists; pass --force"):
        ProviderKeys.generate("acme-ai").write(path)
    loaded = ProviderKeys.load(path)
    assert loaded.pseudonym_key == keys.pseudonym_key
    assert public_key_to_text(loaded.signing_key.public_key()) in keys.registry_entry()
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="readable by others"):
        ProviderKeys.load(path)


def test_the_sender_gathers_full_records_before_it_wakes(key) -> None:  # type: ignore[no-untyped-def]
    with memory_client(key, partitions=1, batch_events=50, linger_ms=600_000) as client:
        for i in range(49):
            client.emit(user_id=f"u{i}", **FIELDS)
        assert client.sink.records == [] and not client._sender.wake.is_set()  # type: ignore[union-attr]
        client.emit(user_id="u49", **FIELDS)  # a full record: the sender wakes without waiting for the linger
        deadline = time.monotonic() + 30
        while not client.sink.records and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.01)
        assert [len(json.loads(v)["events"]) for _, v, _ in client.sink.records] == [50]  # type: ignore[union-attr]


def test_the_bound_fast_emit_has_the_documented_signature(key) -> None:  # type: ignore[no-untyped-def]
    with memory_client(key) as client:
        documented = inspect.signature(Client.emit).parameters
        bound = inspect.signature(client.emit).parameters
        assert list(bound) == [p for p in documented if p != "self"]
        assert all(
            bound[name].default == documented[name].default and bound[name].kind == documented[name].kind
            for name in bound
        )


def test_a_subclass_that_overrides_emit_keeps_its_override(key) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    class Audited(Client):
        def emit(self, **fields: Any) -> bool:  # type: ignore[override]
            seen.append(fields["category"])
            return super().emit(**fields)

    with Audited("acme-ai", SECRET, key, send=False) as client:
        assert client.emit(user_id="u1", **FIELDS)
        assert client.flush(10)
        assert [e.actor for e in client.sink.events()] == [pseudonymise(SECRET, "u1")]  # type: ignore[union-attr]
    assert seen == ["cyber.malware"]
