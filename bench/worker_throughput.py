"""Worker throughput: the Flockview worker vs a naive per-event Faust agent vs raw aiokafka consumption.

Preloads signed multi-event records (skewed simulated traffic from ``ingest.devtools.simulate``, one
provider's events of one partition per record, lz4-compressed like the SDK's) into the embedded
broker, then, on that same topic:

1. raw aiokafka consumption of every record (no parsing: the consumer's limit), and again with each
   record's signature checked and its JSON parsed (msgspec, no schema): the least work the event
   contract asks of any consumer, which bounds what fraction of raw consumption a worker can reach.
   From the same data, the CPU ceiling: the CPU time per event that fetching (consumer and broker),
   the signature check and the typed decode each take, measured one at a time; spread perfectly over
   every core with nothing else to do, that is the most events/s any worker under the contract
   could reach (:func:`cpu_ceiling`);
2. one real worker (``flockview worker`` in a subprocess) counting everything: events/s from its
   committed offsets, RSS growth per active actor-window from /proc (see :func:`run_worker`);
3. a naive Faust agent doing the same work (verification, duplicate removal, bounding and counts
   for every family) with its tables updated once per event and family
   (``bench/naive_faust_agent.py``), run for ``--naive-seconds`` (it is far too slow to finish).

Records hold ``--events-per-record`` events (default 100): the SDK fills a record per partition for
up to ``linger_ms`` (50 ms) or 1,000 events, so at the 50k+ events/s measured here, spread over 5
providers and 4 partitions, its records hold about 100-250 events.

Prints the figures and ends with one JSON line. ``--events 100000`` makes a quick run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import numpy as np
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from kafka import KafkaProducer

from analytics.stream.app import ensure_summaries_topic
from analytics.worker.decode import WireRecord, signed_provider
from ingest.contract.events import canonical_json
from ingest.contract.pseudonym import pseudonymise
from ingest.contract.records import PROVIDER_HEADER, RECORD_FORMAT, SIGNATURE_HEADER
from ingest.contract.registry import ProviderRegistry
from ingest.contract.signing import sign
from ingest.contract.topics import EVENTS_TOPIC, actor_partition_hash, partition_of
from ingest.devtools.broker import EmbeddedBroker, terminate
from ingest.devtools.simulate import Simulator, demo_providers, provider_credentials, registry_toml
from ingest.sdk.admin import ensure_topics

NAIVE_APP = Path(__file__).with_name("naive_faust_agent.py")
TEMPLATES = 250_000
KEPT_RECORDS = 2_000  # records timed one by one for the CPU ceiling
_TYPED_RECORD = msgspec.json.Decoder(WireRecord)


def preload(
    bootstrap: str, n_events: int, per_record: int, partitions: int, users: int, seed: int
) -> dict[str, object]:
    """Produce ``n_events`` in signed records; returns records, events, distinct actors and, per partition,
    the distinct actors in its records up to each offset (``actors_by_offset``)."""
    providers = tuple(replace(p, users=users) for p in demo_providers())
    creds = provider_credentials([p.name for p in providers], seed)
    sim = Simulator(providers, creds, None, rate=1000.0, seed=seed)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    actors: dict[tuple[str, str], str] = {}
    buffers: dict[tuple[str, int], list[dict[str, object]]] = {}
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, batch_size=1 << 20, max_request_size=8 << 20, compression_type="lz4"
    )
    records = 0
    seen_in: list[set[str]] = [set() for _ in range(partitions)]
    actors_by_offset: list[list[int]] = [[] for _ in range(partitions)]

    def flush(key: tuple[str, int]) -> None:
        nonlocal records
        provider, partition = key
        events = buffers.pop(key)
        seen_in[partition].update(e["actor"] for e in events)
        actors_by_offset[partition].append(len(seen_in[partition]))
        value = canonical_json(
            {"format": RECORD_FORMAT, "provider": provider, "partitions": partitions, "events": events}
        )
        headers = [(PROVIDER_HEADER, provider.encode()), (SIGNATURE_HEADER, sign(creds[provider].signing_key, value))]
        producer.send(EVENTS_TOPIC, value=value, headers=headers, partition=partition)
        records += 1

    # The simulator is slow (pure Python per event): take up to TEMPLATES of its events and cycle
    # through them with fresh ids and times, which keeps its skew across actors and fields.
    templates = []
    for sim_event in sim.generate(min(n_events, TEMPLATES)):
        user = (sim_event.provider, sim_event.user_id)
        actor = actors.get(user)
        if actor is None:
            actor = actors[user] = pseudonymise(creds[sim_event.provider].pseudonym_key, sim_event.user_id)
        fields = {k: v for k, v in sim_event.fields.items() if v is not None}
        templates.append(dict(fields, provider=sim_event.provider, actor=actor, schema_version=1))
    # Each pass over the templates stands for other users (a derived pseudonym per pass), so events per
    # actor keep the simulator's distribution instead of growing with the number of passes.
    cycle_actor: dict[tuple[str, int], str] = {}
    for i in range(n_events):
        template, cycle = templates[i % len(templates)], i // len(templates)
        actor = cycle_actor.get((template["actor"], cycle))
        if actor is None:
            actor = cycle_actor[(template["actor"], cycle)] = (
                template["actor"] if cycle == 0 else hashlib.sha256(f"{template['actor']}/{cycle}".encode()).hexdigest()
            )
        occurred = now - timedelta(seconds=rng.random() * 600)
        wire = dict(
            template,
            actor=actor,
            event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            occurred_at=occurred.isoformat(),
        )
        key = (template["provider"], partition_of(actor_partition_hash(actor), partitions))  # the contract's rule
        buffers.setdefault(key, []).append(wire)
        if len(buffers[key]) >= per_record:
            flush(key)
    for key in list(buffers):
        flush(key)
    producer.flush()
    producer.close()
    return {"records": records, "events": n_events, "actors": len(cycle_actor), "actors_by_offset": actors_by_offset}


async def raw_consume(
    bootstrap: str,
    partitions: int,
    records: int,
    broker_pid: int,
    check: Callable[[bytes, list[tuple[str, bytes]]], object] | None = None,
    keep: list[tuple[bytes, list[tuple[str, bytes]]]] | None = None,
) -> dict[str, float]:
    """Fetch every record once with aiokafka (values untouched, or passed to ``check``); returns the
    seconds it took and the CPU seconds this process and the broker spent. The first records'
    values and headers are appended to ``keep`` until it holds ``KEPT_RECORDS``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=8 << 20,
    )
    await consumer.start()
    tps = [TopicPartition(EVENTS_TOPIC, p) for p in range(partitions)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    seen, started = 0, time.perf_counter()
    cpu, broker_cpu = time.process_time(), _cpu_seconds(broker_pid)
    try:
        while seen < records:
            for messages in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                seen += len(messages)
                if keep is not None and len(keep) < KEPT_RECORDS:
                    keep.extend((m.value, m.headers) for m in messages[: KEPT_RECORDS - len(keep)])
                if check is not None:
                    for message in messages:
                        check(message.value, message.headers)
    finally:
        await consumer.stop()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
        "broker_cpu_seconds": _cpu_seconds(broker_pid) - broker_cpu,
    }


