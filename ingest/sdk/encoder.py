"""The SDK's fast path: validate one event against contract v1 and write its canonical JSON directly.

Building a pydantic model per event costs tens of microseconds; a provider's request path cannot
afford that. :class:`EventEncoder` checks each field with one lookup in a table built at import
from the contract's field rules (:data:`ingest.contract.fields.FIELDS`, the rules the pydantic
:class:`ingest.contract.events.Event` is built on), so it accepts no value the contract refuses and
names the same allowed values. Each table maps an accepted value to its JSON *fragment*: the value
together with its key and the punctuation up to the next field in sorted-key order (``"block"`` →
``"action":"block","actor":"``), so an event's canonical JSON (sorted keys, no spaces, exactly the
bytes :func:`ingest.contract.events.canonical_json` would write) is the concatenation of
seventeen pieces. Event ids come from a pool drawn in bulk (:func:`uuid4_block`), and ``occurred_at``
reuses the date and time of day of the current second. Every value written is a table entry, a
validated pattern, a hex digest or a number, so nothing needs escaping.

Anything unusual (a given ``occurred_at`` or ``event_id``, a non-float score, weekly rotation, or any
invalid value) takes the checked path, which writes the same bytes or raises
:class:`ingest.errors.SchemaError` naming the field and what is allowed. The test suite checks with
hypothesis that whatever either path accepts ``parse_event`` accepts too, byte for byte.

A record (:func:`batch_value`) is the canonical JSON of
``{"events": [...], "format": ..., "partitions": P, "provider": ...}`` assembled from those events (``P``
is the partition count the record's partition was chosen by), so a whole batch is serialised at once
and signed once.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from ingest.contract.fields import FIELDS, PROVIDER_OPTIONAL, PROVIDER_REQUIRED, SCHEMA_VERSION
from ingest.contract.pseudonym import period_key
from ingest.contract.records import RECORD_FORMAT
from ingest.contract.topics import MAX_PARTITIONS
from ingest.errors import ConfigError, SchemaError

_PROVIDER, _MODEL_FAMILY, _SCORE = FIELDS["provider"], FIELDS["model_family"], FIELDS["score"]
_MODEL_FAMILY_CACHE_LIMIT = 4096
#: What a provider may pass for one event: the raw user id and the contract fields it sets.
_PASSED = frozenset({"user_id", *PROVIDER_REQUIRED, *PROVIDER_OPTIONAL})
ROTATIONS = ("none", "weekly")

#: A queued event: (partition hash = the pseudonym's first 32 bits, canonical JSON).
Item = tuple[int, str]
T = TypeVar("T")
_PARTITION_HASH = struct.Struct(">I").unpack_from  # the first 32 bits of a digest, big-endian


def _fragments(name: str, before: str = "", after: str = "") -> dict[object, str]:
    """Lookup table of one closed-vocabulary field of the contract: each accepted value → its JSON fragment,
    ``"name":"value"`` with the punctuation ``before`` and ``after`` it up to the neighbouring pieces.

    Keyed by the value's text; a taxonomy's members hash and compare like their values, so they find it too.
    """
    return {value: f'{before}"{name}":"{value}"{after}' for value in FIELDS[name].values or ()}


# In sorted-key order; the actor, event id, occurred_at and score go between them.
_AGE = _fragments("account_age_bucket", "{", ",")
_ACTION = _fragments("action", after=',"actor":"')
_CATEGORY = _fragments("category", '",')
_STAGE = _fragments("detection_stage", ",", ',"event_id":"')
_VERIFICATION = _fragments("identity_verification", '",')
_JURISDICTION = _fragments("jurisdiction", ",")
_LANGUAGE = _fragments("language", ",")
_FAMILY = ',"model_family":"{}","occurred_at":"'
_SURFACE = _fragments("surface", ",")
_TECHNIQUE = _fragments("technique", ",", "}")
# The optional fields absent: no account_age_bucket, the default identity_verification, no technique.
_AGE_OR_NONE: dict[object, str] = {None: "{", **_AGE}
_VERIFICATION_OR_DEFAULT = {None: _VERIFICATION[FIELDS["identity_verification"].default], **_VERIFICATION}
_TECHNIQUE_OR_NONE: dict[object, str] = {None: "}", **_TECHNIQUE}
# occurred_at's fraction of a second in two table pieces: ".123" and "456Z".
_MILLIS = [f".{n:03d}" for n in range(1000)]
_MICROS = [f"{n:03d}Z" for n in range(1000)]


def _code(name: str, value: object, table: Mapping[object, str]) -> str:
    """``table[value]``, or SchemaError naming the field and what its rule accepts."""
    if value is None:
        raise SchemaError(f"{name}: required field is missing")
    try:
        return table[value]
    except (KeyError, TypeError):
        rule = FIELDS[name]
        what = rule.expected or f"allowed; allowed values: {', '.join(rule.values or ())}"
        raise SchemaError(f"{name}: {value!r} is not {what}") from None


_SCORE_LOW, _SCORE_HIGH = float(_SCORE.low or 0.0), float(_SCORE.high or 0.0)
_NOT_A_SCORE = f"must be a number from {_SCORE_LOW:g} to {_SCORE_HIGH:g}"


def _score(value: object) -> float:
    if value is None:
        raise SchemaError("score: required field is missing")
    number = value
    if type(number) is not float:
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise SchemaError(f"score: {_NOT_A_SCORE} (got {value!r})")
        # Huge ints would overflow a float: any int outside the range is as wrong as the next one out.
        number = float(number) if _SCORE_LOW - 1 < number < _SCORE_HIGH + 1 else _SCORE_HIGH + 1
    if not _SCORE_LOW <= number <= _SCORE_HIGH:  # also refuses NaN
        raise SchemaError(f"score: {_NOT_A_SCORE} (got {value!r})")
    return number


_HEX_TO_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab89ab89ab89ab")  # RFC 4122: top bits 10
_DASHES = (8, 13, 18, 23)


def uuid4_block(n: int) -> str:
    """``n`` random (version 4) UUIDs in canonical text form, each followed by a space.

    Drawn with one ``os.urandom`` call and laid out column by column with strided slice assignments,
    so an id costs a few C-level byte copies instead of building a ``uuid.UUID``.
    """
    hexed = os.urandom(16 * n).hex().encode("ascii")  # 32 hex digits per id
    out = bytearray(b" " * (37 * n))
    digit = 0
    for column in range(36):
        if column in _DASHES:
            out[column::37] = b"-" * n
            continue
        if column == 14:
            out[column::37] = b"4" * n  # the version (the random digit drawn for it is dropped)
        elif column == 19:
            out[column::37] = hexed[digit::32].translate(_HEX_TO_VARIANT)
        else:
            out[column::37] = hexed[digit::32]
        digit += 1
    return out.decode("ascii")


#: Fresh event ids, taken with ``pop()`` (atomic, so threads never share one) and refilled in blocks.
_IDS: list[str] = []
_IDS_PER_BLOCK = 1024
os.register_at_fork(after_in_child=_IDS.clear)  # a child must never reuse its parent's ids


def new_event_id() -> str:
    """A fresh random (version 4) UUID in canonical text form."""
    try:
        return _IDS.pop()
    except IndexError:
        _IDS.extend(uuid4_block(_IDS_PER_BLOCK).split())
        return _IDS.pop()


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


def _item(partition_hash: int, text: str) -> Item:
    return partition_hash, text


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
    """Validates, pseudonymises and serialises one provider's events (see the module docstring).

    Args:
        provider: the registered provider id.
        secret: the provider's pseudonym secret (≥ 32 bytes); with ``rotation="weekly"`` it is the
            master secret from which each ISO week's key is derived (:func:`ingest.contract.pseudonym.period_key`).
        rotation: ``"none"`` or ``"weekly"``.
        clock: seconds since the epoch, for events without ``occurred_at``.
    """

    def __init__(
        self, provider: str, secret: bytes, rotation: str = "none", clock: Callable[[], float] = time.time
    ) -> None:
        if not isinstance(provider, str) or not _PROVIDER.matcher.fullmatch(provider):
            raise ConfigError(f"provider: {provider!r} must match {_PROVIDER.pattern}")
        if rotation not in ROTATIONS:
            raise ConfigError(f"pseudonym_rotation: {rotation!r} is not one of {', '.join(ROTATIONS)}")
        self.provider = provider
        self._secret = secret
        self._hmac = _Hmac(secret)
        self._inner, self._outer = self._hmac.inner, self._hmac.outer
        self._weekly = rotation == "weekly"
        self._week_keys: dict[tuple[int, int], _Hmac] = {}
        self._clock = clock
        self._second: tuple[int, str] = (-1, "")  # (a whole second, its text): one object, so threads see both
        self._families: dict[object, str] = {}  # model family → fragment, for families seen (validated) before
        self._score_key = f'","provider":"{provider}","schema_version":{SCHEMA_VERSION},"score":'
        self._encode = self.emitter(_item)

    def encode(
        self,
        user_id: object,
        surface: object,
        model_family: object,
        detection_stage: object,
        category: object,
        action: object,
        score: object,
        jurisdiction: object,
        language: object,
        technique: object = None,
        identity_verification: object = None,
        account_age_bucket: object = None,
        occurred_at: datetime | None = None,
        event_id: object = None,
    ) -> Item:
        """One event's partition hash (32 bits of the pseudonym) and canonical JSON (see :meth:`emitter`).

        Raises:
            SchemaError: a field is missing or invalid; the message names it and what is allowed.
        """
        return self._encode(
            user_id=user_id,
            surface=surface,
            model_family=model_family,
            detection_stage=detection_stage,
            category=category,
            action=action,
            score=score,
            jurisdiction=jurisdiction,
            language=language,
            technique=technique,
            identity_verification=identity_verification,
            account_age_bucket=account_age_bucket,
            occurred_at=occurred_at,
            event_id=event_id,
        )

    def emitter(self, accept: Callable[[int, str], T]) -> Callable[..., T]:
        """A function with :meth:`ingest.Client.emit`'s keyword arguments: it encodes and calls ``accept``
        with the event's partition hash and canonical JSON (two arguments, so no tuple is built per event).

        The common case (now, a fresh id, a float score, no rotation) costs the HMAC and one table
        lookup per field, with everything it needs in the function's closure; anything else, including
        any invalid value, takes the checked path, which produces the same bytes or the error that
        names the field (:class:`ingest.errors.SchemaError`).
        """
        inner_key, outer_key, clock, families, score_key = (
            self._inner,
            self._outer,
            self._clock,
            self._families,
            self._score_key,
        )
        checked, weekly, take_id, partition_hash = self._checked, self._weekly, _IDS.pop, _PARTITION_HASH
        low, high = _SCORE_LOW, _SCORE_HIGH

        def emit(
            *,
            user_id: object,
            category: object = None,
            detection_stage: object = None,
            action: object = None,
            surface: object = None,
            model_family: object = None,
            score: object = None,
            jurisdiction: object = None,
            language: object = None,
            technique: object = None,
            identity_verification: object = None,
            account_age_bucket: object = None,
            occurred_at: datetime | None = None,
            event_id: object = None,
        ) -> T:
            now = None
            if (
                occurred_at is None
                and event_id is None
                and type(score) is float
                and low <= score <= high
                and type(user_id) is str
                and user_id
                and not weekly
            ):
                now = clock()
                whole = int(now)
                micros = round((now - whole) * 1_000_000)
                second, second_text = self._second
                if whole == second and 0 < micros < 1_000_000:
                    try:
                        inner = inner_key.copy()
                        inner.update(user_id.encode())
                        outer = outer_key.copy()
                        outer.update(inner.digest())
                        digest = outer.digest()
                        try:
                            fresh_id = take_id()
                        except IndexError:
                            fresh_id = new_event_id()
                        text = (
                            f"{_AGE_OR_NONE[account_age_bucket]}{_ACTION[action]}{digest.hex()}{_CATEGORY[category]}"
                            f"{_STAGE[detection_stage]}{fresh_id}{_VERIFICATION_OR_DEFAULT[identity_verification]}"
                            f"{_JURISDICTION[jurisdiction]}{_LANGUAGE[language]}{families[model_family]}"
                            f"{second_text}{_MILLIS[micros // 1000]}{_MICROS[micros % 1000]}{score_key}{score!r}"
                            f"{_SURFACE[surface]}{_TECHNIQUE_OR_NONE[technique]}"
                        )
                    except (KeyError, TypeError, UnicodeEncodeError):
                        pass  # the checked path says what is wrong (or fills the model family cache)
                    else:
                        return accept(partition_hash(digest)[0], text)
            return accept(
                *checked(
                    user_id,
                    surface,
                    model_family,
                    detection_stage,
                    category,
                    action,
                    score,
                    jurisdiction,
                    language,
                    technique,
                    identity_verification,
                    account_age_bucket,
                    occurred_at,
                    event_id,
                    now,
                )
            )

        return emit

    def _checked(
        self,
        user_id: object,
        surface: object,
        model_family: object,
        detection_stage: object,
        category: object,
        action: object,
        score: object,
        jurisdiction: object,
        language: object,
        technique: object,
        identity_verification: object,
        account_age_bucket: object,
        occurred_at: datetime | None,
        event_id: object,
        now: float | None,
    ) -> Item:
        """The general path: every field checked in turn, then the same seventeen pieces.

        ``now`` is the clock reading the fast path already took, if it did.
        """
        if occurred_at is not None:
            when, moment = self._when(occurred_at), occurred_at
        else:
            now = self._clock() if now is None else now
            when, moment = self._now_text(now), datetime.fromtimestamp(now, UTC)
        digest = self._pseudonym(user_id, moment)
        age = "{" if account_age_bucket is None else _code("account_age_bucket", account_age_bucket, _AGE)
        technique_piece = "}" if technique is None else _code("technique", technique, _TECHNIQUE)
        verification = (
            _VERIFICATION_OR_DEFAULT[None]
            if identity_verification is None
            else _code("identity_verification", identity_verification, _VERIFICATION)
        )
        action_piece = _code("action", action, _ACTION)
        category_piece = _code("category", category, _CATEGORY)
        stage = _code("detection_stage", detection_stage, _STAGE)
        event_id = _event_id(event_id)
        text = (
            f"{age}{action_piece}{digest.hex()}{category_piece}{stage}{event_id}{verification}"
            f"{_code('jurisdiction', jurisdiction, _JURISDICTION)}"
            f"{_code('language', language, _LANGUAGE)}{self._model_family(model_family)}"
            f"{when}{self._score_key}{_score(score)!r}{_code('surface', surface, _SURFACE)}{technique_piece}"
        )
        return _PARTITION_HASH(digest)[0], text

    def encode_mapping(self, fields: Mapping[str, Any]) -> Item:
        """Like :meth:`encode` for a dict (e.g. a JSONL line); unknown keys are refused.

        ``occurred_at`` may be an ISO 8601 string with a timezone; ``user_id`` is the raw id.
        """
        unknown = sorted(set(fields) - _PASSED)
        if unknown:
            raise SchemaError(
                "; ".join(
                    f"{k}: unknown field (contract v1 has no such field; no free text is accepted)" for k in unknown
                )
            )
        values = dict(fields)
        if isinstance(values.get("occurred_at"), str):
            values["occurred_at"] = _parse_time(values["occurred_at"])
        elif values.get("occurred_at") is not None and not isinstance(values["occurred_at"], datetime):
            raise SchemaError(f"occurred_at: must be an ISO 8601 time with a timezone (got {values['occurred_at']!r})")
        return self.encode(
            **{k: values.get(k) for k in ("user_id", *PROVIDER_REQUIRED)},
            **{k: values[k] for k in PROVIDER_OPTIONAL if k in values},
        )

    def _now_text(self, now: float) -> str:
        """``occurred_at`` of a clock reading; remembers its second's text for the fast path."""
        text = time_text(now)
        if now >= 0 and len(text) == 27:  # with a fraction ("YYYY-MM-DDTHH:MM:SS.ffffffZ"), so no carry
            self._second = (int(now), text[:19])
        return text

    def _pseudonym(self, user_id: object, moment: datetime) -> bytes:
        if not isinstance(user_id, str) or not user_id:
            raise SchemaError(f"user_id: must be a non-empty string (got {user_id!r})")
        mac = self._week_key(moment) if self._weekly else self._hmac
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
        known = self._families.get(value)
        if known is not None:
            return known
        if value is None:
            raise SchemaError("model_family: required field is missing")
        if not isinstance(value, str) or not _MODEL_FAMILY.matcher.fullmatch(value):
            raise SchemaError(
                f"model_family: {value!r} must match {_MODEL_FAMILY.pattern} (open vocabulary, lower case)"
            )
        if len(self._families) >= _MODEL_FAMILY_CACHE_LIMIT:
            self._families.clear()
        fragment = self._families[value] = _FAMILY.format(value)
        return fragment


def _parse_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise SchemaError(f"occurred_at: {text!r} is not an ISO 8601 time") from None
    if value.tzinfo is None:
        raise SchemaError(f"occurred_at: must include a timezone (use UTC) (got {text!r})")
    return value


def batch_value(provider: str, partitions: int, fragments: Sequence[str]) -> bytes:
    """The canonical JSON record value holding ``fragments`` (each one event's canonical JSON), built
    for a topic of ``partitions`` partitions (signed with the events, checked by the worker).

    The record's head and tail are glued to the first and last event, so the value is built with one
    join and one encode (a record is up to a megabyte: every copy counts).
    """
    if type(partitions) is not int or not 1 <= partitions <= MAX_PARTITIONS:
        raise ConfigError(f"partitions must be an integer from 1 to {MAX_PARTITIONS} (got {partitions!r})")
    head = '{"events":['
    tail = f'],"format":"{RECORD_FORMAT}","partitions":{partitions},"provider":"{provider}"}}'
    if len(fragments) < 2:
        return f"{head}{''.join(fragments)}{tail}".encode()
    pieces = list(fragments)
    pieces[0], pieces[-1] = head + pieces[0], pieces[-1] + tail
    return ",".join(pieces).encode("utf-8")
