"""Topic names, the default partition count, and the partitioning rule: an actor's events share a partition.

The rule that must hold: a record's partition is the first 32 bits of its actor pseudonym
(big-endian) modulo the topic's partition count, so every event of one actor lands on one partition
and per-partition bounding is the global bounding.
"""

from __future__ import annotations

EVENTS_TOPIC = "flockview.events.v1"
DLQ_TOPIC = "flockview.events.dlq"
DEFAULT_PARTITIONS = 4


def partition_of(partition_hash: int, partitions: int) -> int:
    """The partition of an actor: the first 32 bits of its pseudonym (big-endian) modulo the partition count.

    The pseudonym is an HMAC output, so this spreads actors evenly, and one actor's events always
    land on the same partition (for a fixed partition count).
    """
    return partition_hash % partitions


def actor_partition_hash(actor: str) -> int:
    """The partition hash of a pseudonym in its hex form (as found in a record)."""
    return int(actor[:8], 16)
