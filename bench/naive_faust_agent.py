"""The naive baseline of ``worker_throughput.py``: the worker's job done by a Faust agent one event at a time.

Usage: ``python bench/naive_faust_agent.py BOOTSTRAP REGISTRY DATADIR PROGRESS_JSON``. It verifies
each record as the worker does (signature, contract v1 per event with pydantic), then per event,
in changelogged Faust tables: looks the event id up and records it (duplicates), and for every
report family and cell the event touches applies the same bounding rule to the actor's slots for
the window and adds the actor's gain to the cell's count. The same work as the worker, with the
tables updated once per event and family, as a first Faust pipeline would be written. Every second
it writes ``{"events": n, "seconds": since its first event}`` to PROGRESS_JSON.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

import faust

from analytics.families import ReportFamily, load_families
from analytics.windows import window_of
from ingest.contract.records import decode_record
from ingest.contract.registry import ProviderRegistry
from ingest.contract.topics import EVENTS_TOPIC
from ingest.errors import FlockviewError


def main(bootstrap: str, registry_path: str, datadir: str, progress_path: str) -> None:
    registry = ProviderRegistry.from_toml(Path(registry_path))
    families = load_families()
    app = faust.App(
        "bench-naive",
        broker=f"kafka://{bootstrap}",
        web_enabled=False,
        datadir=datadir,
        store="memory://",
        broker_session_timeout=10.0,
        broker_rebalance_timeout=10.0,
        broker_heartbeat_interval=1.0,
        consumer_auto_offset_reset="earliest",
        topic_replication_factor=1,
        key_serializer="raw",
        value_serializer="raw",
    )
    topic = app.topic(EVENTS_TOPIC, key_type=bytes, value_type=bytes)
    seen = app.Table("naive-seen", default=bool, partitions=4)
    slots = app.Table("naive-slots", default=dict, partitions=4)
    counts = app.Table("naive-counts", default=int, partitions=4)
    week = timedelta(days=7)
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
                state["events"] += 1
                event_id = str(ev.event_id).encode()
                if seen[event_id]:
                    continue
                seen[event_id] = True
                window = window_of(ev.occurred_at, week).label()
                for family in families:
                    for cell in family.cells_of(ev):
                        count_event(
                            family,
                            f"{family.name}|{window}|{ev.actor}".encode(),
                            cell,
                            f"{family.name}|{window}|{'|'.join(cell)}".encode(),
                        )

    def count_event(family: ReportFamily, slot_key: bytes, cell: tuple[str, ...], count_key: bytes) -> None:
        """The bounding rule on the actor's slots (a dict cell -> events), one table read and write each."""
        held = slots[slot_key]
        name = "|".join(cell)
        used = held.get(name)
        if used is None:
            if len(held) >= family.bound_k:
                return
            used = 0
        elif used >= family.saturation:
            return
        held[name] = used + 1
        slots[slot_key] = held
        gain = family.contribution(used + 1) - family.contribution(used)
        if gain:
            counts[count_key] += gain

    @app.timer(interval=1.0)
    async def report() -> None:
        if state["first"]:
            progress.write_text(
                json.dumps({"events": state["events"], "seconds": time.perf_counter() - state["first"]})
            )

    worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    sys.argv = sys.argv[:1]
    worker.execute_from_commandline()


if __name__ == "__main__":
    main(*sys.argv[1:5])
