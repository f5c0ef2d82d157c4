"""Event contract v1: the one pydantic model every provider sends and every worker accepts.

The model is the reference validator, built on the field rules of :mod:`ingest.contract.fields` and
checked against them at import; its error messages are the contract's rejection reasons. No prompt
or completion text has a field here, and unknown fields are rejected, so none can be smuggled in.
Unknown enum values are errors, never coerced.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_core import ErrorDetails

from ingest.contract.fields import (
    ACTOR_PATTERN,
    CODE_FIELDS,
    ENUM_FIELDS,
    FIELDS,
    MODEL_FAMILY_PATTERN,
    PROVIDER_ID_PATTERN,
    SCHEMA_VERSION,
    FieldRule,
)
from ingest.contract.taxonomy import (
    AccountAgeBucket,
    Action,
    Category,
    DetectionStage,
    IdentityVerification,
    Surface,
    Technique,
)
from ingest.errors import SchemaError

__all__ = [
    "ACTOR_PATTERN",
    "MODEL_FAMILY_PATTERN",
    "PROVIDER_ID_PATTERN",
    "SCHEMA_VERSION",
    "Event",
    "canonical_json",
    "json_schema",
    "parse_event",
    "schema_error",
]


def _field_of(name: str) -> Any:
    """The pydantic ``Field`` of one contract field: its constraints, default and description from its rule."""
    rule = FIELDS[name]
    options: dict[str, Any] = {}
    if rule.default_factory is not None:
        options["default_factory"] = rule.default_factory
    elif not rule.required:
        options["default"] = rule.default
    if rule.pattern is not None:
        options["pattern"] = rule.pattern
    if rule.low is not None or rule.high is not None:
        options.update(ge=rule.low, le=rule.high, allow_inf_nan=False)
    if rule.description is not None:
        options["description"] = rule.description
    return Field(**options)


class Event(BaseModel):
    """One safety-classifier event, as it travels from a provider to Flockview (schema v1)."""

    # This docstring is the JSON Schema's description. Each field's constraints come from its rule in
    # ingest.contract.fields.FIELDS; the types below are checked against those rules at import.
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    schema_version: Literal[1] = _field_of("schema_version")
    event_id: uuid.UUID = _field_of("event_id")
    occurred_at: datetime = _field_of("occurred_at")
    provider: str = _field_of("provider")
    actor: str = _field_of("actor")
    account_age_bucket: AccountAgeBucket | None = _field_of("account_age_bucket")
    identity_verification: IdentityVerification = _field_of("identity_verification")
    surface: Surface = _field_of("surface")
    model_family: str = _field_of("model_family")
    detection_stage: DetectionStage = _field_of("detection_stage")
    category: Category = _field_of("category")
    technique: Technique | None = _field_of("technique")
    action: Action = _field_of("action")
    score: float = _field_of("score")
    jurisdiction: str = _field_of("jurisdiction")
    language: str = _field_of("language")

    @field_validator("occurred_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must include a timezone (use UTC)")
        return value.astimezone(UTC)

    @field_validator(*CODE_FIELDS)
    @classmethod
    def _known_code(cls, value: str, info: ValidationInfo) -> str:
        rule = CODE_FIELDS[info.field_name or ""]
        if value not in (rule.codes or ()):
            raise ValueError(f"{value!r} is not {rule.expected}")
        return value

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict that is signed and sent."""
        return self.model_dump(mode="json", exclude_none=True)


def _held_type(rule: FieldRule) -> object:
    """The type a model field following ``rule`` must be annotated with."""
    return rule.value_type | None if rule.nullable else rule.value_type  # type: ignore[operator]  # a type, held as object


def _check_against_rules() -> None:
    """The model has exactly the contract's fields, in order, each typed and required as its rule says.

    (Constraints, defaults and descriptions need no check: :func:`_field_of` takes them from the rule.)
    """
    if list(Event.model_fields) != list(FIELDS):
        raise RuntimeError(
            f"this is a bug: Event's fields {list(Event.model_fields)} are not the contract's {list(FIELDS)}"
        )
    for name, rule in FIELDS.items():
        info = Event.model_fields[name]
        if info.annotation != _held_type(rule) or info.is_required() != rule.required:
            raise RuntimeError(f"this is a bug: Event.{name} does not follow its rule in ingest.contract.fields")


_check_against_rules()


def _describe(error: ErrorDetails) -> str:
    field = ".".join(str(p) for p in error["loc"]) or "event"
    top = str(error["loc"][0]) if error["loc"] else ""
    value = error.get("input")
    if top in ENUM_FIELDS and error["type"] == "enum":
        allowed = ", ".join(FIELDS[top].values or ())
        return f"{field}: {value!r} is not allowed; allowed values: {allowed}"
    if error["type"] == "missing":
        return f"{field}: required field is missing"
    if error["type"] == "extra_forbidden":
        return f"{field}: unknown field (contract v1 has no such field; no free text is accepted)"
    message = re.sub(r"^Value error, ", "", error["msg"])
    return f"{field}: {message} (got {value!r})" if top else message


def schema_error(exc: ValidationError) -> SchemaError:
    """Turn pydantic's error into one SchemaError whose message names each bad field."""
    return SchemaError("; ".join(_describe(e) for e in exc.errors(include_url=False)))


def parse_event(data: dict[str, Any]) -> Event:
    """Validate a dict (e.g. from JSON) against contract v1.

    Raises:
        SchemaError: naming each bad field and, for enums, the allowed values.
    """
    try:
        return Event.model_validate(data)
    except ValidationError as exc:
        raise schema_error(exc) from None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of contract v1."""
    schema = Event.model_json_schema()
    schema["$id"] = "https://flockview.dev/schema/event/v1.json"
    schema["title"] = "Flockview event v1"
    return schema


def now_utc() -> datetime:
    return datetime.now(UTC)


def canonical_json(data: Any) -> bytes:
    """Canonical serialisation: sorted keys, no spaces, UTF-8. What is signed is exactly these bytes."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
