"""Queued events and cutting them into signed records: one partition per record, bounded by count and bytes.

An event's partition is the first 32 bits of its actor pseudonym modulo the partition count
(:func:`ingest.contract.topics.partition_of`), so an actor's events stay on one partition. ``emit()`` puts each
event straight into its partition's lane of the :class:`EventQueue`, so the sender never touches
events one by one in Python: it takes a lane's texts in one C-level pass, and each record is
serialised once (:func:`ingest.sdk.encoder.batch_value`, one join and one encode) and signed once.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import call
from typing import Protocol

from ingest.contract.events import canonical_json
from ingest.contract.topics import actor_partition_hash
from ingest.sdk.encoder import Item, batch_value
from ingest.sdk.spool import SpooledRecord
from ingest.sdk.transport import SignedRecord

__all__ = ["EventQueue", "Item", "Signer", "build_records", "partition_records", "resplit"]

_ACTOR_KEY = '"actor":"'


class EventQueue:
    """Events waiting for the sender: one lane (a deque of canonical JSON texts) per partition.

    Callers append to the lane of an event's partition, ``lanes[hash % len(lanes)]``; ``deque.append``
    is atomic, so any number of threads may emit at once. Only the sender thread takes events off
    (:meth:`take`). A new partition count gives new lanes; the old ones are kept in :attr:`retired`
    and drained on every take for as long as the queue lives, since a caller may still be holding one
    it looked up just before the change (their events are regrouped by the actor hash read back from
    the text). That happens only when the topic was recreated with another partition count.

    Attributes:
        lanes: one deque per partition; the list is replaced, never changed in place.
        appended: events put in, counted by :meth:`ingest.Client._put` after each append. Several
            callers may count at once: the read and the write of the count have no thread switch
            point between them in CPython's interpreter (no call, no backward jump), so with the GIL
            no count is lost (the client tests check it with four threads); an interpreter without
            a GIL would need a lock or an atomic counter here.
        taken: events taken off; written by the sender thread only, before it pops them, so
            ``appended - taken`` never overstates what is queued.
    """

    def __init__(self, partitions: int) -> None:
        self.lanes: list[deque[str]] = [deque() for _ in range(partitions)]
        self.retired: list[deque[str]] = []
        self.appended = 0
        self.taken = 0

    def __len__(self) -> int:
        return max(0, self.appended - self.taken)

    def resize(self, partitions: int) -> None:
        """Lanes for ``partitions`` partitions from now on (sender thread only)."""
        if partitions != len(self.lanes):
            old, self.lanes = self.lanes, [deque() for _ in range(partitions)]
            self.retired.extend(old)

    def has_full(self, batch_events: int) -> bool:
        """Whether some lane holds a full record's worth of events."""
        return any(len(lane) >= batch_events for lane in self.lanes)

    def take(self, batch_events: int, everything: bool, limit: int | None) -> list[tuple[int, list[str]]]:
        """Take events off, per partition: all of them, or only whole records' worth (sender thread only).

        With ``everything`` False a lane gives a multiple of ``batch_events`` and keeps the rest to
        gather into a full record. At most about ``limit`` events in all (None: no limit).
        """
        lanes = self.lanes
        share = max(limit // len(lanes), batch_events) if limit is not None else sys.maxsize
        taken = []
        for partition, lane in enumerate(lanes):
            n = min(len(lane), share)
            if not everything:
                n -= n % batch_events
            if n:
                taken.append((partition, self._pop(lane, n)))
        if self.retired:
            taken.extend(self._regroup(len(lanes)))
        return taken

    def _pop(self, lane: deque[str], n: int) -> list[str]:
        self.taken += n  # first, so that a concurrent emit() never sees the queue fuller than it is
        return list(map(call, repeat(lane.popleft, n)))  # n pops in one C-level loop

    def _regroup(self, partitions: int) -> list[tuple[int, list[str]]]:
        groups: list[list[str]] = [[] for _ in range(partitions)]
        for lane in self.retired:
            for text in self._pop(lane, len(lane)):
                start = text.index(_ACTOR_KEY) + len(_ACTOR_KEY)
                groups[actor_partition_hash(text[start : start + 8]) % partitions].append(text)
        return [(partition, texts) for partition, texts in enumerate(groups) if texts]


class Signer(Protocol):
    """What signs a record value (an ``Ed25519PrivateKey``)."""

    def sign(self, data: bytes) -> bytes: ...


def build_records(
    items: Sequence[Item], partitions: int, provider: str, key: Signer, max_events: int, max_bytes: int
) -> list[SignedRecord]:
    """Group ``(partition hash, text)`` items by partition and cut them into signed records."""
    groups: list[list[str]] = [[] for _ in range(partitions)]
    for partition_hash, text in items:
        groups[partition_hash % partitions].append(text)
    return partition_records(enumerate(groups), partitions, provider, key, max_events, max_bytes)


def partition_records(
    groups: Iterable[tuple[int, list[str]]],
    partitions: int,
    provider: str,
    key: Signer,
    max_events: int,
    max_bytes: int,
) -> list[SignedRecord]:
    """Cut each partition's texts into signed records of at most ``max_events`` events and ``max_bytes`` bytes."""
    # a value's bytes besides its events and the commas between them
    frame = len(batch_value(provider, partitions, ())) - 1
    records = []
    for part, texts in groups:
        for start in range(0, len(texts), max_events):
            chunk = texts[start : start + max_events]
            value = batch_value(provider, partitions, chunk)
            if len(value) - frame <= max_bytes:  # the usual case: events and commas fit, the value is built once
                records.append(SignedRecord(part, partitions, provider, value, key.sign(value), len(chunk)))
            else:
                records.extend(_sign(part, partitions, provider, key, c) for c in _cut_by_bytes(chunk, max_bytes))
    return records


def _cut_by_bytes(texts: list[str], max_bytes: int) -> list[list[str]]:
    chunks: list[list[str]] = []
    chunk: list[str] = []
    size = 0
    for text in texts:
        if chunk and size + len(text) + 1 > max_bytes:
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    if chunk:
        chunks.append(chunk)
    return chunks


def _sign(partition: int, partitions: int, provider: str, key: Signer, texts: list[str]) -> SignedRecord:
    value = batch_value(provider, partitions, texts)
    return SignedRecord(partition, partitions, provider, value, key.sign(value), len(texts))


def resplit(
    record: SpooledRecord, partitions: int, provider: str, key: Signer, max_events: int, max_bytes: int
) -> list[SignedRecord]:
    """Re-batch a spooled record for a new partition count, so every actor stays on its partition.

    Only this client's own records are re-signed; any other record keeps its signature and partition
    (the worker checks its events against the partition count it was signed for: one that no longer
    fits goes to the DLQ as ``wrong_partition``, from where it can be replayed).
    """
    if record.provider != provider:
        return [
            SignedRecord(
                record.partition % partitions,
                partitions,
                record.provider,
                record.value,
                record.signature,
                len(json.loads(record.value)["events"]),
            )
        ]
    events = json.loads(record.value)["events"]
    items = [(actor_partition_hash(e["actor"]), canonical_json(e).decode("utf-8")) for e in events]
    return build_records(items, partitions, provider, key, max_events, max_bytes)
