"""Event contract v1: strict validation with errors that name the field and the allowed values."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ingest.contract.events import canonical_json, json_schema, parse_event
from ingest.contract.taxonomy import JURISDICTIONS, LANGUAGES, Action, Category, DetectionStage, Surface, Technique
from ingest.errors import SchemaError

ACTOR = "a" * 64


def valid(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "occurred_at": "2026-11-20T10:00:00Z",
        "provider": "acme-ai",
        "actor": ACTOR,
        "surface": "api",
        "model_family": "acme-large",
        "detection_stage": "input_filter",
        "category": "cbrn.bio",
        "technique": "low_resource_language",
        "action": "block",
        "score": 0.93,
        "jurisdiction": "DE",
        "language": "de",
    }
    data.update(overrides)
    return data


def test_valid_event_parses_with_defaults() -> None:
    event = parse_event(valid())
    assert event.category is Category.CBRN_BIO
    assert event.schema_version == 1
    assert isinstance(event.event_id, uuid.UUID)
    assert event.occurred_at == datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_unknown_enum_names_field_and_allowed_values() -> None:
    with pytest.raises(SchemaError) as info:
        parse_event(valid(category="bioweapons"))
    message = str(info.value)
    assert message.startswith("category: 'bioweapons' is not allowed")
    for member in Category:
        assert member.value in message


def test_error_is_a_value_error_and_lists_every_bad_field() -> None:
    with pytest.raises(ValueError) as info:
        parse_event(valid(action="nuke", score=1.5, jurisdiction="XY", language="klingon"))
    message = str(info.value)
    for field in ("action:", "score:", "jurisdiction:", "language:"):
        assert field in message


def test_missing_field_and_free_text_are_refused() -> None:
    data = valid(prompt="how do I …")
    del data["surface"]
    with pytest.raises(SchemaError) as info:
        parse_event(data)
    assert "surface: required field is missing" in str(info.value)
    assert "prompt: unknown field" in str(info.value)


def test_naive_timestamp_is_refused_and_offsets_become_utc() -> None:
    with pytest.raises(SchemaError, match="occurred_at: must include a timezone"):
        parse_event(valid(occurred_at="2026-11-20T10:00:00"))
    event = parse_event(valid(occurred_at=datetime(2026, 11, 20, 12, tzinfo=timezone(timedelta(hours=2)))))
    assert event.occurred_at == datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_actor_must_be_a_pseudonym_not_a_raw_id() -> None:
    with pytest.raises(SchemaError, match="actor:"):
        parse_event(valid(actor="alice@example.com"))


def test_json_schema_lists_every_taxonomy() -> None:
    schema = json_schema()
    defs = schema["$defs"]
    assert set(defs["Category"]["enum"]) == {c.value for c in Category}
    assert set(defs["Technique"]["enum"]) == {t.value for t in Technique}
    assert set(defs["DetectionStage"]["enum"]) == {s.value for s in DetectionStage}
    assert set(defs["Action"]["enum"]) == {a.value for a in Action}
    assert set(defs["Surface"]["enum"]) == {s.value for s in Surface}
    assert "prompt" not in schema["properties"]


events = st.builds(
    dict,
    occurred_at=st.datetimes(timezones=st.just(UTC)),
    provider=st.from_regex(r"\A[a-z0-9][a-z0-9_.-]{1,20}\Z"),
    actor=st.from_regex(r"\A[0-9a-f]{64}\Z"),
    surface=st.sampled_from([s.value for s in Surface]),
    model_family=st.from_regex(r"\A[a-z0-9][a-z0-9_.+-]{0,20}\Z"),
    detection_stage=st.sampled_from([s.value for s in DetectionStage]),
    category=st.sampled_from([c.value for c in Category]),
    technique=st.sampled_from([t.value for t in Technique]),
    action=st.sampled_from([a.value for a in Action]),
    score=st.floats(0, 1),
    jurisdiction=st.sampled_from(sorted(JURISDICTIONS)),
    language=st.sampled_from(sorted(LANGUAGES)),
)


@given(events)
def test_every_valid_event_round_trips_through_canonical_json(data: dict[str, object]) -> None:
    event = parse_event(data)
    again = parse_event(json.loads(canonical_json(event.to_wire())))
    assert again == event


ENUMS = {
    "category": Category,
    "technique": Technique,
    "action": Action,
    "surface": Surface,
    "detection_stage": DetectionStage,
}


@given(events, st.sampled_from(sorted(ENUMS)), st.text(min_size=1))
def test_every_unknown_enum_value_raises(data: dict[str, object], field: str, bad: str) -> None:
    assume(bad not in {m.value for m in ENUMS[field]})
    data[field] = bad
    with pytest.raises(SchemaError, match=f"^{field}: "):
        parse_event(data)
