"""The field rules of event contract v1, declared once: the one table every check of an event derives from.

Each :class:`FieldRule` says what one field holds, who sets it and what is accepted: a public
taxonomy (exactly its values), a closed code list, an open vocabulary (a pattern the whole value
must match) or a number range, and the default when it is absent. The pydantic
:class:`ingest.contract.events.Event` takes its constraints from this table and is checked against it
at import; the SDK's encoder (``ingest.sdk.encoder``) and the worker's decoder
(``analytics.worker.decode``) build their lookup tables, patterns and wire types from it at import.
So adding a category or changing a pattern is one edit here, and no path can accept what another refuses.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from types import MappingProxyType
from typing import Final, Literal

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

SCHEMA_VERSION: Final = 1

PROVIDER_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{1,62}$"
ACTOR_PATTERN = r"^[0-9a-f]{64}$"
MODEL_FAMILY_PATTERN = r"^[a-z0-9][a-z0-9_.+-]{0,63}$"


class SetBy(StrEnum):
    """Who fills a field in: what a provider passes to ``Client.emit`` is the fields it may set."""

    PROVIDER = "provider"  # the provider passes it
    SDK = "sdk"  # the SDK writes it (the provider id, the pseudonym, the schema version); never passed
    EITHER = "either"  # the provider may pass it; when it does not, the SDK fills it in (now, a fresh id)


@dataclass(frozen=True)
class FieldRule:
    """One field of contract v1 and the rule its value follows.

    Attributes:
        name: the field's name on the wire.
        value_type: what the validated event holds: a taxonomy (a ``StrEnum``), ``str``, ``float``,
            ``uuid.UUID``, a timezone-aware ``datetime``, or a ``Literal`` constant.
        set_by: who fills the field in.
        required: an event without it is invalid; otherwise ``default`` (or ``default_factory``) applies.
        default: the value of an absent optional field; None also lets the field be null.
        default_factory: makes the default of an absent field (a fresh event id).
        codes: a closed code list for a ``str`` field (ISO codes).
        pattern: an open vocabulary for a ``str`` field: the whole value must match (anchored, as in JSON Schema).
        low, high: the closed range of a number (NaN and infinities are refused).
        expected: what a value must be, in words, for error messages (code lists).
        description: the field's description in the JSON Schema.
    """

    name: str
    value_type: object
    set_by: SetBy = SetBy.PROVIDER
    required: bool = True
    default: object = None
    default_factory: Callable[[], object] | None = None
    codes: frozenset[str] | None = None
    pattern: str | None = None
    low: float | None = None
    high: float | None = None
    expected: str | None = None
    description: str | None = None

    @property
    def enum(self) -> type[StrEnum] | None:
        """The taxonomy the field's values come from, if it has one."""
        held = self.value_type
        return held if isinstance(held, type) and issubclass(held, StrEnum) else None

    @property
    def values(self) -> tuple[str, ...] | None:
        """Every accepted value of a closed vocabulary (a taxonomy in its order, codes sorted); None if open."""
        if self.enum is not None:
            return tuple(member.value for member in self.enum)
        return tuple(sorted(self.codes)) if self.codes is not None else None

    @property
    def nullable(self) -> bool:
        """Whether null (or leaving the field out) means "not given"."""
        return not self.required and self.default is None and self.default_factory is None

    @cached_property
    def matcher(self) -> re.Pattern[str]:
        """The compiled ``pattern``: its ``fullmatch`` accepts exactly what the contract's pattern accepts."""
        if self.pattern is None:
            raise TypeError(f"this is a bug: contract field {self.name!r} has no pattern")
        return re.compile(self.pattern)


def _table(*rules: FieldRule) -> Mapping[str, FieldRule]:
    return MappingProxyType({rule.name: rule for rule in rules})


#: Contract v1, field by field, in the order of the pydantic model.
FIELDS: Mapping[str, FieldRule] = _table(
    FieldRule("schema_version", Literal[1], SetBy.SDK, required=False, default=SCHEMA_VERSION),
    FieldRule(
        "event_id",
        uuid.UUID,
        SetBy.EITHER,
        required=False,
        default_factory=uuid.uuid4,
        description="Idempotency key.",
    ),
    FieldRule(
        "occurred_at",
        datetime,
        SetBy.EITHER,
        description="When the classifier fired, timezone-aware, stored in UTC.",
    ),
    FieldRule("provider", str, SetBy.SDK, pattern=PROVIDER_ID_PATTERN, description="Registered provider id."),
    FieldRule(
        "actor",
        str,
        SetBy.SDK,
        pattern=ACTOR_PATTERN,
        description="HMAC-SHA256 pseudonym of the provider's user id, computed by the SDK. Never a raw id.",
    ),
    FieldRule("account_age_bucket", AccountAgeBucket, required=False),
    FieldRule("identity_verification", IdentityVerification, required=False, default=IdentityVerification.NONE),
    FieldRule("surface", Surface),
    FieldRule("model_family", str, pattern=MODEL_FAMILY_PATTERN, description="Open vocabulary, lower case."),
    FieldRule("detection_stage", DetectionStage),
    FieldRule("category", Category),
    FieldRule("technique", Technique, required=False),
    FieldRule("action", Action),
    FieldRule("score", float, low=0.0, high=1.0),
    FieldRule(
        "jurisdiction",
        str,
        codes=JURISDICTIONS,
        expected="an ISO 3166-1 alpha-2 code or region bucket (EU, ZZ)",
        description="ISO 3166-1 alpha-2 code, or a region bucket (EU, ZZ).",
    ),
    FieldRule(
        "language",
        str,
        codes=LANGUAGES,
        expected="an ISO 639-1 code or 'und'",
        description="ISO 639-1 code, or 'und'.",
    ),
)

#: Event fields whose values come from a public taxonomy, keyed by field name.
ENUM_FIELDS: Mapping[str, type[StrEnum]] = MappingProxyType(
    {name: rule.enum for name, rule in FIELDS.items() if rule.enum is not None}
)

#: Fields with a closed code list (not a taxonomy), keyed by field name.
CODE_FIELDS: Mapping[str, FieldRule] = MappingProxyType(
    {name: rule for name, rule in FIELDS.items() if rule.codes is not None}
)

#: The fields a provider passes (``Client.emit``'s keywords besides ``user_id``): those it must pass,
#: and those it may leave out.
PROVIDER_REQUIRED: tuple[str, ...] = tuple(n for n, r in FIELDS.items() if r.set_by is SetBy.PROVIDER and r.required)
PROVIDER_OPTIONAL: tuple[str, ...] = tuple(
    n for n, r in FIELDS.items() if r.set_by is SetBy.EITHER or (r.set_by is SetBy.PROVIDER and not r.required)
)
