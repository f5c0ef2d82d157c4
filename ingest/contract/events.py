"""Event contract v1: the one pydantic model every provider sends and every worker accepts.

No prompt or completion text has a field here, and unknown fields are rejected, so none can be
smuggled in. Unknown enum values are errors, never coerced.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.contract.taxonomy import (
    ENUM_FIELDS,
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
from ingest.errors import SchemaError

SCHEMA_VERSION = 1

PROVIDER_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{1,62}$"
ACTOR_PATTERN = r"^[0-9a-f]{64}$"
MODEL_FAMILY_PATTERN = r"^[a-z0-9][a-z0-9_.+-]{0,63}$"

ProviderId = Annotated[str, Field(pattern=PROVIDER_ID_PATTERN, description="Registered provider id.")]


class Event(BaseModel):
    """One safety-classifier event, as it travels from a provider to Flockview (schema v1)."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

    schema_version: Literal[1] = SCHEMA_VERSION
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4, description="Idempotency key.")
    occurred_at: datetime = Field(description="When the classifier fired, timezone-aware, stored in UTC.")
    provider: ProviderId
    actor: str = Field(
        pattern=ACTOR_PATTERN,
        description="HMAC-SHA256 pseudonym of the provider's user id, computed by the SDK. Never a raw id.",
    )
    account_age_bucket: AccountAgeBucket | None = None
    identity_verification: IdentityVerification = IdentityVerification.NONE
    surface: Surface
    model_family: str = Field(pattern=MODEL_FAMILY_PATTERN, description="Open vocabulary, lower case.")
    detection_stage: DetectionStage
    category: Category
    technique: Technique | None = None
    action: Action
    score: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)
    jurisdiction: str = Field(description="ISO 3166-1 alpha-2 code, or a region bucket (EU, ZZ).")
    language: str = Field(description="ISO 639-1 code, or 'und'.")

    @field_validator("occurred_at")
    @classmethod
    def _aware_utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must include a timezone (use UTC)")
        return value.astimezone(UTC)

    @field_validator("jurisdiction")
    @classmethod
    def _known_jurisdiction(cls, value: str) -> str:
        if value not in JURISDICTIONS:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code or region bucket (EU, ZZ)")
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"{value!r} is not an ISO 639-1 code or 'und'")
        return value

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict that is signed and sent."""
        return self.model_dump(mode="json", exclude_none=True)


def _describe(error: dict[str, Any]) -> str:
    field = ".".join(str(p) for p in error["loc"]) or "event"
    top = str(error["loc"][0]) if error["loc"] else ""
    value = error.get("input")
    if top in ENUM_FIELDS and error["type"] == "enum":
        allowed = ", ".join(m.value for m in ENUM_FIELDS[top])
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
