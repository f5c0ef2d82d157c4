"""SDK throughput against the embedded broker, side by side with the naive one-record-per-event producer.

    python bench/sdk_throughput.py            # 1M events through the SDK, 100k through the baseline
    python bench/sdk_throughput.py --quick    # a smoke run: 50k and 10k

Both runs use the same broker, the same synthetic events and the same process. The SDK run times
from the first ``emit()`` until ``flush()`` returns (every event acknowledged by the broker): that is
the events/s figure. The caller-side latency percentiles come from a systematic sample, every
``--sample-every``-th ``emit()`` call (8 by default: 125,000 of 1M calls) timed with two
``perf_counter_ns`` readings; timing every call would add those readings to every event of the
throughput figure. The loop calls ``emit()`` with explicit keyword arguments, as an integration does
(the provider guide's example); ``--unpack`` calls ``emit(user_id=..., **fields)`` instead, which makes
the caller's loop merge a dict of ten keys per call (about 0.4 µs on this kind of machine) on top of
what the SDK costs. It prints how much was still queued or in flight when the caller's loop ended. The baseline is what the walking
skeleton's client did: validate each event with pydantic, sign it, and send it as its own record
with kafka-python. It also prints the CPU time the SDK's process and the broker spent per event
(the machine's cores are shared by both) and the load average before and after, since another busy
process on the machine skews every figure. The last line of output is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from ingest.contract.events import parse_event
from ingest.contract.pseudonym import pseudonymise
from ingest.contract.records import encode_record
from ingest.contract.signing import new_signing_key
from ingest.contract.taxonomy import Category, DetectionStage, Technique
from ingest.contract.topics import EVENTS_TOPIC
from ingest.devtools.broker import EmbeddedBroker
from ingest.sdk.admin import ensure_topics
from ingest.sdk.client import Client

FIELD_VARIANTS = 512


def synthetic_fields(seed: int = 1) -> list[dict[str, Any]]:
    """A pool of varied, valid events (drawn once, so the runs measure sending, not generation)."""
    rng = random.Random(seed)
    return [
        {
            "category": rng.choice(list(Category)).value,
            "detection_stage": rng.choice(list(DetectionStage)).value,
            "action": rng.choice(("allow", "audit", "warn", "block", "rate_limit")),
            "surface": rng.choice(("consumer_app", "api", "enterprise")),
            "model_family": rng.choice(("acme-large", "acme-mini")),
            "score": round(rng.random(), 3),
            "technique": rng.choice([None, *(t.value for t in Technique)]),
            "jurisdiction": rng.choice(("US", "DE", "IN", "BR", "FR", "JP")),
            "language": rng.choice(("en", "de", "hi", "pt")),
        }
        for _ in range(FIELD_VARIANTS)
    ]


def percentile(sorted_values: list[int], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] / 1000.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def emit_with_keywords(
    client: Client,
    n: int,
    users: list[str],
    pool: list[dict[str, Any]],
    sample_every: int,
    sample: Callable[[int], None],
) -> None:
    """The caller's loop: explicit keyword arguments, as an integration writes them (the guide's example)."""
    rows = [
        (
            f["category"],
            f["detection_stage"],
            f["action"],
            f["surface"],
            f["model_family"],
            f["score"],
            f["technique"],
            f["jurisdiction"],
            f["language"],
        )
        for f in pool
    ]
    emit, clock, n_users = client.emit, time.perf_counter_ns, len(users)
    for i in range(n):
        category, stage, action, surface, family, score, technique, jurisdiction, language = rows[
            i & (FIELD_VARIANTS - 1)
        ]
        t0 = 0 if i % sample_every else clock()
        emit(
            user_id=users[i % n_users],
            category=category,
            detection_stage=stage,
            action=action,
            surface=surface,
            model_family=family,
            score=score,
            technique=technique,
            jurisdiction=jurisdiction,
            language=language,
        )
        if t0:
            sample(clock() - t0)


def emit_unpacking(
    client: Client,
    n: int,
    users: list[str],
    pool: list[dict[str, Any]],
    sample_every: int,
    sample: Callable[[int], None],
) -> None:
    """The caller's loop with ``emit(user_id=..., **fields)``: each call also merges a dict of ten keys."""
    emit, clock, n_users = client.emit, time.perf_counter_ns, len(users)
    for i in range(n):
        fields = pool[i & (FIELD_VARIANTS - 1)]
        t0 = 0 if i % sample_every else clock()
        emit(user_id=users[i % n_users], **fields)
        if t0:
            sample(clock() - t0)


def run_sdk(
    bootstrap: str,
    n: int,
    users: list[str],
    pool: list[dict[str, Any]],
    spool: Path,
    broker_pid: int,
    sample_every: int = 8,
    unpack: bool = False,
) -> dict[str, Any]:
    key, secret = new_signing_key(), os.urandom(32)
    client = Client("bench-ai", secret, key, bootstrap, spool_dir=spool, on_full="block", block_timeout_s=30.0)
    durations: list[int] = []
    loop = emit_unpacking if unpack else emit_with_keywords
    cpu, broker_cpu = time.process_time(), cpu_seconds(broker_pid)
    start = time.perf_counter()
    loop(client, n, users, pool, sample_every, durations.append)
    emitted_s = time.perf_counter() - start
    backlog = client.stats()
    delivered = client.flush(300)
    elapsed = time.perf_counter() - start
    cpu, broker_cpu = time.process_time() - cpu, cpu_seconds(broker_pid) - broker_cpu
    stats = client.stats()
    client.close()
    durations.sort()
    return {
        "events": n,
        "seconds": elapsed,
        "emit_seconds": emitted_s,
        "all_delivered": delivered,
        "delivered_events": stats.delivered_events,
        "records": stats.delivered_records,
        "dropped": stats.dropped_queue_full + stats.dropped_spool_full,
        "events_per_s": stats.delivered_events / elapsed,
        "emit_p50_us": percentile(durations, 0.50),
        "emit_p99_us": percentile(durations, 0.99),
        "emit_p999_us": percentile(durations, 0.999),
        "emit_samples": len(durations),
        "queued_at_loop_end": backlog.queued,
        "in_flight_at_loop_end": backlog.in_flight_records,
        "cpu_us_per_event": cpu / n * 1e6,
        "broker_cpu_us_per_event": broker_cpu / n * 1e6,
    }


