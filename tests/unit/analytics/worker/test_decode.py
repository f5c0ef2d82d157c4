"""The worker's fast decoder takes only records the contract accepts whole, and reads the same values."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st

from analytics.families import load_families
from analytics.worker import decode
from analytics.worker.aggregator import seconds_since_epoch
from analytics.worker.columns import EventBatch, profile_fields
from analytics.worker.decode import FastDecoder
from ingest.contract.fields import FIELDS
from ingest.contract.records import PROVIDER_HEADER, SIGNATURE_HEADER, decode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import new_signing_key, public_key_to_text, sign
from ingest.sdk.client import Client
from ingest.sdk.encoder import format_time

KEY = new_signing_key()
REGISTRY = ProviderRegistry.from_mapping({"acme-ai": public_key_to_text(KEY.public_key())})
PROFILE_FIELDS = profile_fields(load_families())
ACTOR = "0123456789abcdef" * 4

digits = st.integers(0, 9).map(str)


@st.composite
def times(draw: st.DrawFn) -> str:
    """RFC 3339 and near misses: fractions of 0-9 digits, T/t/space, Z/z/offsets, impossible dates."""
    year, month, day = draw(st.integers(1, 9999)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 60)), draw(st.integers(0, 61))
    fraction = "".join(draw(st.lists(digits, max_size=9)))
    sep = draw(st.sampled_from(["T", "t", " ", "_"]))
    zone = draw(st.sampled_from(["Z", "z", "", "+00:00", "-00:00", "+05:30", "-23:59", "+24:00", "+0100", "+01"]))
    text = f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}"
    return text + (f".{fraction}" if fraction or draw(st.booleans()) else "") + zone


def valid_times() -> st.SearchStrategy[str]:
    return st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.sampled_from([UTC])
    ).map(lambda d: d.isoformat())


def sdk_times() -> st.SearchStrategy[str]:
    """Times as the SDK writes them (``Z``, six fraction digits or none), inside and outside 1970-2199."""
    return st.datetimes(
        min_value=datetime(1960, 1, 1), max_value=datetime(2260, 1, 1), timezones=st.sampled_from([UTC])
    ).map(format_time)


@st.composite
def fixed_shape_times(draw: st.DrawFn) -> str:
    """The SDK's shape with impossible fields: month 0/13, day 32, hour 24, second 60, non-digits."""
    year, month, day = draw(st.integers(1960, 2260)), draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = draw(st.integers(0, 25)), draw(st.integers(0, 60)), draw(st.integers(0, 61))
    text = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{draw(st.integers(0, 999999)):06d}Z"
    if draw(st.booleans()):
        at = draw(st.integers(0, len(text) - 1))
        text = text[:at] + draw(st.sampled_from(["/", ":", "a", " ", "٣", "-"])) + text[at + 1 :]
    return text


ids = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: u.hex),
    st.uuids().map(lambda u: "{" + str(u) + "}"),
    st.uuids().map(lambda u: str(u)[:-1] + "-"),
    st.text(max_size=40),
)
actors = st.one_of(
    st.just(ACTOR),
    st.just(ACTOR.upper()),
    st.just(ACTOR[:-1]),
    st.just(ACTOR + "0"),
    st.just(ACTOR[:-2] + " 0"),
    st.just(ACTOR[:-1] + "\n"),
    st.just(ACTOR[:-1] + "٣"),
    st.binary(min_size=32, max_size=32).map(bytes.hex),
)
model_families = st.one_of(
    st.sampled_from(["acme-large", "m", "x.y+z_1-2", "Acme", "-m", "m\n", "m m", "м", ""]),
    st.text(alphabet="abc.-+_9", min_size=1, max_size=70),
)
scores = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-0.5, max_value=1.5),
    st.sampled_from([0, 1, 2, -0.0, True, False, "0.5", None]),
)


def maybe(value: st.SearchStrategy[object], *others: object) -> st.SearchStrategy[object]:
    return st.one_of(value, st.sampled_from(list(others)))


@st.composite
def valid_variants(draw: st.DrawFn) -> str:
    """Valid times written the ways RFC 3339 allows: T/t/space, Z/z/offsets, 0-6 fraction digits."""
    moment = draw(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1)))
    fraction = "".join(draw(st.lists(digits, min_size=1, max_size=6))) if draw(st.booleans()) else ""
    zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "-23:59", "+14:00"]))
    sep = draw(st.sampled_from(["T", "t", " "]))
    return moment.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + (f".{fraction}" if fraction else "") + zone


