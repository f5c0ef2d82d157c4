"""The SDK's wire format: validate one event against contract v1, queue it, write its canonical JSON.

Building a pydantic model per event costs tens of microseconds; a provider's request path cannot
afford that. :meth:`EventEncoder.queue_item` checks each field with one lookup in a frozen table built
from the same taxonomies and patterns as :class:`ingest.events.Event`, computes the HMAC pseudonym, and
returns a tuple of the validated JSON fragments plus the clock reading; the raw user id is not kept.
The background sender turns queued tuples into each event's canonical JSON with :func:`render` (sorted
keys, no spaces, exactly the bytes :func:`ingest.events.canonical_json` would write), drawing the
events' UUIDs in bulk and formatting ``occurred_at`` there, off the caller's thread. Every value it
writes is a table entry, a validated pattern, a hex digest or a number, so nothing needs escaping.

Anything unusual (a given ``occurred_at`` or ``event_id``, a non-float score, weekly rotation, or any
invalid value) takes the checked path, which writes the same bytes at once or raises
:class:`ingest.errors.SchemaError` naming the field and what is allowed. The test suite checks with
hypothesis that whatever either path accepts ``parse_event`` accepts too, byte for byte.

A record (:func:`batch_value`) is the canonical JSON of ``{"events": [...], "format": ..., "provider": ...}``
assembled from those fragments, so a whole batch is serialised at once and signed once.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Union

from ingest.errors import ConfigError, SchemaError
from ingest.events import MODEL_FAMILY_PATTERN, PROVIDER_ID_PATTERN
from ingest.pseudonym import period_key
from ingest.records import RECORD_FORMAT
from ingest.taxonomy import (
    JURISDICTIONS, LANGUAGES, AccountAgeBucket, Action, Category, DetectionStage, IdentityVerification, Surface,
    Technique,
)

_PROVIDER_RE = re.compile(PROVIDER_ID_PATTERN.strip("^$"))
_MODEL_FAMILY_RE = re.compile(MODEL_FAMILY_PATTERN.strip("^$"))
_MODEL_FAMILY_CACHE_LIMIT = 4096

#: Fields an event may carry besides the ones the SDK sets (provider, actor, event_id, schema_version).
REQUIRED_FIELDS = ("surface", "model_family", "detection_stage", "category", "action", "score", "jurisdiction",
                   "language")
OPTIONAL_FIELDS = ("technique", "identity_verification", "account_age_bucket", "occurred_at", "event_id")
ROTATIONS = ("none", "weekly")


def _table(values: Any) -> dict[str, str]:
    """Lookup table: accepted value → the exact string written (enum members hash like their value)."""
    return {str(v): str(v) for v in values}


_CATEGORY = _table(Category)
_STAGE = _table(DetectionStage)
_ACTION = _table(Action)
_SURFACE = _table(Surface)
_TECHNIQUE = _table(Technique)
_VERIFICATION = _table(IdentityVerification)
_AGE = _table(AccountAgeBucket)
_JURISDICTION = _table(JURISDICTIONS)
_LANGUAGE = _table(LANGUAGES)
# Optional fields as the fragments written in their sorted-key place (absent: nothing, or the default).
_AGE_FRAGMENT = {None: "", **{v: f'"account_age_bucket":"{v}",' for v in _AGE}}
_TECHNIQUE_FRAGMENT = {None: "", **{v: f',"technique":"{v}"' for v in _TECHNIQUE}}
_VERIFICATION_OR_DEFAULT = {None: str(IdentityVerification.NONE), **_VERIFICATION}

#: A ready event: (partition hash, canonical JSON).
Item = tuple[int, str]
#: What ``emit()`` queues: (HMAC digest, clock reading or ``occurred_at`` text, event id or None for a
#: fresh one, then the validated fragments in sorted-key order: account_age_bucket, action, category,
#: detection_stage, identity_verification, jurisdiction, language, model_family, score, surface,
#: technique). :func:`render` writes the event's JSON from it.
Pending = tuple[bytes, Union[float, str], Union[str, None], str, str, str, str, str, str, str, str, float, str, str]
QueueItem = Union[Item, Pending]


def _bad_enum(name: str, value: object, table: Mapping[str, str]) -> SchemaError:
    return SchemaError(f"{name}: {value!r} is not allowed; allowed values: {', '.join(table)}")


def _enum(name: str, value: object, table: Mapping[str, str]) -> str:
    if value is None:
        raise SchemaError(f"{name}: required field is missing")
    try:
        return table[value]  # type: ignore[index]
    except (KeyError, TypeError):
        raise _bad_enum(name, value, table) from None


def _code(name: str, value: object, table: Mapping[str, str], what: str) -> str:
    if value is None:
        raise SchemaError(f"{name}: required field is missing")
    try:
        return table[value]  # type: ignore[index]
    except (KeyError, TypeError):
        raise SchemaError(f"{name}: {value!r} is not {what}") from None


def _score(value: object) -> float:
    if value is None:
        raise SchemaError("score: required field is missing")
    number = value
    if type(number) is not float:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise SchemaError(f"score: must be a number from 0 to 1 (got {value!r})")
        number = float(number) if -2 < number < 2 else 2.0  # huge ints would overflow a float
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise SchemaError(f"score: must be a number from 0 to 1 (got {value!r})")
    return number


_HEX_TO_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")  # RFC 4122: top bits 10
_DASHES = (8, 13, 18, 23)


def uuid4_block(n: int) -> str:
    """``n`` random (version 4) UUIDs in canonical text form, back to back (36 characters each).

    Drawn with one ``os.urandom`` call and laid out column by column with strided slice assignments,
    so the cost per id is a few C-level byte copies instead of building a ``uuid.UUID``.
    """
    hexed = os.urandom(16 * n).hex().encode("ascii")  # 32 hex digits per id
    out = bytearray(36 * n)
    digit = 0
    for column in range(36):
        if column in _DASHES:
            out[column::36] = b"-" * n
            continue
        if column == 14:
            out[column::36] = b"4" * n  # version 4 (the random digit here is dropped)
        elif column == 19:
            out[column::36] = hexed[digit::32].translate(_HEX_TO_VARIANT)
        else:
            out[column::36] = hexed[digit::32]
        digit += 1
    return out.decode("ascii")


class _Hmac:
    """HMAC-SHA256 with the key's inner and outer hash states computed once (RFC 2104)."""

    def __init__(self, key: bytes) -> None:
        key = hashlib.sha256(key).digest() if len(key) > 64 else key
        padded = key.ljust(64, b"\0")
        self.inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
        self.outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def digest(self, message: bytes) -> bytes:
        inner = self.inner.copy()
        inner.update(message)
        outer = self.outer.copy()
        outer.update(inner.digest())
        return outer.digest()


