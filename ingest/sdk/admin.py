"""Topic administration: create the events and dead-letter topics when they do not exist yet."""

from __future__ import annotations

import logging

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from ingest.contract.topics import DEFAULT_PARTITIONS, DLQ_TOPIC, EVENTS_TOPIC
from ingest.errors import BrokerError

log = logging.getLogger(__name__)


def ensure_topics(bootstrap_servers: str, partitions: int = DEFAULT_PARTITIONS) -> None:
    """Create the events and dead-letter topics if they do not exist yet."""
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="flockview-admin")
    except KafkaError as exc:
        raise BrokerError(f"cannot reach the broker at {bootstrap_servers}: {exc}") from None
    try:
        existing = set(admin.list_topics())
        wanted = [NewTopic(t, partitions, 1) for t in (EVENTS_TOPIC, DLQ_TOPIC) if t not in existing]
        if wanted:
            try:
                admin.create_topics(wanted)
                log.info("created topics %s", ", ".join(t.name for t in wanted))
            except TopicAlreadyExistsError:
                pass
    finally:
        admin.close()
