"""The field rules are the contract: the pydantic model follows them exactly, value for value."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.contract.events import Event, json_schema, parse_event
from ingest.contract.fields import (
    CODE_FIELDS,
    ENUM_FIELDS,
    FIELDS,
    PROVIDER_OPTIONAL,
    PROVIDER_REQUIRED,
    FieldRule,
    SetBy,
)
from ingest.errors import SchemaError

BASE: dict[str, object] = {
    "occurred_at": "2026-11-20T10:00:00Z",
    "provider": "acme-ai",
    "actor": "a" * 64,
    "surface": "api",
    "model_family": "acme-large",
    "detection_stage": "input_filter",
    "category": "cbrn.bio",
    "action": "block",
    "score": 0.5,
    "jurisdiction": "DE",
    "language": "de",
}
CLOSED = sorted(name for name, rule in FIELDS.items() if rule.values is not None)
PATTERNED = sorted(name for name, rule in FIELDS.items() if rule.pattern is not None)


def test_the_model_has_exactly_the_rules_fields_in_order() -> None:
    assert list(Event.model_fields) == list(FIELDS)
    assert list(json_schema()["properties"]) == list(FIELDS)
    assert sorted(json_schema()["required"]) == sorted(n for n, r in FIELDS.items() if r.required)


def test_who_sets_what_covers_every_field_once() -> None:
    by_sdk = [n for n, r in FIELDS.items() if r.set_by is SetBy.SDK]
    assert sorted([*PROVIDER_REQUIRED, *PROVIDER_OPTIONAL, *by_sdk]) == sorted(FIELDS)
    assert set(by_sdk) == {"schema_version", "provider", "actor"}
    assert set(ENUM_FIELDS) | set(CODE_FIELDS) == set(CLOSED)


@pytest.mark.parametrize("name", CLOSED)
def test_every_value_of_a_closed_vocabulary_is_accepted_and_nothing_else(name: str) -> None:
    rule = FIELDS[name]
    assert rule.values
    for value in rule.values:
        assert str(getattr(parse_event({**BASE, name: value}), name)) == value
    for wrong in {"bogus", *(v.upper() for v in rule.values), *(v.lower() for v in rule.values), " " + rule.values[0]}:
        if wrong in rule.values:
            continue
        with pytest.raises(SchemaError, match=f"^{name}: "):
            parse_event({**BASE, name: wrong})


def _pydantic_accepts(name: str, value: str) -> bool:
    try:
        parse_event({**BASE, name: value})
    except SchemaError:
        return False
    return True


@pytest.mark.parametrize("name", PATTERNED)
@given(st.data())
def test_a_rules_matcher_accepts_exactly_what_the_model_accepts(name: str, data: st.DataObject) -> None:
    rule: FieldRule = FIELDS[name]
    text = data.draw(
        st.from_regex(rule.matcher, fullmatch=True)
        | st.from_regex(rule.matcher, fullmatch=True).map(lambda v: v + "\n")
        | st.text(alphabet="abcdef0123456789-_.+A \n", max_size=70)
    )
    assert bool(rule.matcher.fullmatch(text)) == _pydantic_accepts(name, text)


def test_the_score_range_is_the_rules() -> None:
    rule = FIELDS["score"]
    assert rule.low is not None and rule.high is not None
    for inside in (rule.low, rule.high, (rule.low + rule.high) / 2):
        parse_event({**BASE, "score": inside})
    for outside in (rule.low - 1e-9, rule.high + 1e-9, float("nan"), float("inf")):
        with pytest.raises(SchemaError, match=r"^score: "):
            parse_event({**BASE, "score": outside})


def test_defaults_are_the_rules() -> None:
    event = parse_event(BASE)
    for name, rule in FIELDS.items():
        if not rule.required and rule.default_factory is None:
            assert getattr(event, name) == rule.default, name