VALID = {
    "event_id": st.one_of(st.uuids().map(str), st.uuids().map(lambda u: str(u).upper())),
    "occurred_at": st.one_of(valid_times(), valid_variants(), sdk_times()),
    "provider": st.just("acme-ai"),
    "actor": st.one_of(st.just(ACTOR), st.binary(min_size=32, max_size=32).map(bytes.hex)),
    "surface": st.sampled_from(["api", "consumer_app", "open_weights_host"]),
    "model_family": st.sampled_from(["acme-large", "m", "x.y+z_1-2", "9"]),
    "detection_stage": st.sampled_from(["input_filter", "output_filter"]),
    "category": st.sampled_from(["cyber.malware", "cbrn.bio"]),
    "action": st.sampled_from(["block", "warn", "ban", "allow"]),
    "score": st.one_of(st.floats(0, 1), st.sampled_from([0, 1, -0.0])),
    "jurisdiction": st.sampled_from(["US", "DE", "EU", "ZZ"]),
    "language": st.sampled_from(["en", "de", "und"]),
    "technique": st.sampled_from([None, "roleplay", "encoding"]),
    "schema_version": st.just(1),
    "identity_verification": st.sampled_from(["none", "email", "government_id"]),
    "account_age_bucket": st.sampled_from([None, "lt_1d", "gt_365d"]),
}
WILD = {
    "event_id": ids,
    "occurred_at": st.one_of(times(), fixed_shape_times()),
    "provider": st.sampled_from(["other-lab", "ACME", ""]),
    "actor": actors,
    "surface": st.sampled_from(["API", 3, None]),
    "model_family": model_families,
    "detection_stage": st.sampled_from(["bogus", ""]),
    "category": st.sampled_from(["weapons", None]),
    "action": st.sampled_from(["Block", "nope"]),
    "score": scores,
    "jurisdiction": st.sampled_from(["us", "XX"]),
    "language": st.sampled_from(["EN", "xx"]),
    "technique": st.sampled_from(["nope", 1]),
    "schema_version": st.sampled_from([1.0, True, "1", 2]),
    "identity_verification": st.sampled_from([None, "x"]),
    "account_age_bucket": st.sampled_from(["old", 0]),
}


@st.composite
def events(draw: st.DrawFn) -> dict[str, object]:
    """A valid event, written in any of the ways the contract allows, with up to two fields made wild or absent."""
    event: dict[str, object] = {name: draw(strategy) for name, strategy in VALID.items()}
    changed = draw(st.sampled_from([0, 0, 0, 0, 1, 2]))
    for name in draw(st.sets(st.sampled_from(sorted(VALID)), min_size=changed, max_size=changed)):
        if draw(st.booleans()):
            event[name] = draw(WILD[name])
        else:
            del event[name]
    for name in ("technique", "account_age_bucket"):
        if event.get(name, 0) is None and draw(st.booleans()):
            del event[name]  # absent and null mean the same
    if draw(st.integers(0, 20)) == 0:
        event["prompt"] = "free text"
    return event


def record(
    events_: list[dict[str, object]], provider: str = "acme-ai", partitions: int = 4
) -> tuple[bytes, list[tuple[str, bytes]]]:
    body = {"format": "flockview.batch.v1", "provider": provider, "partitions": partitions, "events": events_}
    value = json.dumps(body).encode()
    return value, [(PROVIDER_HEADER, provider.encode()), (SIGNATURE_HEADER, sign(KEY, value))]


def as_lists(batch: EventBatch) -> tuple[object, ...]:
    return (
        batch.t.tolist(),
        batch.actors.tolist(),
        batch.ids.tolist(),
        [tuple(map(str, k)) for k in batch.profiles],
        batch.partitions.tolist(),
    )


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(events(), min_size=1, max_size=3))
def test_the_fast_decoder_takes_a_subset_of_the_contract_with_equal_values(batch: list[dict[str, object]]) -> None:
    value, headers = record(batch)
    fast = FastDecoder(REGISTRY, PROFILE_FIELDS).decode(value, headers, latest=float("inf"))
    hypothesis_event("fast path" if fast is not None else "contract's decoder")
    if fast is None:
        return  # the contract's decoder answers for this record
    decoded = decode_record(value, headers, REGISTRY)
    assert decoded.rejected == [] and len(decoded.events) == len(batch)
    assert as_lists(fast) == as_lists(EventBatch.from_events(decoded.events, PROFILE_FIELDS, decoded.partitions))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.lists(events(), max_size=3), st.booleans()), min_size=1, max_size=6),
    st.sampled_from([None, datetime(2050, 1, 1, tzinfo=UTC)]),
)
def test_a_batch_of_records_decodes_as_its_records_one_by_one(
    records: list[tuple[list[dict[str, object]], bool]], draw_latest: datetime | None
) -> None:
    """decode_many checks a whole batch at once, then record by record only when a check fails."""
    signed = []
    for events_, forged in records:
        value, headers = record(events_)
        signed.append((value, [headers[0], (SIGNATURE_HEADER, sign(new_signing_key(), value))] if forged else headers))
    latest = float("inf") if draw_latest is None else seconds_since_epoch(draw_latest)  # later events: refused
    one_by_one = [
        FastDecoder(REGISTRY, PROFILE_FIELDS).decode(value, headers, latest=latest) for value, headers in signed
    ]
    taken = [b for b in one_by_one if b is not None]
    for chunk_bytes in (decode._CHUNK_BYTES, 700):  # one chunk, and chunks of a few records
        with patch.object(decode, "_CHUNK_BYTES", chunk_bytes):
            batch, sizes = FastDecoder(REGISTRY, PROFILE_FIELDS).decode_many(signed, latest=latest)
        assert sizes == [None if b is None else len(b) for b in one_by_one]
        assert as_lists(batch) == as_lists(EventBatch.concat(taken))
        assert batch.providers == sum((b.providers for b in taken), Counter())


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(valid_times(), st.uuids(), st.sampled_from([None, "roleplay"])), min_size=1, max_size=5))
def test_valid_records_take_the_fast_path(items: list[tuple[str, uuid.UUID, str | None]]) -> None:
    events_ = [
        {
            "event_id": str(u),
            "occurred_at": t,
            "provider": "acme-ai",
            "actor": ACTOR,
            "surface": "api",
            "model_family": "acme-large",
            "detection_stage": "input_filter",
            "category": "cbrn.bio",
            "action": "warn",
            "score": 0.5,
            "jurisdiction": "DE",
            "language": "de",
            "technique": tech,
        }
        for t, u, tech in items
    ]
    value, headers = record(events_)
    fast = FastDecoder(REGISTRY, PROFILE_FIELDS).decode(value, headers, latest=float("inf"))
    assert fast is not None
    assert as_lists(fast) == as_lists(
        EventBatch.from_events(decode_record(value, headers, REGISTRY).events, PROFILE_FIELDS, partitions=4)
    )


