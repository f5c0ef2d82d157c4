"""Verified events as columns, the form the stream worker counts them in (numpy, a batch at a time).

An :class:`EventBatch` holds, per event and in partition order: the event time, the actor key
(the first 128 bits of the pseudonym), the event id and the event's *profile*: the values of the
fields the report families read (:func:`profile_fields`), which decide every cell the event counts in.
:class:`Profiles` numbers the profiles it meets and works out once per profile, with each family's
own ``cells_of``, which cells of which family an event with that profile touches; so the families
stay the one definition of what is counted where. (A *window kind*, week or day, is another thing:
see :mod:`analytics.families`.)
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from operator import attrgetter, itemgetter
from types import SimpleNamespace
from typing import Any

import numpy as np

from analytics.families import EscalationStage, ReportFamily
from analytics.windows import EPOCH_TS
from analytics.worker.slots import Vocabulary
from ingest.contract.events import Event
from ingest.contract.fields import ENUM_FIELDS, FIELDS

MAX_PROFILES = 1 << 20  # distinct profiles remembered before the numbering starts again (between batches)


def profile_fields(families: Iterable[ReportFamily]) -> tuple[str, ...]:
    """The event fields the families' cells depend on: their dimensions that are event fields, and the action."""
    return tuple(sorted({d for f in families for d in _inputs(f)}))


@dataclass
class EventBatch:
    """Verified events as columns, in partition order."""

    t: np.ndarray  # float64: seconds since EPOCH
    actors: np.ndarray  # (n, 2) uint64: the first 16 bytes of each actor pseudonym
    ids: np.ndarray  # (n, 2) uint64: the 16 bytes of each event id
    profiles: list[tuple[object, ...]]  # per event, the values of ``profile_fields`` (strings, enum members or None)
    providers: Counter[str] = field(default_factory=Counter)  # events per provider
    # int32: per event, the partition count its record was signed for (0: not known, events given directly)
    partitions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    # (n, 2) uint64: per event, the key duplicates are removed by (:func:`dedupe_keys` of provider, actor, event id)
    seen: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.uint64))

    def __post_init__(self) -> None:
        if len(self.partitions) != len(self.t):
            self.partitions = np.zeros(len(self.t), np.int32)
        if len(self.seen) != len(self.t):
            raise ValueError("this is a bug: an EventBatch needs one dedupe key per event")

    def __len__(self) -> int:
        return len(self.t)

    def slice(self, start: int, stop: int) -> EventBatch:
        """Events ``start`` to ``stop`` (without provider totals, which are not kept per event)."""
        return EventBatch(
            self.t[start:stop],
            self.actors[start:stop],
            self.ids[start:stop],
            self.profiles[start:stop],
            partitions=self.partitions[start:stop],
            seen=self.seen[start:stop],
        )

    @classmethod
    def from_events(cls, events: Sequence[Event], fields: Sequence[str], partitions: int = 0) -> EventBatch:
        """The columns of validated :class:`Event` objects (of records signed for ``partitions``; 0: not known)."""
        n = len(events)
        t = np.fromiter((e.occurred_at.timestamp() - EPOCH_TS for e in events), np.float64, n)
        actors = np.frombuffer(bytes.fromhex("".join([e.actor[:32] for e in events])), "<u8").reshape(-1, 2)
        ids = np.frombuffer(b"".join([e.event_id.bytes for e in events]), "<u8").reshape(-1, 2)
        profile_of = attrgetter(*fields)
        profiles: list[tuple[object, ...]]
        profiles = [profile_of(e) for e in events] if len(fields) > 1 else [(profile_of(e),) for e in events]
        origins = np.fromiter((provider_key(e.provider) for e in events), np.uint64, n)
        return cls(
            t,
            actors,
            ids,
            profiles,
            Counter(e.provider for e in events),
            np.full(n, partitions, np.int32),
            dedupe_keys(origins, actors, ids),
        )

    @classmethod
    def concat(cls, batches: Sequence[EventBatch]) -> EventBatch:
        if not batches:
            return cls(np.zeros(0), np.zeros((0, 2), np.uint64), np.zeros((0, 2), np.uint64), [])
        providers: Counter[str] = Counter()
        for b in batches:
            providers.update(b.providers)
        return cls(
            np.concatenate([b.t for b in batches]),
            np.concatenate([b.actors for b in batches]),
            np.concatenate([b.ids for b in batches]),
            [k for b in batches for k in b.profiles],
            providers,
            np.concatenate([b.partitions for b in batches]),
            np.concatenate([b.seen for b in batches]),
        )


@lru_cache(maxsize=4096)
def provider_key(provider: str) -> int:
    """64 bits standing for a provider in :func:`dedupe_keys`."""
    return int.from_bytes(hashlib.blake2b(provider.encode("utf-8"), digest_size=8, person=b"fv-provider").digest())


