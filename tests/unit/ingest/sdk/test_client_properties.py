"""Property tests: what the SDK's fast path accepts, the contract accepts byte for byte; what it refuses raises."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ingest.contract.events import canonical_json, parse_event
from ingest.contract.fields import ENUM_FIELDS, FIELDS
from ingest.contract.pseudonym import pseudonymise
from ingest.contract.taxonomy import (
    JURISDICTIONS,
    LANGUAGES,
    AccountAgeBucket,
    Action,
    Category,
    DetectionStage,
    IdentityVerification,
    Surface,
    Technique,
)
from ingest.contract.topics import actor_partition_hash
from ingest.errors import SchemaError
from ingest.sdk.encoder import EventEncoder

SECRET = bytes(range(32))
ENCODER = EventEncoder("acme-ai", SECRET)
ENUMS = ENUM_FIELDS
FAMILY = FIELDS["model_family"].matcher


def values(enum: Any) -> st.SearchStrategy[Any]:
    return st.sampled_from(list(enum)) | st.sampled_from([m.value for m in enum])


valid_fields = st.fixed_dictionaries(
    {
        "user_id": st.text(min_size=1, max_size=40),
        "surface": values(Surface),
        "detection_stage": values(DetectionStage),
        "category": values(Category),
        "action": values(Action),
        "model_family": st.from_regex(FAMILY, fullmatch=True),
        "score": st.floats(min_value=0.0, max_value=1.0) | st.sampled_from([0, 1]),
        "jurisdiction": st.sampled_from(sorted(JURISDICTIONS)),
        "language": st.sampled_from(sorted(LANGUAGES)),
    },
    optional={
        "technique": st.none() | values(Technique),
        "identity_verification": st.none() | values(IdentityVerification),
        "account_age_bucket": st.none() | values(AccountAgeBucket),
        "occurred_at": st.datetimes(
            min_value=datetime(1971, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.sampled_from([UTC, None]).map(lambda tz: tz or UTC)
            | st.integers(-14 * 60, 14 * 60).map(lambda m: _tz(m)),
        ),
        "event_id": st.none() | st.uuids(),
    },
)


def _tz(minutes: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(minutes=minutes))


@settings(max_examples=200, deadline=None)
@given(valid_fields)
def test_every_valid_event_round_trips_through_the_contract(fields: dict[str, Any]) -> None:
    partition_hash, text = ENCODER.encode_mapping(fields)
    wire = json.loads(text)
    event = parse_event(wire)
    assert event.to_wire() == wire  # the worker parses exactly what the SDK wrote ...
    assert canonical_json(wire) == text.encode("utf-8")  # ... and what it wrote is canonical
    assert event.actor == pseudonymise(SECRET, fields["user_id"]) and partition_hash == actor_partition_hash(
        event.actor
    )
    assert event.provider == "acme-ai" and event.category == fields["category"]
    if fields.get("event_id") is not None:
        assert event.event_id == fields["event_id"]
    if fields.get("occurred_at") is not None:
        assert event.occurred_at == fields["occurred_at"]


def _not_in(allowed: Any) -> st.SearchStrategy[Any]:
    allowed_text = {str(v) for v in allowed}
    return (st.text(max_size=12) | st.integers() | st.just(["api"])).filter(
        lambda v: not isinstance(v, str) or v not in allowed_text
    )


INVALID = {
    **{name: _not_in(enum) for name, enum in ENUMS.items()},
    "jurisdiction": _not_in(JURISDICTIONS) | st.none(),
    "language": _not_in(LANGUAGES) | st.none(),
    "model_family": st.text(max_size=70).filter(lambda v: not FAMILY.fullmatch(v)),
    "score": st.floats().filter(lambda x: math.isnan(x) or not 0 <= x <= 1)
    | st.booleans()
    | st.text(max_size=4)
    | st.none(),
    "user_id": st.just("") | st.integers() | st.none(),
    "event_id": st.text(max_size=20).filter(lambda v: v and not re.fullmatch(r"[0-9a-fA-F-]{36}", v)),
    "occurred_at": st.datetimes(min_value=datetime(1971, 1, 1))
    | st.text(max_size=10).filter(lambda v: not v.strip()[:1].isdigit()),
}


@settings(max_examples=200, deadline=None)
@given(valid_fields, st.sampled_from(sorted(INVALID)), st.data())
def test_every_invalid_event_raises_a_schema_error_naming_the_field(
    fields: dict[str, Any], name: str, data: st.DataObject
) -> None:
    bad = data.draw(INVALID[name])
    if name in ("technique", "identity_verification", "account_age_bucket") and bad is None:
        return  # optional: None is valid
    broken = {**fields, name: bad}
    try:
        ENCODER.encode_mapping(broken)
    except SchemaError as exc:
        assert str(exc).startswith(f"{name}: "), str(exc)
    else:
        raise AssertionError(f"{name}={bad!r} was accepted")


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(ENUMS)), st.text(min_size=1, max_size=12))
def test_the_sdk_is_never_more_lenient_than_the_contract(name: str, value: str) -> None:
    base = {
        "user_id": "u",
        "surface": "api",
        "detection_stage": "input_filter",
        "category": "other",
        "action": "warn",
        "model_family": "m",
        "score": 0.5,
        "jurisdiction": "FR",
        "language": "fr",
    }
    try:
        _, text = ENCODER.encode_mapping({**base, name: value})
    except SchemaError:
        return
    parse_event(json.loads(text))  # accepted by the SDK, so the contract must accept it too
