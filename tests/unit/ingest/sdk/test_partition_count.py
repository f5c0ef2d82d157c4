"""The SDK signs the partition count it placed a record by, and reads the count again every minute and
after a failure (issue 15, item 3)."""

from __future__ import annotations

import json

import pytest

from ingest.contract.signing import new_signing_key
from ingest.contract.topics import actor_partition_hash, partition_of
from ingest.sdk import transport
from ingest.sdk.encoder import EventEncoder
from ingest.sdk.queue import build_records
from ingest.sdk.transport import PARTITIONS_REFRESH_S, KafkaTransport

GIVEN = {
    "category": "cbrn.bio",
    "detection_stage": "input_filter",
    "action": "block",
    "surface": "api",
    "model_family": "acme-large",
    "score": 0.5,
    "jurisdiction": "DE",
    "language": "de",
}


@pytest.mark.parametrize("partitions", [1, 3, 8])
def test_each_record_is_signed_with_the_count_its_partition_was_chosen_by(partitions: int) -> None:
    encoder = EventEncoder("acme-ai", b"k" * 32)
    items = [encoder.encode(f"user-{i}", **GIVEN) for i in range(60)]
    for record in build_records(items, partitions, "acme-ai", new_signing_key(), 10, 1 << 20):
        body = json.loads(record.value)
        assert body["partitions"] == record.partitions == partitions
        assert {partition_of(actor_partition_hash(e["actor"]), partitions) for e in body["events"]} == {
            record.partition
        }


class FakeProducer:
    def __init__(self) -> None:
        self.partitions = {0, 1, 2, 3}
        self.asked = 0

    def partitions_for(self, topic: str) -> set[int]:
        self.asked += 1
        return set(self.partitions)

    def close(self, timeout: float = 0) -> None:
        pass


def test_the_partition_count_is_read_again_every_refresh_interval_and_after_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(transport.time, "monotonic", lambda: clock[0])
    sender = KafkaTransport(
        "127.0.0.1:1",
        "flockview.events.v1",
        compression="none",
        max_block_s=1,
        delivery_timeout_s=10,
        api_version=None,
        client_id="t",
    )
    producer = FakeProducer()
    monkeypatch.setattr(sender, "_ensure_producer", lambda: producer)
    assert sender.connect() == 4
    producer.partitions = set(range(8))  # partitions were added (at a week boundary)
    clock[0] += PARTITIONS_REFRESH_S / 2
    assert sender.connect() == 4 and producer.asked == 1  # within the interval: the count read before
    clock[0] += PARTITIONS_REFRESH_S / 2
    assert sender.connect() == 8 and producer.asked == 2
    sender.reset()  # after a failure the next connect reads it again at once
    assert sender.connect() == 8 and producer.asked == 3
    assert sender._options["metadata_max_age_ms"] == PARTITIONS_REFRESH_S * 1000
