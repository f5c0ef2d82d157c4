"""The SDK's fast path pieces: bulk event ids, occurred_at from a clock reading, fast and checked paths agreeing."""

from __future__ import annotations

import inspect
import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.contract.events import canonical_json, parse_event
from ingest.contract.fields import FIELDS, PROVIDER_OPTIONAL, PROVIDER_REQUIRED
from ingest.contract.pseudonym import pseudonymise
from ingest.contract.topics import actor_partition_hash
from ingest.errors import SchemaError
from ingest.sdk.encoder import EventEncoder, batch_value, new_event_id, time_text, uuid4_block

SECRET = bytes(range(32))
GIVEN: dict[str, Any] = dict(
    surface="api",
    model_family="m",
    detection_stage="input_filter",
    category="other",
    action="warn",
    score=0.5,
    jurisdiction="FR",
    language="fr",
)


def test_uuid4_blocks_hold_distinct_canonical_version_4_ids() -> None:
    block = uuid4_block(5000)
    ids = block.split()
    assert len(ids) == 5000 and len(block) == 37 * 5000 and len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_new_event_ids_stay_distinct_across_block_refills() -> None:
    ids = [new_event_id() for _ in range(5000)]  # several refills of the pool
    assert len(set(ids)) == 5000 and all(uuid.UUID(i).version == 4 for i in ids)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_reuses_its_parents_pending_ids() -> None:
    new_event_id()  # the pool now holds ids the parent will use next
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_event_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child_id = os.read(read, 100).decode()
    os.close(read)
    parent_next = [new_event_id() for _ in range(2000)]
    assert uuid.UUID(child_id).version == 4 and child_id not in parent_next


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=0, max_value=4_102_444_800))  # 1970 .. 2100
def test_occurred_at_is_the_clock_reading_at_microsecond_precision(clock: float) -> None:
    encoder = EventEncoder("acme-ai", SECRET, clock=lambda: clock)
    # The first event fills the per-second cache (checked path), the second one takes the fast path.
    texts = [encoder.encode("u", **GIVEN)[1] for _ in range(2)]
    expected = datetime.fromtimestamp(clock, UTC)
    for text in texts:
        assert parse_event(json.loads(text)).occurred_at == expected
    assert time_text(clock) == expected.isoformat().replace("+00:00", "Z")


def test_the_fast_path_serves_the_rest_of_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[object] = []
    original = EventEncoder._checked

    def spy(self: EventEncoder, *args: Any) -> Any:
        checked.append(args[-1])  # the clock reading the fast path handed over
        return original(self, *args)

    monkeypatch.setattr(EventEncoder, "_checked", spy)
    readings = iter(
        [1_790_000_000.25, 1_790_000_000.5, 1_790_000_000.75, 1_790_000_001.0, 1_790_000_001.125, 1_790_000_001.5]
    )
    encoder = EventEncoder("acme-ai", SECRET, clock=lambda: next(readings))
    times = [json.loads(encoder.encode("u", **GIVEN)[1])["occurred_at"] for _ in range(6)]
    assert times == [
        "2026-09-21T14:13:20.250000Z",
        "2026-09-21T14:13:20.500000Z",
        "2026-09-21T14:13:20.750000Z",
        "2026-09-21T14:13:21Z",
        "2026-09-21T14:13:21.125000Z",
        "2026-09-21T14:13:21.500000Z",
    ]
    # A new second, and a whole second (no fraction to write), take the checked path; the rest do not.
    assert checked == [1_790_000_000.25, 1_790_000_001.0, 1_790_000_001.125]


fast_fields = st.fixed_dictionaries(
    {
        "user_id": st.text(min_size=1, max_size=30),
        "score": st.floats(min_value=0.0, max_value=1.0),
        "technique": st.sampled_from([None, "roleplay", "encoding"]),
        "identity_verification": st.sampled_from([None, "none", "email", "government_id"]),
        "account_age_bucket": st.sampled_from([None, "lt_1d", "gt_365d"]),
    }
)


@settings(max_examples=200, deadline=None)
@given(fast_fields)
def test_the_fast_and_the_checked_path_write_the_same_bytes(fields: dict[str, Any]) -> None:
    encoder = EventEncoder("acme-ai", SECRET)
    args = {**GIVEN, **fields}
    encoder.encode(**args)  # warms the caches (model family, second)
    partition_hash, fast = encoder.encode(**args)
    wire = json.loads(fast)
    # The same event with its id and time given takes the checked path.
    again = encoder.encode(**args, event_id=wire["event_id"], occurred_at=parse_event(wire).occurred_at)
    assert again == (partition_hash, fast)
    assert canonical_json(wire) == fast.encode("utf-8")
    assert wire["actor"] == pseudonymise(SECRET, fields["user_id"])
    assert partition_hash == actor_partition_hash(wire["actor"])


@pytest.mark.parametrize("count", [0, 1, 2, 3])
def test_a_record_value_is_the_canonical_json_of_its_events(count: int) -> None:
    encoder = EventEncoder("acme-ai", SECRET)
    texts = [encoder.encode(f"u{i}", **GIVEN)[1] for i in range(count)]
    value = batch_value("acme-ai", 4, texts)
    assert value == canonical_json(
        {
            "events": [json.loads(t) for t in texts],
            "format": "flockview.batch.v1",
            "partitions": 4,
            "provider": "acme-ai",
        }
    )


CLOSED = sorted(n for n in (*PROVIDER_REQUIRED, *PROVIDER_OPTIONAL) if FIELDS[n].values is not None)


def test_the_encoder_takes_exactly_the_fields_a_provider_sets() -> None:
    passed = {"user_id", *PROVIDER_REQUIRED, *PROVIDER_OPTIONAL}
    assert set(inspect.signature(EventEncoder.encode).parameters) - {"self"} == passed
    emit = EventEncoder("acme-ai", SECRET).emitter(lambda *args: args)
    assert set(inspect.signature(emit).parameters) == passed


@pytest.mark.parametrize("name", CLOSED)
def test_the_encoder_accepts_every_value_of_a_closed_vocabulary_and_nothing_else(name: str) -> None:
    """The encoder's tables are the contract's vocabularies: each value is written as the contract reads it."""
    rule = FIELDS[name]
    assert rule.values
    encoder = EventEncoder("acme-ai", SECRET)
    for value in rule.values:
        for _ in range(2):  # the checked path, then the fast path (caches warm)
            event = parse_event(json.loads(encoder.encode("u", **{**GIVEN, name: value})[1]))
            assert str(getattr(event, name)) == value
    for wrong in {"bogus", *(v.upper() for v in rule.values), *(v.lower() for v in rule.values), 1}:
        if wrong in rule.values:
            continue
        with pytest.raises(SchemaError, match=f"^{name}: "):
            encoder.encode("u", **{**GIVEN, name: wrong})