_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_SEEDS = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xD1B54A32D192ED03))


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of uint64 that spreads every input bit over the output."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def dedupe_keys(origins: np.ndarray, actors: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The key duplicates are removed by: 128 bits mixed from (provider, actor key, event id), per event.

    Duplicates are the same event sent twice by one provider for one actor, so two providers (or two
    actors) may use the same event id and both count. The mix is not cryptographic: two different
    triples share a key by chance with probability about 2^-128 per pair, and only a provider's own
    signed records can be made to collide with each other (it could as well leave events out).
    """
    if not len(ids):
        return np.zeros((0, 2), np.uint64)
    words = (origins.astype(np.uint64), actors[:, 0], actors[:, 1], ids[:, 0], ids[:, 1])
    out = np.empty((len(ids), 2), np.uint64)
    with np.errstate(over="ignore"):
        for half, seed in enumerate(_SEEDS):
            h = np.full(len(ids), seed, np.uint64)
            for word in words:
                h = _mix(h ^ word) + seed
            out[:, half] = _mix(h)
    return out


def partition_hashes(actors: np.ndarray) -> np.ndarray:
    """:func:`ingest.contract.topics.actor_partition_hash` of each actor key, as ``uint32``: the first 32
    bits of the pseudonym, big-endian (an actor key holds its first 16 bytes as two little-endian halves)."""
    return (actors[:, 0] & np.uint64(0xFFFFFFFF)).astype(np.uint32).byteswap()


class Profiles:
    """Numbers event profiles and keeps, per vocabulary and family, the cells each profile touches.

    ``table(v, f)[number]`` lists family ``f``'s cell indexes (in ``vocabularies[v]``) that an event
    with the profile of that number touches, padded with -1: usually one cell, none when the family does not count the
    event, several for the escalation funnel.
    """

    def __init__(self, fields: Sequence[str], vocabularies: Sequence[Vocabulary]) -> None:
        self.fields = tuple(fields)
        self.vocabularies = list(vocabularies)
        self._reset()

    def _reset(self) -> None:
        """Forget every profile (numbers are only meaningful within a batch, so this is safe between batches)."""
        self._ids: dict[tuple[object, ...], int] = {}
        self._values: list[dict[object, object]] = [{} for _ in self.fields]  # per field: value -> the one kept
        widths = [
            [len(EscalationStage) if fam.metric == "escalation_funnel" else 1 for fam in v.families]
            for v in self.vocabularies
        ]
        self._tables = [[np.full((64, w), -1, np.int32) for w in ws] for ws in widths]  # cells < MAX_CELLS
        # Per family, the positions of its inputs in a profile, and its cells by the values at those positions.
        self._inputs = [
            [tuple(self.fields.index(d) for d in _inputs(fam)) for fam in v.families] for v in self.vocabularies
        ]
        self._cells: list[list[dict[object, object]]] = [[{} for _ in v.families] for v in self.vocabularies]

    def ids(self, profiles: Sequence[tuple[object, ...]]) -> np.ndarray:
        """Each profile's number; new profiles get their cells worked out now, all of a batch's at once."""
        if len(self._ids) > MAX_PROFILES:
            self._reset()
        known = self._ids
        out = np.fromiter(map(known.get, profiles, repeat(-1)), np.int64, len(profiles))  # no Python frame per event
        missing = np.nonzero(out < 0)[0].tolist()
        if missing:
            # Distinct, in order of first sight, and made of one shared object per field value: a decoded
            # event's strings are its own, and a profile kept for good would otherwise keep them alive.
            canon = self._values
            new = [
                tuple([c.setdefault(x, x) for c, x in zip(canon, profile, strict=True)])
                for profile in dict.fromkeys(profiles[i] for i in missing)
            ]
            first = len(known)
            for number, profile in enumerate(new, first):
                known[profile] = number
            for v in range(len(self.vocabularies)):
                for f in range(len(self._tables[v])):
                    self._fill(v, f, new, first)
            out[missing] = [known[profiles[i]] for i in missing]
        return out

    def _fill(self, v: int, f: int, new: list[tuple[object, ...]], first: int) -> None:
        """Write family ``f``'s cells of the profiles numbered ``first``, ``first + 1``, … into its table."""
        table = self._tables[v][f]
        end, width = first + len(new), table.shape[1]
        if end > len(table):
            grown = np.full((max(end, len(table) + len(table) // 4), width), -1, np.int32)
            grown[: len(table)] = table
            table = self._tables[v][f] = grown
        cache, project = self._cells[v][f], itemgetter(*self._inputs[v][f])
        values = [project(profile) for profile in new]
        rows: list[Any] = [cache.get(value) for value in values]  # a cell index, or a row of them
        for i in [i for i, row in enumerate(rows) if row is None]:  # values this family has not met yet
            row = cache.get(values[i])
            if row is None:
                cells = (*self._cells_of(v, f, new[i]), *[-1] * width)[:width]
                row = cache[values[i]] = cells[0] if width == 1 else cells
            rows[i] = row
        if width == 1:
            table[first:end, 0] = rows
        else:
            table[first:end] = rows

    def _cells_of(self, v: int, f: int, profile: tuple[object, ...]) -> list[int]:
        """Family ``f``'s cell indexes for ``profile``, by ``family.cells_of`` on the values it reads."""
        vocabulary = self.vocabularies[v]
        event = SimpleNamespace(**{self.fields[i]: _typed(self.fields[i], profile[i]) for i in self._inputs[v][f]})
        # cells_of reads only the profile's fields, so a namespace of them stands in for the Event.
        return [vocabulary.cell_index(f, c) for c in vocabulary.families[f].cells_of(event)]  # type: ignore[arg-type]

    def table(self, v: int, f: int) -> np.ndarray:
        """Family ``f`` of vocabulary ``v``: profile number -> cell indexes touched, padded with -1."""
        return self._tables[v][f]


def _inputs(family: ReportFamily) -> tuple[str, ...]:
    """The event fields ``family.cells_of`` reads: its dimensions that are event fields, and the action."""
    return tuple(sorted({d for d in family.dimensions if d in FIELDS} | {"action"}))


def _typed(name: str, value: object) -> object:
    """A profile's value as the event holds it: taxonomy fields as their enum members."""
    enum = ENUM_FIELDS.get(name)
    return enum(str(value)) if enum is not None and value is not None else value
