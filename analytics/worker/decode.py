"""The worker's fast path from a signed record's bytes to columns: one msgspec pass, then checks per record.

Contract v1 is the pydantic :class:`ingest.contract.events.Event`. This module accepts a *subset* of what
it accepts and reads the same values from it: strict JSON types, canonical UUIDs, RFC 3339 times
with at most microseconds. Its wire types, code lists and patterns are built at import from the
contract's field rules (:data:`ingest.contract.fields.FIELDS`), never written out here. Whatever falls outside, or is invalid, returns None, and the caller
decodes the record with :func:`ingest.contract.records.decode_record`, whose answer (the events, or each
rejection and its reason) is then the contract's own. ``tests/unit/analytics/worker/test_decode.py``
checks the subset property with hypothesis.

Per record the costs are: one signature check, one msgspec decode (enums, the score's range and
unknown fields are checked there), and a few whole-record string checks for the actor
pseudonyms, event ids, times and model families instead of a regular expression per event. The
partitioning rule (:mod:`ingest.contract.topics`: the actor's first 32 bits modulo the record's signed
partition count is the partition it was delivered on) is checked with numpy over the actor column.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from operator import attrgetter
from typing import Annotated, Any, Literal, get_origin

import msgspec
import numpy as np

from analytics.windows import EPOCH_TS
from analytics.worker.columns import EventBatch, dedupe_keys, partition_hashes, provider_key
from analytics.worker.utctimes import unix_seconds
from ingest.contract.fields import FIELDS, FieldRule
from ingest.contract.records import PROVIDER_HEADER, RECORD_FORMAT, SIGNATURE_HEADER
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import verify
from ingest.contract.topics import MAX_PARTITIONS
from ingest.errors import SignatureError, UnknownProviderError

# ASCII classes written out: in a str pattern \d would also match other scripts' digits.
_D = "[0-9]"
_TIME = (
    f"{_D}{{4}}-{_D}{{2}}-{_D}{{2}}[Tt ]{_D}{{2}}:{_D}{{2}}:{_D}{{2}}(?:\\.{_D}{{1,6}})?"
    f"(?:[Zz]|[+-]{_D}{{2}}:{_D}{{2}})"
)
_TIMES = re.compile(f"{_TIME}(?:\n{_TIME})*")
_PROVIDER, _MODEL_FAMILY = FIELDS["provider"].matcher, FIELDS["model_family"].matcher
_MODEL_FAMILIES_KEPT = 4096
# _columns checks the actors column-wise (64 lowercase hex digits each) instead of with the pattern.
if FIELDS["actor"].pattern != "^[0-9a-f]{64}$":
    raise RuntimeError(
        "this is a bug: the contract's actor pattern changed; FastDecoder._columns must check the new one"
    )


def _wire_field(rule: FieldRule) -> tuple[Any, ...]:
    """One field of :data:`WireEvent`: its name, the strict JSON type msgspec checks, and its default if it has one.

    Closed vocabularies and number ranges are checked by msgspec; the other strings (patterns, ids,
    times) per record, in :meth:`FastDecoder._columns`. A field whose default the contract makes up
    (a fresh event id) is required here: its record is the contract's decoder's to answer.
    """
    held: Any
    if rule.values is not None:
        held = Literal[tuple(sorted(rule.values))]
    elif rule.low is not None or rule.high is not None:
        held = Annotated[float, msgspec.Meta(ge=rule.low, le=rule.high)]
    elif get_origin(rule.value_type) is Literal:
        held = rule.value_type
    else:
        held = str
    if rule.required or rule.default_factory is not None:
        return rule.name, held
    default = rule.default.value if isinstance(rule.default, StrEnum) else rule.default
    return rule.name, held | None if rule.nullable else held, default


def _wire_fields() -> list[tuple[Any, ...]]:
    fields = [_wire_field(rule) for rule in FIELDS.values()]
    return [f for f in fields if len(f) == 2] + [f for f in fields if len(f) == 3]  # required ones first


#: Contract v1 as strict JSON types, built from the contract's field rules; unknown fields are refused.
WireEvent: Any = msgspec.defstruct("WireEvent", _wire_fields(), forbid_unknown_fields=True, gc=False)
WireRecord = msgspec.defstruct(
    "WireRecord",
    [
        ("format", Literal[RECORD_FORMAT]),
        ("provider", str),
        ("partitions", Annotated[int, msgspec.Meta(ge=1, le=MAX_PARTITIONS)]),
        ("events", list[WireEvent]),
    ],
)
WireEvents = list[Any]  # WireEvent instances (a struct made at import, so its attributes are not typed)
Parsed = tuple[str, WireEvents, int]  # a signed record's provider, events and signed partition count

_RECORD: msgspec.json.Decoder[Any] = msgspec.json.Decoder(WireRecord)
_CHUNK_BYTES = 1 << 20  # records decoded and checked together
Columns = tuple[np.ndarray, np.ndarray, np.ndarray]  # times (seconds since EPOCH), actor keys, event ids
Record = tuple[bytes | None, Sequence[tuple[str, bytes]] | None]  # a record's value and headers
Decoded = tuple[EventBatch, list[int | None]]  # decode_many's answer: events, and per record how many (None: not taken)
_TIMESTAMPS = msgspec.json.Decoder(list[Annotated[datetime, msgspec.Meta(tz=True)]])


def signed_provider(
    headers: Sequence[tuple[str, bytes]] | None, registry: ProviderRegistry, value: bytes | None
) -> str | None:
    """The provider whose valid signature the record bears, or None (``decode_record`` says why)."""
    raw = sig = None
    for key, header in headers or ():
        if key == PROVIDER_HEADER:
            raw = header if raw is None else raw
        elif key == SIGNATURE_HEADER:
            sig = header if sig is None else sig
    if raw is None:
        return None
    provider = raw.decode("utf-8", errors="replace")
    try:
        verify(registry.key_for(provider), sig, value or b"")
    except (UnknownProviderError, SignatureError):
        return None
    return provider


class FastDecoder:
    """Signed records to :class:`EventBatch` columns, or None when the contract's own decoder must answer.

    Args:
        registry: the registered providers and their keys.
        fields: the event fields a batch's profiles hold (:func:`analytics.worker.columns.profile_fields`).
    """

    def __init__(self, registry: ProviderRegistry, fields: Sequence[str]) -> None:
        self.registry = registry
        self.fields = tuple(fields)
        self._profile = attrgetter(*self.fields)
        self._model_families: set[str] = set()

    def decode(
        self,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]] | None,
        latest: float,
        partition: int | None = None,
    ) -> EventBatch | None:
        """The record's events as columns if it is signed, every event is valid, none is stamped
        after ``latest`` (seconds since EPOCH) and (unless ``partition`` is None) every actor belongs on
        ``partition`` by the record's signed partition count; None otherwise."""
        batch, sizes = self.decode_many([(value, headers)], latest, partition)
        return batch if sizes[0] is not None else None

    def decode_many(self, records: Sequence[Record], latest: float, partition: int | None = None) -> Decoded:
        """The events of the records :meth:`decode` takes, as one batch in record order, and per record
        how many events of the batch are its own (None: not taken; the contract's decoder must answer).

        ``partition`` is the partition the records were delivered on; a worker always passes it (None
        skips the partition check, for records read outside a partition: tests and tools).

        The checks run over about a megabyte of records at once (few calls per event, and a bounded
        number of decoded events alive at a time); only when one fails are that chunk's records
        checked one by one, to find which the contract's decoder must answer for.
        """
        signers = [signed_provider(headers, self.registry, value) for value, headers in records]
        batches: list[EventBatch] = []
        sizes: list[int | None] = []
        chunk: list[tuple[bytes | None, str | None]] = []
        size = 0
        for (value, _), signer in zip(records, signers, strict=True):
            chunk.append((value, signer))
            size += len(value or b"")
            if size >= _CHUNK_BYTES:
                batches.append(self._decode_chunk(chunk, latest, partition, sizes))
                chunk, size = [], 0
        if chunk or not batches:
            batches.append(self._decode_chunk(chunk, latest, partition, sizes))
        return (batches[0] if len(batches) == 1 else EventBatch.concat(batches)), sizes

    def _decode_chunk(
        self,
        records: Sequence[tuple[bytes | None, str | None]],
        latest: float,
        partition: int | None,
        sizes: list[int | None],
    ) -> EventBatch:
        """:meth:`decode_many` of a few (value, signer) records; appends their sizes to ``sizes``."""
        parsed = [self._parse(value, signer) for value, signer in records]
        good = [(provider, events, p) for provider, events, p in parsed if events is not None]
        columns, good = self._checked(good)
        t, actors, ids = columns
        counts = np.array([len(events) for _, events, _ in good], np.int64)
        partitions = np.repeat(np.array([p for _, _, p in good], np.int32), counts)
        origins = np.repeat(np.array([provider_key(provider) for provider, _, _ in good], np.uint64), counts)
        refused = _late_records(t, counts, latest)  # stamped after the allowed clock skew
        if partition is not None:  # an actor on another partition than its signed partition count says
            misplaced = _misplaced_records(actors, partitions, counts, partition)
            refused = misplaced if refused is None else refused if misplaced is None else refused | misplaced
        if refused is not None:  # the contract's decoder (and verify_record) says why
            keep = np.repeat(~refused, counts)
            t, actors, ids, partitions, origins = t[keep], actors[keep], ids[keep], partitions[keep], origins[keep]
            good = [g for g, r in zip(good, refused.tolist(), strict=True) if not r]
        taken = {id(events): len(events) for _, events, _ in good}
        sizes.extend(taken.get(id(events)) if events is not None else None for _, events, _ in parsed)
        profile = self._profile
        everything = [e for _, events, _ in good for e in events]
        profiles: list[tuple[object, ...]]
        profiles = [profile(e) for e in everything] if len(self.fields) > 1 else [(profile(e),) for e in everything]
        providers: Counter[str] = Counter()
        for provider, events, _ in good:
            providers[provider] += len(events)
        return EventBatch(t, actors, ids, profiles, providers, partitions, dedupe_keys(origins, actors, ids))

    def _checked(self, good: list[Parsed]) -> tuple[Columns, list[Parsed]]:
        """The columns of the records whose events pass every check, and those records."""
        if not good:
            return _concat([]), good
        columns = self._columns([e for _, events, _ in good for e in events])
        if columns is not None:
            return columns, good
        checked = [self._columns(events) for _, events, _ in good]  # some record fails a check: find which
        return (
            _concat([c for c in checked if c is not None]),
            [g for g, c in zip(good, checked, strict=True) if c is not None],
        )

    def _parse(self, value: bytes | None, provider: str | None) -> tuple[str, WireEvents | None, int]:
        """The signing provider, the record's events in strict types (or None) and its signed partition count."""
        if provider is None or not _PROVIDER.fullmatch(provider):
            return "", None, 0
        try:
            record = _RECORD.decode(value or b"")
        except (msgspec.ValidationError, msgspec.DecodeError):
            return "", None, 0
        events = record.events
        if record.provider != provider or any(e.provider != provider for e in events):
            return "", None, 0
        return provider, events, record.partitions

    def _columns(self, events: WireEvents) -> Columns | None:
        """Times, actor keys and event ids, checked as the contract checks them; None if one is not."""
        n = len(events)
        if not n:
            return _concat([])
        actors = [e.actor for e in events]
        joined = "".join(actors)
        if len(joined) != 64 * n or set(map(len, actors)) != {64} or joined.lower() != joined:
            return None
        try:
            raw = bytes.fromhex(joined)  # ValueError unless hex; whitespace would shorten it
            ids = "".join([e.event_id for e in events])
            if len(ids) != 36 * n or any(ids[i::36] != "-" * n for i in (8, 13, 18, 23)):
                return None
            id_hex = ids.replace("-", "")
            id_bytes = bytes.fromhex(id_hex)
        except ValueError:
            return None
        if len(raw) != 32 * n or len(id_hex) != 32 * n or len(id_bytes) != 16 * n:
            return None
        if not self._model_families_ok({e.model_family for e in events}):
            return None
        t = _times([e.occurred_at for e in events])
        if t is None:
            return None
        return (
            t - EPOCH_TS,
            np.frombuffer(raw, "<u8").reshape(n, 4)[:, :2],
            np.frombuffer(id_bytes, "<u8").reshape(n, 2),
        )

    def _model_families_ok(self, values: set[str]) -> bool:
        new = values - self._model_families
        if not new:
            return True
        if not all(_MODEL_FAMILY.fullmatch(v) for v in new):
            return False
        if len(self._model_families) > _MODEL_FAMILIES_KEPT:
            self._model_families.clear()
        self._model_families |= new
        return True


