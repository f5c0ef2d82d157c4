"""The README's SDK example runs as written against a real broker and its event arrives signed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from ingest.contract.records import decode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import public_key_to_text
from ingest.contract.topics import EVENTS_TOPIC
from ingest.devtools.broker import EmbeddedBroker
from ingest.sdk.admin import ensure_topics

pytestmark = pytest.mark.integration
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_sdk_example(broker: EmbeddedBroker, provider) -> None:  # type: ignore[no-untyped-def]
    ensure_topics(broker.bootstrap_servers)
    code = re.search(r"```python\n(.+?)\n```", README, flags=re.S).group(1)  # type: ignore[union-attr]
    code = code.replace("127.0.0.1:9092", broker.bootstrap_servers)
    exec(code, {"PSEUDONYM_SECRET": provider.pseudonym_key, "SIGNING_KEY": provider.signing_key})
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap_servers, auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    consumer.assign([TopicPartition(EVENTS_TOPIC, p) for p in consumer.partitions_for_topic(EVENTS_TOPIC)])
    records = list(consumer)
    consumer.close()
    registry = ProviderRegistry.from_mapping({"acme-ai": public_key_to_text(provider.signing_key.public_key())})
    assert len(records) == 1
    decoded = decode_record(records[0].value, records[0].headers, registry)
    assert decoded.events[0].category.value == "cyber.malware" and b"user-8812" not in records[0].value
