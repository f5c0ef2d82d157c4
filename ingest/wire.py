"""The SDK's fast path: validate one event against contract v1 and write its canonical JSON directly.

Building a pydantic model per event costs tens of microseconds; a provider's request path cannot
afford that. :class:`EventEncoder` checks each field against frozen lookup tables built from the same
taxonomies and patterns as :class:`ingest.events.Event`, and formats the event's canonical JSON
(sorted keys, no spaces, exactly the bytes :func:`ingest.events.canonical_json` would write) with one
f-string. Every value it writes is a table entry, a validated pattern or a number, so nothing needs
escaping. The test suite checks with hypothesis that whatever it accepts ``parse_event`` accepts too,
byte for byte, and that whatever it refuses raises :class:`ingest.errors.SchemaError` naming the field.

A record (:func:`batch_value`) is the canonical JSON of ``{"events": [...], "format": ..., "provider": ...}``
assembled from those fragments, so a whole batch is serialised at once and signed once.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

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


def _score(value: object) -> str:
    if value is None:
        raise SchemaError("score: required field is missing")
    number = value
    if type(number) is not float:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise SchemaError(f"score: must be a number from 0 to 1 (got {value!r})")
        number = float(number) if -2 < number < 2 else 2.0  # huge ints would overflow a float
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise SchemaError(f"score: must be a number from 0 to 1 (got {value!r})")
    return repr(number)


class _Randomness:
    """os.urandom bytes drawn 64 KiB at a time (one system call per 4096 ids), refilled after a fork."""

    CHUNK = 16 * 4096

    def __init__(self) -> None:
        self.buf, self.pos = b"", self.CHUNK
        os.register_at_fork(after_in_child=self.reset)

    def reset(self) -> None:
        self.buf, self.pos = b"", self.CHUNK  # a child must never repeat its parent's ids

    def take16(self) -> bytes:
        pos = self.pos
        if pos >= self.CHUNK:
            self.buf, pos = os.urandom(self.CHUNK), 0
        self.pos = pos + 16
        return self.buf[pos:pos + 16]


_random = _Randomness()
_VARIANT = "89ab" * 4  # RFC 4122 variant: the top two bits of this nibble are 10


def new_event_id() -> str:
    """A random (version 4) UUID in its canonical text form, without building a ``uuid.UUID``."""
    h = _random.take16().hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[int(h[16], 16)]}{h[17:20]}-{h[20:]}"


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
        return new_event_id()
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


class EventEncoder:
    """Validates, pseudonymises and serialises one provider's events.

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
        self._weekly = rotation == "weekly"
        self._week_keys: dict[tuple[int, int], _Hmac] = {}
        self._clock = clock
        self._second = -1
        self._second_text = ""
        self._families: dict[str, str] = {}
        self._tail = f'"provider":"{provider}","schema_version":1'

    def encode(self, user_id: object, surface: object, model_family: object, detection_stage: object,
               category: object, action: object, score: object, jurisdiction: object, language: object,
               technique: object = None, identity_verification: object = None, account_age_bucket: object = None,
               occurred_at: datetime | None = None, event_id: object = None) -> tuple[int, str]:
        """One event's partition hash (32 bits of the pseudonym) and canonical JSON.

        The common case (now, a fresh id, a float score, no rotation) takes a fast path of plain
        table lookups; anything else, including any invalid value, takes the checked path, which
        produces the same bytes or the error that names the field.

        Raises:
            SchemaError: a field is missing or invalid; the message names it and what is allowed.
        """
        if (occurred_at is None and event_id is None and account_age_bucket is None and type(score) is float
                and 0.0 <= score <= 1.0 and type(user_id) is str and user_id and not self._weekly):
            try:
                digest = self._hmac.digest(user_id.encode("utf-8"))
                tech = "" if technique is None else ',"technique":"' + _TECHNIQUE[technique] + '"'
                verification = "none" if identity_verification is None else _VERIFICATION[identity_verification]
                return int.from_bytes(digest[:4], "big"), (
                    f'{{"action":"{_ACTION[action]}","actor":"{digest.hex()}","category":"{_CATEGORY[category]}",'
                    f'"detection_stage":"{_STAGE[detection_stage]}","event_id":"{new_event_id()}",'
                    f'"identity_verification":"{verification}","jurisdiction":"{_JURISDICTION[jurisdiction]}",'
                    f'"language":"{_LANGUAGE[language]}","model_family":"{self._families[model_family]}",'
                    f'"occurred_at":"{self._now()}",{self._tail},"score":{score!r},"surface":"{_SURFACE[surface]}"'
                    f'{tech}}}')
            except (KeyError, TypeError, UnicodeEncodeError):
                pass  # the checked path says what is wrong (or fills the model family cache)
        return self._encode_checked(user_id, surface, model_family, detection_stage, category, action, score,
                                    jurisdiction, language, technique, identity_verification, account_age_bucket,
                                    occurred_at, event_id)

    def _encode_checked(self, user_id: object, surface: object, model_family: object, detection_stage: object,
                        category: object, action: object, score: object, jurisdiction: object, language: object,
                        technique: object, identity_verification: object, account_age_bucket: object,
                        occurred_at: datetime | None, event_id: object) -> tuple[int, str]:
        when = self._now() if occurred_at is None else self._when(occurred_at)
        digest = self._pseudonym(user_id, occurred_at)
        opt = ""
        if account_age_bucket is not None:
            opt = f'"account_age_bucket":"{_enum("account_age_bucket", account_age_bucket, _AGE)}",'
        tech = "" if technique is None else f',"technique":"{_enum("technique", technique, _TECHNIQUE)}"'
        verification = "none" if identity_verification is None else _enum(
            "identity_verification", identity_verification, _VERIFICATION)
        text = (
            f'{{{opt}"action":"{_enum("action", action, _ACTION)}","actor":"{digest.hex()}",'
            f'"category":"{_enum("category", category, _CATEGORY)}",'
            f'"detection_stage":"{_enum("detection_stage", detection_stage, _STAGE)}",'
            f'"event_id":"{_event_id(event_id)}","identity_verification":"{verification}",'
            f'"jurisdiction":"{_code("jurisdiction", jurisdiction, _JURISDICTION, _NOT_JURISDICTION)}",'
            f'"language":"{_code("language", language, _LANGUAGE, _NOT_LANGUAGE)}",'
            f'"model_family":"{self._model_family(model_family)}","occurred_at":"{when}",{self._tail},'
            f'"score":{_score(score)},"surface":"{_enum("surface", surface, _SURFACE)}"{tech}}}'
        )
        return int.from_bytes(digest[:4], "big"), text

    def encode_mapping(self, fields: Mapping[str, Any]) -> tuple[int, str]:
        """Like :meth:`encode` for a dict (e.g. a JSONL line); unknown keys are refused.

        ``occurred_at`` may be an ISO 8601 string with a timezone; ``user_id`` is the raw id.
        """
        unknown = sorted(set(fields) - {"user_id", *REQUIRED_FIELDS, *OPTIONAL_FIELDS})
        if unknown:
            raise SchemaError("; ".join(f"{k}: unknown field (contract v1 has no such field; no free text is "
                                        "accepted)" for k in unknown))
        values = dict(fields)
        if isinstance(values.get("occurred_at"), str):
            values["occurred_at"] = _parse_time(values["occurred_at"])
        elif values.get("occurred_at") is not None and not isinstance(values["occurred_at"], datetime):
            raise SchemaError(f"occurred_at: must be an ISO 8601 time with a timezone (got {values['occurred_at']!r})")
        return self.encode(**{k: values.get(k) for k in ("user_id", *REQUIRED_FIELDS)},
                           **{k: values[k] for k in OPTIONAL_FIELDS if k in values})

    def _pseudonym(self, user_id: object, occurred_at: datetime | None) -> bytes:
        if not isinstance(user_id, str) or not user_id:
            raise SchemaError(f"user_id: must be a non-empty string (got {user_id!r})")
        mac = self._week_key(occurred_at or datetime.fromtimestamp(self._clock(), UTC)) if self._weekly else self._hmac
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

    def _now(self) -> str:
        now = self._clock()
        second = int(now)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        micro = int((now - second) * 1_000_000)
        return f"{self._second_text}.{micro:06d}Z" if micro else f"{self._second_text}Z"

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