def _times(times: list[str]) -> np.ndarray | None:
    """Seconds since the Unix epoch of RFC 3339 times with at most microseconds; None if one is not such a time."""
    fast = unix_seconds(times)  # the SDK's own shape, column-wise
    if fast is not None:
        return fast
    text = "\n".join(times)
    if text.count("\n") != len(times) - 1 or not _TIMES.fullmatch(text):
        return None
    try:
        stamps = _TIMESTAMPS.decode(('["' + '","'.join(times) + '"]').encode())
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return np.fromiter((s.timestamp() for s in stamps), np.float64, len(times))


def _late_records(t: np.ndarray, sizes: np.ndarray, latest: float) -> np.ndarray | None:
    """Per record (of ``sizes`` events each, in order), whether one of its events is after ``latest``;
    None if none is."""
    if not len(t) or t.max() <= latest:
        return None
    late = np.zeros(len(sizes), bool)
    filled = sizes > 0
    late[filled] = np.maximum.reduceat(t, np.cumsum(sizes)[filled] - sizes[filled]) > latest
    return late


def _misplaced_records(
    actors: np.ndarray, partitions: np.ndarray, sizes: np.ndarray, partition: int
) -> np.ndarray | None:
    """Per record (of ``sizes`` events each, in order), whether one of its actors belongs on another
    partition than ``partition`` by the record's signed partition count; None if none does."""
    wrong = partition_hashes(actors) % partitions.astype(np.uint32) != partition
    if not wrong.any():
        return None
    misplaced = np.zeros(len(sizes), bool)
    filled = sizes > 0
    misplaced[filled] = np.logical_or.reduceat(wrong, np.cumsum(sizes)[filled] - sizes[filled])
    return misplaced


def _concat(columns: list[Columns]) -> Columns:
    if not columns:
        return np.zeros(0), np.zeros((0, 2), np.uint64), np.zeros((0, 2), np.uint64)
    return (
        np.concatenate([c[0] for c in columns]),
        np.concatenate([c[1] for c in columns]),
        np.concatenate([c[2] for c in columns]),
    )