def run_baseline(bootstrap: str, n: int, users: list[str], pool: list[dict[str, Any]]) -> dict[str, Any]:
    """The naive producer: one pydantic-validated, signed record per event, sent with kafka-python."""
    key, secret = new_signing_key(), os.urandom(32)
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, acks=1, client_id="bench-naive")
    n_users = len(users)
    start = time.perf_counter()
    for i in range(n):
        fields = {k: v for k, v in pool[i & (FIELD_VARIANTS - 1)].items() if v is not None}
        actor = pseudonymise(secret, users[i % n_users])
        event = parse_event({**fields, "provider": "bench-naive", "actor": actor, "occurred_at": time.time()})
        value, headers = encode_record("bench-naive", [event], key)
        producer.send(EVENTS_TOPIC, key=actor.encode(), value=value, headers=headers)
    producer.flush(300)
    elapsed = time.perf_counter() - start
    producer.close()
    return {"events": n, "seconds": elapsed, "events_per_s": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="events through the SDK")
    parser.add_argument("--baseline-events", type=int, default=100_000, help="events through the naive producer")
    parser.add_argument("--users", type=int, default=50_000, help="distinct synthetic user ids")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50k SDK events, 10k baseline events")
    parser.add_argument("--sample-every", type=int, default=8, help="time every N-th emit() call for the percentiles")
    parser.add_argument(
        "--unpack",
        action="store_true",
        help="call emit(user_id=..., **fields) instead of explicit keywords (adds a dict merge per call)",
    )
    args = parser.parse_args()
    if args.quick:
        args.events, args.baseline_events = 50_000, 10_000
    users = [f"user-{i}@example.org" for i in range(args.users)]
    pool = synthetic_fields()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_path=Path(tmp) / "broker.log") as broker:
        ensure_topics(broker.bootstrap_servers)
        print(
            f"embedded broker at {broker.bootstrap_servers}; load average {os.getloadavg()[0]:.1f} "
            f"on {os.cpu_count()} CPUs"
        )
        baseline = run_baseline(broker.bootstrap_servers, args.baseline_events, users, pool)
        broker_pid = broker.proc.pid if broker.proc else 0
        sdk = run_sdk(
            broker.bootstrap_servers,
            args.events,
            users,
            pool,
            Path(tmp) / "spool",
            broker_pid,
            args.sample_every,
            args.unpack,
        )
        load = os.getloadavg()[0]
    ratio = sdk["events_per_s"] / baseline["events_per_s"]
    print(f"{'':28}{'SDK':>14}{'naive baseline':>18}")
    print(f"{'events':28}{sdk['events']:>14,}{baseline['events']:>18,}")
    print(f"{'seconds (until acked)':28}{sdk['seconds']:>14.2f}{baseline['seconds']:>18.2f}")
    print(f"{'events/s':28}{sdk['events_per_s']:>14,.0f}{baseline['events_per_s']:>18,.0f}")
    print(f"{'records':28}{sdk['records']:>14,}{baseline['events']:>18,}")
    print(f"{'events per record':28}{sdk['delivered_events'] / max(sdk['records'], 1):>14,.0f}{1:>18}")
    print(
        f"SDK: ratio {ratio:.1f}x; emit() p50 {sdk['emit_p50_us']:.1f} µs, p99 {sdk['emit_p99_us']:.1f} µs, "
        f"p99.9 {sdk['emit_p999_us']:.1f} µs (every {args.sample_every}th call timed: {sdk['emit_samples']:,} "
        f"samples); caller loop {sdk['emit_seconds']:.2f} s; dropped {sdk['dropped']}; "
        f"all delivered: {sdk['all_delivered']}"
    )
    print(
        f"when the caller loop ended: {sdk['queued_at_loop_end']:,} events queued, "
        f"{sdk['in_flight_at_loop_end']} records in flight"
    )
    print(
        f"CPU per event: SDK process {sdk['cpu_us_per_event']:.2f} µs (all threads), broker "
        f"{sdk['broker_cpu_us_per_event']:.2f} µs; load average at the end {load:.1f}"
    )
    print(
        json.dumps(
            {
                "events_per_s": round(sdk["events_per_s"]),
                "baseline_events_per_s": round(baseline["events_per_s"]),
                "ratio": round(ratio, 2),
                "emit_p50_us": round(sdk["emit_p50_us"], 2),
                "emit_p99_us": round(sdk["emit_p99_us"], 2),
                "emit_timed_every": args.sample_every,
                "call": "unpack" if args.unpack else "keywords",
                "events": sdk["events"],
                "baseline_events": baseline["events"],
                "delivered_events": sdk["delivered_events"],
                "dropped": sdk["dropped"],
                "records": sdk["records"],
                "cpu_us_per_event": round(sdk["cpu_us_per_event"], 2),
                "broker_cpu_us_per_event": round(sdk["broker_cpu_us_per_event"], 2),
                "load_average": round(load, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