def verify_and_parse(registry: ProviderRegistry) -> Callable[[bytes, list[tuple[str, bytes]]], object]:
    """The least any consumer must do per record under the contract: check its signature, parse its JSON."""

    def check(value: bytes, headers: list[tuple[str, bytes]]) -> object:
        _verified(value, headers, registry)
        return msgspec.json.decode(value)

    return check


def _verified(value: bytes, headers: list[tuple[str, bytes]], registry: ProviderRegistry) -> None:
    """The worker's signature check (:func:`analytics.worker.decode.signed_provider`); every preloaded record passes."""
    if signed_provider(headers, registry, value) is None:
        raise SystemExit("error: a preloaded record failed its signature check")


def cpu_ceiling(
    raw: dict[str, float], events: int, kept: list[tuple[bytes, list[tuple[str, bytes]]]], registry: ProviderRegistry
) -> dict[str, float]:
    """CPU microseconds per event that no worker under the contract can avoid, and the events/s they allow.

    Fetching (this process and the broker, from the raw run), one signature check per record and one
    decode into the contract's typed structs (the worker's msgspec decoder), each timed on its own
    over the ``kept`` records. With every core busy and nothing else done (no duplicate removal,
    bounding, counting or state), a worker cannot pass ``cores / total``.
    """
    kept_events = 0
    started = time.process_time()
    for value, headers in kept:
        _verified(value, headers, registry)
    verify_cpu = time.process_time() - started
    started = time.process_time()
    for value, _ in kept:
        kept_events += len(_TYPED_RECORD.decode(value).events)
    decode_cpu = time.process_time() - started
    per_event = {
        "fetch_us": raw["cpu_seconds"] / events * 1e6,
        "broker_us": raw["broker_cpu_seconds"] / events * 1e6,
        "verify_us": verify_cpu / kept_events * 1e6,
        "decode_us": decode_cpu / kept_events * 1e6,
    }
    total = sum(per_event.values())
    cores = os.cpu_count() or 1
    return {**per_event, "total_us": total, "cores": cores, "events_per_s": cores / total * 1e6}


