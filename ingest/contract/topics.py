"""Topic names, the default partition count, and the partitioning rule: an actor's events share a partition.

The rule that must hold: a record's partition is the first 32 bits of its actor pseudonym
(big-endian) modulo the topic's partition count, so every event of one actor lands on one partition
and per-partition bounding is the global bounding. The partition count a record was built for is
part of its signed value (:mod:`ingest.contract.records`), and the worker checks the rule for every
event (a record delivered elsewhere goes to the DLQ as ``wrong_partition``). Partition counts change
only at week boundaries: a window whose events were signed for two partition counts is not released.
"""

from __future__ import annotations

EVENTS_TOPIC = "flockview.events.v1"
DLQ_TOPIC = "flockview.events.dlq"
DEFAULT_PARTITIONS = 4
MAX_PARTITIONS = 1 << 16  # a record's signed partition count is refused above this (a Kafka topic never has so many)


def partition_of(partition_hash: int, partitions: int) -> int:
    """The partition of an actor: the first 32 bits of its pseudonym (big-endian) modulo the partition count.

    The pseudonym is an HMAC output, so this spreads actors evenly, and one actor's events always
    land on the same partition (for a fixed partition count).
    """
    return partition_hash % partitions


def actor_partition_hash(actor: str) -> int:
    """The partition hash of a pseudonym in its hex form (as found in a record)."""
    return int(actor[:8], 16)


def partition_mismatch(actor: str, partitions: int, partition: int) -> str | None:
    """Why ``actor`` does not belong on ``partition`` of a topic with ``partitions`` partitions; None if it does."""
    hashed = actor_partition_hash(actor)
    expected = partition_of(hashed, partitions)
    if expected == partition:
        return None
    return (
        f"actor hash {hashed:#010x} belongs on partition {expected} of {partitions}, "
        f"but the record was delivered on partition {partition}"
    )