def test_what_the_sdk_sends_takes_the_fast_path_and_the_future_does_not() -> None:
    """Records exactly as the SDK writes them (its test sink) are decoded fast; a clock-skewed event is not."""
    client = Client("acme-ai", b"s" * 32, KEY, send=False)
    now = datetime.now(UTC)
    for i in range(50):
        client.emit(
            user_id=f"user-{i % 7}",
            category="cyber.malware",
            detection_stage="output_filter",
            action="block",
            surface="api",
            model_family="acme-large",
            score=0.9,
            jurisdiction="US",
            language="en",
            technique="roleplay" if i % 2 else None,
            occurred_at=now - timedelta(seconds=i),
        )
    client.flush(10)
    assert client.sink is not None
    sent = list(client.sink.records)
    client.close()
    assert sum(len(json.loads(value)["events"]) for _, value, _ in sent) == 50
    decoder = FastDecoder(REGISTRY, PROFILE_FIELDS)
    for _, value, headers in sent:
        assert decoder.decode(value, headers, latest=float("inf")) is not None
        assert decoder.decode(value, headers, latest=0.0) is None  # events after `latest`: the slow path names them


def _event(**overrides: object) -> dict[str, object]:
    return {
        "event_id": str(uuid.uuid4()),
        "occurred_at": "2026-11-20T10:00:00Z",
        "provider": "acme-ai",
        "actor": ACTOR,
        "surface": "api",
        "model_family": "acme-large",
        "detection_stage": "input_filter",
        "category": "cbrn.bio",
        "action": "block",
        "score": 0.5,
        "jurisdiction": "DE",
        "language": "de",
        **overrides,
    }


def test_the_wire_struct_is_the_contracts_fields_with_its_defaults() -> None:
    struct = decode.WireEvent
    assert set(struct.__struct_fields__) == set(FIELDS)
    defaults = dict(
        zip(struct.__struct_fields__[-len(struct.__struct_defaults__) :], struct.__struct_defaults__, strict=True)
    )
    expected = {n: r.default for n, r in FIELDS.items() if not r.required and r.default_factory is None}
    assert defaults == expected


@pytest.mark.parametrize("name", sorted(n for n, r in FIELDS.items() if r.values is not None))
def test_the_decoder_takes_every_value_of_a_closed_vocabulary_and_nothing_else(name: str) -> None:
    """The decoder's wire types are the contract's vocabularies: a record holding every value is taken whole."""
    rule = FIELDS[name]
    assert rule.values
    decoder = FastDecoder(REGISTRY, [name])
    value, headers = record([_event(**{name: v}) for v in rule.values])
    batch = decoder.decode(value, headers, latest=float("inf"))
    assert batch is not None and [str(p[0]) for p in batch.profiles] == list(rule.values)
    for wrong in {"bogus", *(v.upper() for v in rule.values), *(v.lower() for v in rule.values), 1}:
        if wrong in rule.values:
            continue
        value, headers = record([_event(**{name: wrong})])
        assert decoder.decode(value, headers, latest=float("inf")) is None  # the contract's decoder answers
        assert decode_record(value, headers, REGISTRY).rejected


@pytest.mark.parametrize("name", sorted(n for n, r in FIELDS.items() if r.pattern is not None))
def test_the_decoder_checks_the_contracts_patterns(name: str) -> None:
    decoder = FastDecoder(REGISTRY, PROFILE_FIELDS)
    good = _event()
    assert decoder.decode(*record([good]), latest=float("inf")) is not None
    for wrong in (str(good[name]).upper(), str(good[name]) + "\n", "", "-" + str(good[name])):
        if FIELDS[name].matcher.fullmatch(wrong):
            continue
        value, headers = record([_event(**{name: wrong})])
        assert decoder.decode(value, headers, latest=float("inf")) is None
        assert decode_record(value, headers, REGISTRY).rejected
