"""The naive baseline of ``worker_throughput.py``: a Faust agent that updates its table once per event.

Usage: ``python bench/naive_faust_agent.py BOOTSTRAP REGISTRY DATADIR PROGRESS_JSON``. It verifies
each record as the worker does (signature, contract v1 per event), then for every event increments
a changelogged Faust table entry (per family cell), one event at a time. Every second it writes
``{"events": n, "seconds": since its first event}`` to PROGRESS_JSON.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import faust

from analytics.families import load_families
from ingest.errors import FlockviewError
from ingest.records import decode_record
from ingest.registry import ProviderRegistry
from ingest.topics import EVENTS_TOPIC


def main(bootstrap: str, registry_path: str, datadir: str, progress_path: str) -> None:
    registry = ProviderRegistry.from_toml(Path(registry_path))
    families = load_families()
    app = faust.App("bench-naive", broker=f"kafka://{bootstrap}", web_enabled=False, datadir=datadir,
                    store="memory://", broker_session_timeout=10.0, broker_rebalance_timeout=10.0,
                    broker_heartbeat_interval=1.0, consumer_auto_offset_reset="earliest",
                    topic_replication_factor=1, key_serializer="raw", value_serializer="raw")
    topic = app.topic(EVENTS_TOPIC, key_type=bytes, value_type=bytes)
    counts = app.Table("naive-counts", default=int, partitions=4)
    progress = Path(progress_path)
    state = {"events": 0, "first": 0.0}

    @app.agent(topic)
    async def count(stream: faust.StreamT) -> None:
        async for event in stream.events():
            try:
                decoded = decode_record(event.message.value, list(event.message.headers or ()), registry)
            except FlockviewError:
                continue
            for ev in decoded.events:
                if not state["first"]:
                    state["first"] = time.perf_counter()
                family = families[0]
                for cell in family.cells_of(ev):
                    counts[f"{family.name}|{'|'.join(cell)}"] += 1  # one changelogged update per event
                state["events"] += 1

    @app.timer(interval=1.0)
    async def report() -> None:
        if state["first"]:
            progress.write_text(json.dumps({"events": state["events"],
                                            "seconds": time.perf_counter() - state["first"]}))

    worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    sys.argv = sys.argv[:1]
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(*sys.argv[1:5])