def _partition_offsets(state_dir: Path) -> dict[int, int]:
    """Per partition, the last offset the worker applied (-1 before the first), from its state files."""
    import sqlite3

    offsets = {}
    for path in state_dir.glob("*.sqlite"):
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT value FROM meta WHERE key = 'offset'").fetchone()
        except sqlite3.OperationalError:
            row = None
        finally:
            con.close()
        offsets[int(path.stem.rsplit("-", 1)[1])] = int(row[0]) if row else -1
    return offsets


def _stored_offsets(state_dir: Path) -> int:
    return sum(offset + 1 for offset in _partition_offsets(state_dir).values())


def _active_actors(state_dir: Path, actors_by_offset: list[list[int]]) -> int:
    """Distinct actors in the records the worker has applied (each actor lives in one partition)."""
    return sum(actors_by_offset[p][o] for p, o in _partition_offsets(state_dir).items() if o >= 0)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _with_children(pid: int, read: Callable[[int], float]) -> float:
    """``read(pid)`` plus ``read`` of each running child (the worker's decode process)."""
    total = read(pid)
    for child in _children(pid):
        with contextlib.suppress(OSError):  # it exited meanwhile
            total += read(child)
    return total


def _cpu_with_children(pid: int) -> float:
    return _with_children(pid, _cpu_seconds)


