"""Cutting queued events into signed records: one partition per record, bounded by count and bytes.

An event's partition is the first 32 bits of its actor pseudonym modulo the partition count
(:func:`ingest.wire.partition_of`), so an actor's events stay on one partition. Each record is
serialised once (:func:`ingest.wire.batch_value`) and signed once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ingest.events import canonical_json
from ingest.spool import SpooledRecord
from ingest.transport import SignedRecord
from ingest.wire import Item, actor_partition_hash, batch_value

__all__ = ["Item", "build_records", "resplit"]


def build_records(items: Sequence[Item], partitions: int, provider: str, key: Ed25519PrivateKey,
                  max_events: int, max_bytes: int) -> list[SignedRecord]:
    """Group events by partition and cut them into signed records of at most ``max_events``/``max_bytes``."""
    groups: list[list[str]] = [[] for _ in range(partitions)]
    for partition_hash, text in items:
        groups[partition_hash % partitions].append(text)
    records = []
    for part, texts in enumerate(groups):
        for start in range(0, len(texts), max_events):
            chunk = texts[start:start + max_events]
            if sum(map(len, chunk)) + len(chunk) <= max_bytes:  # the usual case, checked at C speed
                records.append(_sign(part, partitions, provider, key, chunk))
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


def _sign(partition: int, partitions: int, provider: str, key: Ed25519PrivateKey, texts: list[str]) -> SignedRecord:
    value = batch_value(provider, texts)
    return SignedRecord(partition, partitions, provider, value, key.sign(value), len(texts))


def resplit(record: SpooledRecord, partitions: int, provider: str, key: Ed25519PrivateKey,
            max_events: int, max_bytes: int) -> list[SignedRecord]:
    """Re-batch a spooled record for a new partition count, so every actor stays on its partition.

    Only this client's own records are re-signed; any other record keeps its signature and partition.
    """
    if record.provider != provider:
        return [SignedRecord(record.partition % partitions, partitions, record.provider, record.value,
                             record.signature, len(json.loads(record.value)["events"]))]
    events = json.loads(record.value)["events"]
    items = [(actor_partition_hash(e["actor"]), canonical_json(e).decode("utf-8")) for e in events]
    return build_records(items, partitions, provider, key, max_events, max_bytes)