_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _event_id(value: object) -> str:
    if value is None:
        return str(uuid.uuid4())
    text = str(value).lower()
    if not _UUID_RE.fullmatch(text):
        raise SchemaError(f"event_id: {value!r} is not a UUID")
    return text


def format_time(ts: datetime) -> str:
    """``occurred_at`` as pydantic writes it: UTC, ``Z``, microseconds only when not zero."""
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise SchemaError(f"occurred_at: must include a timezone (use UTC) (got {ts!r})")
    ts = ts.astimezone(UTC)
    base = f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}"
    return f"{base}.{ts.microsecond:06d}Z" if ts.microsecond else f"{base}Z"


def time_text(clock: float) -> str:
    """``occurred_at`` of a clock reading (seconds since the epoch), rounded to the microsecond as
    :meth:`datetime.fromtimestamp` rounds it."""
    return format_time(datetime.fromtimestamp(clock, UTC))


class EventEncoder:
    """Validates and pseudonymises one provider's events (see the module docstring).

    Args:
        provider: the registered provider id.
        secret: the provider's pseudonym secret (≥ 32 bytes); with ``rotation="weekly"`` it is the
            master secret from which each ISO week's key is derived (:func:`ingest.pseudonym.period_key`).
        rotation: ``"none"`` or ``"weekly"``.
        clock: seconds since the epoch, for events without ``occurred_at``.
    """

    def __init__(self, provider: str, secret: bytes, rotation: str = "none",
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(provider, str) or not _PROVIDER_RE.fullmatch(provider):
            raise ConfigError(f"provider: {provider!r} must match {PROVIDER_ID_PATTERN}")
        if rotation not in ROTATIONS:
            raise ConfigError(f"pseudonym_rotation: {rotation!r} is not one of {', '.join(ROTATIONS)}")
        self.provider = provider
        self._secret = secret
        self._hmac = _Hmac(secret)
        self._inner, self._outer = self._hmac.inner, self._hmac.outer
        self._weekly = rotation == "weekly"
        self._week_keys: dict[tuple[int, int], _Hmac] = {}
        self._clock = clock
        self._families: dict[str, str] = {}

    def queue_item(self, user_id: object, surface: object, model_family: object, detection_stage: object,
                   category: object, action: object, score: object, jurisdiction: object, language: object,
                   technique: object = None, identity_verification: object = None, account_age_bucket: object = None,
                   occurred_at: datetime | None = None, event_id: object = None) -> Pending:
        """Validate and pseudonymise one event: what ``emit()`` queues (:func:`render` writes its JSON).

        The common case (now, a fresh id, a float score, no rotation) costs the HMAC and one table
        lookup per field; anything else, including any invalid value, takes the checked path, which
        yields the same tuple or the error that names the field.

        Raises:
            SchemaError: a field is missing or invalid; the message names it and what is allowed.
        """
        if (occurred_at is None and event_id is None and type(score) is float and 0.0 <= score <= 1.0
                and type(user_id) is str and user_id and not self._weekly):
            try:
                inner = self._inner.copy()
                inner.update(user_id.encode())
                outer = self._outer.copy()
                outer.update(inner.digest())
                return (outer.digest(), self._clock(), None, _AGE_FRAGMENT[account_age_bucket], _ACTION[action],
                        _CATEGORY[category], _STAGE[detection_stage], _VERIFICATION_OR_DEFAULT[identity_verification],
                        _JURISDICTION[jurisdiction], _LANGUAGE[language], self._families[model_family], score,
                        _SURFACE[surface], _TECHNIQUE_FRAGMENT[technique])
            except (KeyError, TypeError, UnicodeEncodeError):
                pass  # the checked path says what is wrong (or fills the model family cache)
        return self._checked(user_id, surface, model_family, detection_stage, category, action, score,
                             jurisdiction, language, technique, identity_verification, account_age_bucket,
                             occurred_at, event_id)

    def encode(self, user_id: object, surface: object, model_family: object, detection_stage: object,
               category: object, action: object, score: object, jurisdiction: object, language: object,
               technique: object = None, identity_verification: object = None, account_age_bucket: object = None,
               occurred_at: datetime | None = None, event_id: object = None) -> Item:
        """One event's partition hash (32 bits of the pseudonym) and canonical JSON, at once.

        Raises:
            SchemaError: a field is missing or invalid; the message names it and what is allowed.
        """
        item = self.queue_item(user_id, surface, model_family, detection_stage, category, action, score,
                               jurisdiction, language, technique, identity_verification, account_age_bucket,
                               occurred_at, event_id)
        [[text]] = render([item], self.provider, 1)
        return int.from_bytes(item[0][:4], "big"), text

    def _checked(self, user_id: object, surface: object, model_family: object, detection_stage: object,
                 category: object, action: object, score: object, jurisdiction: object, language: object,
                 technique: object, identity_verification: object, account_age_bucket: object,
                 occurred_at: datetime | None, event_id: object) -> Pending:
        now = self._clock() if occurred_at is None else None
        when = self._when(occurred_at) if now is None else now
        digest = self._pseudonym(user_id, occurred_at, now)
        age = "" if account_age_bucket is None else (
            f'"account_age_bucket":"{_enum("account_age_bucket", account_age_bucket, _AGE)}",')
        tech = "" if technique is None else f',"technique":"{_enum("technique", technique, _TECHNIQUE)}"'
        verification = "none" if identity_verification is None else _enum(
            "identity_verification", identity_verification, _VERIFICATION)
        return (digest, when, None if event_id is None else _event_id(event_id), age,
                _enum("action", action, _ACTION), _enum("category", category, _CATEGORY),
                _enum("detection_stage", detection_stage, _STAGE), verification,
                _code("jurisdiction", jurisdiction, _JURISDICTION, _NOT_JURISDICTION),
                _code("language", language, _LANGUAGE, _NOT_LANGUAGE), self._model_family(model_family),
                _score(score), _enum("surface", surface, _SURFACE), tech)

    def encode_mapping(self, fields: Mapping[str, Any]) -> Item:
        """Like :meth:`encode` for a dict (e.g. a JSONL line); unknown keys are refused.

        ``occurred_at`` may be an ISO 8601 string with a timezone; ``user_id`` is the raw id.
        """
        return self.encode(**self._mapping_arguments(fields))

    def queue_mapping(self, fields: Mapping[str, Any]) -> Pending:
        """Like :meth:`queue_item` for a dict (see :meth:`encode_mapping`)."""
        return self.queue_item(**self._mapping_arguments(fields))

    @staticmethod
    def _mapping_arguments(fields: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(fields) - {"user_id", *REQUIRED_FIELDS, *OPTIONAL_FIELDS})
        if unknown:
            raise SchemaError("; ".join(f"{k}: unknown field (contract v1 has no such field; no free text is "
                                        "accepted)" for k in unknown))
        values = dict(fields)
        if isinstance(values.get("occurred_at"), str):
            values["occurred_at"] = _parse_time(values["occurred_at"])
        elif values.get("occurred_at") is not None and not isinstance(values["occurred_at"], datetime):
            raise SchemaError(f"occurred_at: must be an ISO 8601 time with a timezone (got {values['occurred_at']!r})")
        return {**{k: values.get(k) for k in ("user_id", *REQUIRED_FIELDS)},
                **{k: values[k] for k in OPTIONAL_FIELDS if k in values}}

    def _pseudonym(self, user_id: object, occurred_at: datetime | None, now: float | None) -> bytes:
        if not isinstance(user_id, str) or not user_id:
            raise SchemaError(f"user_id: must be a non-empty string (got {user_id!r})")
        mac = self._hmac
        if self._weekly:
            mac = self._week_key(occurred_at or datetime.fromtimestamp(now or 0.0, UTC))
        try:
            raw = user_id.encode("utf-8")
        except UnicodeEncodeError:
            raise SchemaError(f"user_id: {user_id!r} is not valid Unicode text") from None
        return mac.digest(raw)

    def _week_key(self, when: datetime) -> _Hmac:
        year, week, _ = when.astimezone(UTC).isocalendar()
        mac = self._week_keys.get((year, week))
        if mac is None:
            if len(self._week_keys) > 64:
                self._week_keys.clear()
            mac = self._week_keys[(year, week)] = _Hmac(period_key(self._secret, when))
        return mac

    @staticmethod
    def _when(value: object) -> str:
        if not isinstance(value, datetime):
            raise SchemaError(f"occurred_at: must be a timezone-aware datetime (got {value!r})")
        return format_time(value)

    def _model_family(self, value: object) -> str:
        known = self._families.get(value)  # type: ignore[arg-type]
        if known is not None:
            return known
        if value is None:
            raise SchemaError("model_family: required field is missing")
        if not isinstance(value, str) or not _MODEL_FAMILY_RE.fullmatch(value):
            raise SchemaError(f"model_family: {value!r} must match {MODEL_FAMILY_PATTERN} (open vocabulary, lower case)")
        if len(self._families) >= _MODEL_FAMILY_CACHE_LIMIT:
            self._families.clear()
        self._families[value] = value
        return value


_NOT_JURISDICTION = "an ISO 3166-1 alpha-2 code or region bucket (EU, ZZ)"
_NOT_LANGUAGE = "an ISO 639-1 code or 'und'"


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise SchemaError(f"occurred_at: {text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise SchemaError(f"occurred_at: must include a timezone (use UTC) (got {text!r})")
    return value


def render(items: Sequence[QueueItem], provider: str, partitions: int) -> list[list[str]]:
    """Each queued event's canonical JSON, grouped by partition (the list's index).

    ``items`` holds :data:`Pending` tuples from :meth:`EventEncoder.queue_item` and ready :data:`Item`
    pairs (re-batched events from the spool). Fresh event ids are drawn in one block for the batch;
    ``occurred_at`` is formatted from the clock reading, the date and time of day cached per second.
    """
    groups: list[list[str]] = [[] for _ in range(partitions)]
    ids, at = uuid4_block(len(items)), 0
    tail = f'"provider":"{provider}","schema_version":1'
    second, second_text = -1, ""
    for item in items:
        if len(item) == 2:
            groups[item[0] % partitions].append(item[1])  # type: ignore[operator, arg-type]
            continue
        digest, when, event_id, age, action, category, stage, verification, jurisdiction, language, family, score, \
            surface, technique = item  # type: ignore[misc]
        if type(when) is float:
            whole = int(when)
            micros = round((when - whole) * 1_000_000)
            if whole == second and 0 < micros < 1_000_000:
                when = f"{second_text}.{micros:06d}Z"
            else:  # a new second, or an exact second, or an odd clock: the general formatter
                when = time_text(when)
                if 0 < micros < 1_000_000:
                    second, second_text = whole, when[:-8]
        if event_id is None:
            event_id = ids[at:at + 36]
            at += 36
        groups[int.from_bytes(digest[:4], "big") % partitions].append(
            f'{{{age}"action":"{action}","actor":"{digest.hex()}","category":"{category}",'
            f'"detection_stage":"{stage}","event_id":"{event_id}","identity_verification":"{verification}",'
            f'"jurisdiction":"{jurisdiction}","language":"{language}","model_family":"{family}",'
            f'"occurred_at":"{when}",{tail},"score":{score!r},"surface":"{surface}"{technique}}}')
    return groups


def batch_value(provider: str, fragments: Sequence[str]) -> bytes:
    """The canonical JSON record value holding ``fragments`` (each one event's canonical JSON)."""
    return (f'{{"events":[{",".join(fragments)}],"format":"{RECORD_FORMAT}","provider":"{provider}"}}'
            ).encode("utf-8")


def partition_of(partition_hash: int, partitions: int) -> int:
    """The partition of an actor: the first 32 bits of its pseudonym (big-endian) modulo the partition count.

    The pseudonym is an HMAC output, so this spreads actors evenly, and one actor's events always
    land on the same partition (for a fixed partition count).
    """
    return partition_hash % partitions


def actor_partition_hash(actor: str) -> int:
    """The partition hash of a pseudonym in its hex form (as found in a record)."""
    return int(actor[:8], 16)