def _rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its running children (pages they share count twice)."""
    return int(_with_children(pid, _own_rss))


def _own_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found.update(int(c) for c in (task / "children").read_text().split())
    return found


def run_worker(
    bootstrap: str, workdir: Path, registry: Path, records: int, actors_by_offset: list[list[int]], timeout: float
) -> dict[str, float]:
    """Run one real worker until it has committed every record; returns seconds, records and RSS figures.

    Memory: from the moment a third of the records are applied, RSS and the active actors are read
    at every poll (every 50 ms); the slope of a least-squares line through those points is the
    steady-state cost of one more active actor-window (one lane: the shipped families all use the
    week window). A line rather than two end points, because the state's arrays grow in steps and
    two readings land on either side of a step by chance. The whole-run figure (growth since the
    group join over all actors) also carries the fixed costs of buffers and caches that fill in
    the first batches.
    """
    env = dict(
        os.environ,
        FLOCKVIEW_WORKER_BOOTSTRAP_SERVERS=bootstrap,
        FLOCKVIEW_WORKER_REGISTRY=str(registry),
        FLOCKVIEW_WORKER_STORE=str(workdir / "store.duckdb"),
        FLOCKVIEW_WORKER_DATADIR=str(workdir / "worker"),
        FLOCKVIEW_WORKER_APP_ID="bench-worker",
        FLOCKVIEW_WORKER_HEALTH_SECONDS="600",
    )
    log = (workdir / "worker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "analytics.cli", "worker"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    state = workdir / "worker" / "state"
    try:
        deadline = time.monotonic() + timeout
        while not list(state.glob("*.sqlite")) and time.monotonic() < deadline:  # group join
            time.sleep(0.05)
        rss_before = _rss(proc.pid)
        first, started = _poll_progress(state, 0, deadline)
        cpu_start = _cpu_with_children(proc.pid)
        done, ended = first, started
        samples: list[tuple[int, int]] = []  # (active actors, RSS) from a third of the way on
        while done < records and time.monotonic() < deadline:
            time.sleep(0.05)
            done, ended = _stored_offsets(state), time.perf_counter()
            if done >= records / 3:
                samples.append((_active_actors(state, actors_by_offset), _rss(proc.pid)))
        rss_after, cpu = _rss(proc.pid), _cpu_with_children(proc.pid) - cpu_start
    finally:
        terminate(proc, grace=30)
    if done < records:
        raise SystemExit(f"error: the worker committed {done} of {records} records in {timeout:.0f} s; see {workdir}")
    return {
        "seconds": ended - started,
        "records": done - first,
        "rss_before": rss_before,
        "rss_after": rss_after,
        "cpu_seconds": cpu,
        "rss_per_added_actor": _slope(samples),
        "samples": len(samples),
    }


def _slope(points: list[tuple[int, int]]) -> float:
    """Bytes of RSS per added active actor: the least-squares slope through (actors, RSS) points."""
    if len({x for x, _ in points}) < 2:
        raise SystemExit("error: too few memory readings for a slope; preload more events (--events)")
    x, y = np.array(points, np.float64).T
    return float(np.polyfit(x, y, 1)[0])


def _poll_progress(state: Path, above: int, deadline: float) -> tuple[int, float]:
    while time.monotonic() < deadline:
        done = _stored_offsets(state)
        if done > above:
            return done, time.perf_counter()
        time.sleep(0.01)
    raise SystemExit("error: the worker made no progress")


def run_naive(bootstrap: str, workdir: Path, registry: Path, seconds: float) -> dict[str, float]:
    """Run the naive per-event Faust agent for ``seconds`` after its first event; returns its progress."""
    progress = workdir / "naive-progress.json"
    proc = subprocess.Popen(
        [sys.executable, str(NAIVE_APP), bootstrap, str(registry), str(workdir / "naive"), str(progress)],
        stdout=(workdir / "naive.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60 + seconds
        while not progress.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(seconds)
        figures = json.loads(progress.read_text())
    finally:
        terminate(proc, grace=30)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events to preload (default 2M)")
    parser.add_argument("--events-per-record", type=int, default=100, help="events per signed record (default 100)")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--users", type=int, default=150_000, help="simulated users per provider (Zipf skew)")
    parser.add_argument("--naive-seconds", type=float, default=20.0, help="how long the naive agent runs")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="flockview-bench-"))
    with EmbeddedBroker(log_path=workdir / "broker.log") as broker:
        bootstrap = broker.bootstrap_servers
        ensure_topics(bootstrap, args.partitions)
        ensure_summaries_topic(bootstrap)
        registry = workdir / "providers.toml"
        registry.write_text(registry_toml(provider_credentials([p.name for p in demo_providers()], args.seed)))
        t0 = time.perf_counter()
        loaded = preload(bootstrap, args.events, args.events_per_record, args.partitions, args.users, args.seed)
        print(
            f"preloaded {loaded['events']:,} events in {loaded['records']:,} records from {loaded['actors']:,} "
            f"actors in {time.perf_counter() - t0:.1f} s (broker {bootstrap}, {args.partitions} partitions)"
        )
        per_record = loaded["events"] / loaded["records"]
        assert broker.proc is not None  # started by the with statement
        broker_pid = broker.proc.pid
        kept: list[tuple[bytes, list[tuple[str, bytes]]]] = []
        raw = asyncio.run(raw_consume(bootstrap, args.partitions, loaded["records"], broker_pid, keep=kept))
        raw_s = raw["seconds"]
        raw_eps = loaded["events"] / raw_s
        print(f"raw aiokafka:  {loaded['records'] / raw_s:>12,.0f} records/s = {raw_eps:>12,.0f} events/s")
        registry_keys = ProviderRegistry.from_toml(registry)
        floor_s = asyncio.run(
            raw_consume(bootstrap, args.partitions, loaded["records"], broker_pid, verify_and_parse(registry_keys))
        )["seconds"]
        floor_eps = loaded["events"] / floor_s
        print(
            f"  + signature check and JSON parse per record: {loaded['records'] / floor_s:>8,.0f} records/s = "
            f"{floor_eps:>10,.0f} events/s ({floor_eps / raw_eps:.0%} of raw: the least the contract asks, "
            "before any schema check or counting)"
        )
        ceiling = cpu_ceiling(raw, loaded["events"], kept, registry_keys)
        print(
            f"  CPU per event no worker avoids: fetch {ceiling['fetch_us']:.2f} + broker {ceiling['broker_us']:.2f} + "
            f"signature {ceiling['verify_us']:.2f} + typed decode {ceiling['decode_us']:.2f} = "
            f"{ceiling['total_us']:.2f} µs; on {ceiling['cores']} cores at most {ceiling['events_per_s']:,.0f} events/s "
            f"({ceiling['events_per_s'] / raw_eps:.0%} of raw) with no counting at all"
        )
        worker = run_worker(bootstrap, workdir, registry, loaded["records"], loaded["actors_by_offset"], timeout=1800)
        eps = worker["records"] * per_record / worker["seconds"]
        whole_run = (worker["rss_after"] - worker["rss_before"]) / loaded["actors"]
        rss_per_actor = worker["rss_per_added_actor"]
        print(
            f"worker:        {worker['records'] / worker['seconds']:>12,.0f} records/s = {eps:>12,.0f} events/s "
            f"(RSS {worker['rss_before'] / 2**20:.0f} -> {worker['rss_after'] / 2**20:.0f} MiB: "
            f"{rss_per_actor:.0f} bytes per added active actor-window in steady state (slope of "
            f"{worker['samples']} readings), "
            f"{whole_run:.0f} over the whole run with buffers and caches)"
        )
        cpu_eps = worker["records"] * per_record / worker["cpu_seconds"]
        print(
            f"               {cpu_eps:>12,.0f} events per CPU-second of the worker process and its decode process "
            f"(wall-clock figures suffer when other processes share the cores; load {os.getloadavg()[0]:.1f})"
        )
        naive = run_naive(bootstrap, workdir, registry, args.naive_seconds)
        naive_eps = naive["events"] / max(naive["seconds"], 1e-9)
        print(
            f"naive Faust:   {naive_eps:>12,.0f} events/s ({naive['events']:,} events in {naive['seconds']:.1f} s, "
            "tables updated once per event and family)"
        )
    if not os.environ.get("FLOCKVIEW_BENCH_KEEP"):
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"kept {workdir}")
    print(
        json.dumps(
            {
                "events_per_s": round(eps),
                "naive_events_per_s": round(naive_eps),
                "raw_consume_per_s": round(raw_eps),
                "ratio_vs_naive": round(eps / naive_eps, 1),
                "fraction_of_raw": round(eps / raw_eps, 3),
                "verify_parse_per_s": round(floor_eps),
                "fraction_of_verify_parse": round(eps / floor_eps, 3),
                "cpu_ceiling_events_per_s": round(ceiling["events_per_s"]),
                "cpu_ceiling_fraction_of_raw": round(ceiling["events_per_s"] / raw_eps, 3),
                "rss_bytes_per_active_actor": round(rss_per_actor),
                "rss_bytes_per_actor_whole_run": round(whole_run),
                "worker_events_per_cpu_s": round(cpu_eps),
            }
        )
    )


if __name__ == "__main__":
    main()
